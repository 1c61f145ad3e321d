"""lab/tools/ecr.py and the emulators' ready hook (localstack/init_ecr.py) against botocore's Stubber: the
requests must match the ECR API's shapes (Stubber validates parameters against the service model), and the
hook must send exactly what the lab sends."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lab.core.config import Settings
from lab.core.errors import ConfigError, RegistryError
from lab.tools import ecr

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "localstack" / "init_ecr.py"


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("init_ecr", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client() -> Any:
    return boto3.client(
        "ecr", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test", endpoint_url="http://x"
    )


def repo(name: str = "lab-app", mutability: str = "IMMUTABLE", scan: bool = True) -> dict[str, Any]:
    return {
        "repositoryName": name,
        "repositoryUri": f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{name}",
        "imageTagMutability": mutability,
        "imageScanningConfiguration": {"scanOnPush": scan},
    }


def policy_text(keep: int) -> str:
    return json.dumps(ecr.lifecycle_policy(keep))


def expect_create(stub: Stubber, keep: int = 30) -> None:
    stub.add_response(
        "create_repository",
        {"repository": repo()},
        {
            "repositoryName": "lab-app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        },
    )
    stub.add_response(
        "put_lifecycle_policy", {}, {"repositoryName": "lab-app", "lifecyclePolicyText": policy_text(keep)}
    )


def expect_existing_mutable(stub: Stubber, keep: int = 30) -> None:
    stub.add_client_error("create_repository", "RepositoryAlreadyExistsException", "exists")
    stub.add_response(
        "describe_repositories", {"repositories": [repo(mutability="MUTABLE")]}, {"repositoryNames": ["lab-app"]}
    )
    stub.add_response(
        "put_image_tag_mutability",
        {},
        {"repositoryName": "lab-app", "imageTagMutability": "IMMUTABLE"},
    )
    stub.add_response(
        "put_lifecycle_policy", {}, {"repositoryName": "lab-app", "lifecyclePolicyText": policy_text(keep)}
    )


def test_lifecycle_policy_keeps_last_n_images():
    rule = ecr.lifecycle_policy(7)["rules"][0]
    assert rule["rulePriority"] == 1
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}
    with pytest.raises(ConfigError):
        ecr.lifecycle_policy(0)


@pytest.mark.parametrize("impl", ["lab", "hook"])
def test_ensure_repository_creates_with_scan_immutable_and_policy(impl):
    c = client()
    with Stubber(c) as stub:
        expect_create(stub)
        if impl == "lab":
            assert ecr.ensure_repository(c, "lab-app") == "created"
        else:
            assert load_hook().ensure_repository(c, "lab-app", scan_on_push=True, immutable=True, keep_last=30) == (
                "created"
            )
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("impl", ["lab", "hook"])
def test_existing_repository_is_brought_to_the_wanted_settings(impl):
    c = client()
    with Stubber(c) as stub:
        expect_existing_mutable(stub)
        if impl == "lab":
            assert ecr.ensure_repository(c, "lab-app") == "exists"
        else:
            assert load_hook().ensure_repository(c, "lab-app", scan_on_push=True, immutable=True, keep_last=30) == (
                "exists"
            )
        stub.assert_no_pending_responses()


def test_hook_and_lab_build_the_same_policy():
    hook = load_hook()
    assert hook.lifecycle_policy(12) == ecr.lifecycle_policy(12)
    assert hook.DEFAULT_KEEP_LAST == ecr.DEFAULT_KEEP_LAST


@pytest.mark.parametrize(
    ("code", "message", "error", "needle"),
    [
        ("AccessDeniedException", "not authorized to perform ecr:CreateRepository", RegistryError, "access denied"),
        ("ThrottlingException", "Rate exceeded", RegistryError, "throttled"),
        (
            "InternalFailure",
            "API for service 'ecr' not yet implemented or pro feature - not included in your current license plan",
            ConfigError,
            "license",
        ),
    ],
)
def test_errors_are_wrapped_with_clear_messages(code, message, error, needle):
    c = client()
    with Stubber(c) as stub:
        stub.add_client_error("create_repository", code, message)
        with pytest.raises(error) as err:
            ecr.ensure_repository(c, "lab-app")
    assert needle in err.value.message
    assert err.value.__cause__ is not None  # the botocore error is chained


def test_unreachable_endpoint_is_a_registry_error_with_a_hint():
    from botocore.exceptions import EndpointConnectionError

    c = client()

    def refused(**_kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/")

    c.create_repository = refused
    with pytest.raises(RegistryError) as err:
        ecr.ensure_repository(c, "lab-app")
    assert "does not answer" in err.value.message
    assert "lab-ecr" in (err.value.hint or "")


def test_describe_image_returns_digest_or_none():
    c = client()
    digest = "sha256:" + "a" * 64
    with Stubber(c) as stub:
        stub.add_response(
            "describe_images",
            {"imageDetails": [{"imageDigest": digest, "imageTags": ["abc1234-20260101T000000Z"]}]},
            {"repositoryName": "lab-app", "imageIds": [{"imageTag": "abc1234-20260101T000000Z"}]},
        )
        stub.add_client_error("describe_images", "ImageNotFoundException", "no such image")
        stub.add_response("describe_images", {"imageDetails": []})  # MiniStack answers an empty list
        stub.add_client_error("describe_images", "RepositoryNotFoundException", "no repo")
        assert ecr.describe_image(c, "lab-app", "abc1234-20260101T000000Z") == digest
        assert ecr.describe_image(c, "lab-app", "missing") is None
        assert ecr.describe_image(c, "lab-app", "missing") is None
        with pytest.raises(RegistryError, match="does not exist"):
            ecr.describe_image(c, "nope", "x")


def test_authorization_decodes_user_and_password():
    c = client()
    token = base64.b64encode(b"AWS:s3cr:et").decode()
    with Stubber(c) as stub:
        stub.add_response(
            "get_authorization_token",
            {"authorizationData": [{"authorizationToken": token, "proxyEndpoint": "https://1.dkr.ecr.x"}]},
        )
        stub.add_response("get_authorization_token", {"authorizationData": [{"authorizationToken": "bm9jb2xvbg=="}]})
        assert ecr.authorization(c) == ("AWS", "s3cr:et", "https://1.dkr.ecr.x")
        with pytest.raises(RegistryError, match="user:password"):
            ecr.authorization(c)


def test_client_for_local_target_uses_emulator_and_dummy_credentials():
    c = ecr.ecr_client(Settings(emulator_port=4599, aws_region="eu-west-1"))
    assert c.meta.endpoint_url == "http://127.0.0.1:4599"
    assert c.meta.region_name == "eu-west-1"
    assert c._request_signer._credentials.access_key == "test"


# The hook as LocalStack runs it: exec() with empty globals (__name__ == "builtins"), in LocalStack's process.
class _Session:
    def __init__(self, stubbed: Any) -> None:
        self.stubbed = stubbed
        self.kwargs: dict[str, Any] = {}

    def create_client(self, service: str, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return self.stubbed


def test_hook_under_localstack_exec_creates_the_repository(monkeypatch):
    import botocore.session

    c = client()
    session = _Session(c)
    monkeypatch.setattr(botocore.session, "get_session", lambda: session)
    monkeypatch.setenv("LAB_ECR_REPOSITORIES", "lab-app")
    monkeypatch.setenv("LAB_ECR_KEEP_LAST", "5")
    monkeypatch.setenv("LAB_ECR_REGION", "eu-central-1")
    with Stubber(c) as stub:
        expect_create(stub, keep=5)
        exec(HOOK.read_text(), {})  # exactly what LocalStack's PythonScriptRunner does
        stub.assert_no_pending_responses()
    assert session.kwargs["region_name"] == "eu-central-1"
    assert session.kwargs["endpoint_url"] == "http://localhost:4566"


def test_hook_failure_under_localstack_raises_but_never_exits(monkeypatch):
    import botocore.session

    c = client()
    monkeypatch.setattr(botocore.session, "get_session", lambda: _Session(c))
    with Stubber(c) as stub:
        stub.add_client_error("create_repository", "AccessDeniedException", "denied")
        with pytest.raises(RuntimeError, match="ECR repositories"):
            exec(HOOK.read_text(), {})


def test_importing_the_hook_runs_nothing(monkeypatch):
    import botocore.session

    monkeypatch.setattr(botocore.session, "get_session", lambda: pytest.fail("the hook ran on import"))
    assert load_hook().main  # defined, not called
