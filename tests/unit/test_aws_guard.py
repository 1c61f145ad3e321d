"""Guard rails of the aws target, and the test-wide guard (tests/aws_guard.py) that keeps every test on the
loopback.

- real AWS only with the explicit opt-in; emulators on 127.0.0.1 need none;
- credentials and region first (sts get-caller-identity), the account named before anything changes;
- `down` deletes only lab-tagged resources, after an explicit confirmation;
- the pytest plugin fails a test that sends a request to a non-loopback endpoint, even through code that catches
  Exception.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from aws_stubs import ACCOUNT, Clients, describe_cluster, describe_repo, identity, repo_tags
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from conftest import free_port
from fakes import FakeRunner

from lab.core.aws_config import AwsSettings, load_aws_settings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Refused
from lab.core.ui import UI
from lab.steps import aws as aws_steps
from lab.tools import ecr

REMOTE = "https://git.example.com/team/gitops.git"


def make_ctx(tmp_path: Path, runner: FakeRunner | None = None, **overrides: Any) -> Context:
    values: dict[str, Any] = {"state_dir": tmp_path / "state", "target": "aws", "gitops_remote": REMOTE}
    values.update(overrides)
    return Context(Settings(**values), runner or FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def err(ctx: Context) -> str:
    return ctx.ui.err.getvalue()  # type: ignore[attr-defined,no-any-return]


# The pytest plugin -------------------------------------------------------------------------------------
def real_sts() -> Any:
    """An STS client for the real regional endpoint, with dummy keys and no retries."""
    return boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id="AKIAGUARDTEST",
        aws_secret_access_key="guard",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )


def test_plugin_fails_a_request_to_real_aws(aws_endpoint_guard: list[str]) -> None:  # noqa: F811
    with pytest.raises(
        pytest.fail.Exception, match=r"non-loopback AWS endpoint: https://sts\.us-east-1\.amazonaws\.com"
    ):
        real_sts().get_caller_identity()
    assert aws_endpoint_guard == ["https://sts.us-east-1.amazonaws.com/"]
    aws_endpoint_guard.clear()  # handled here; otherwise the fixture fails this test at teardown


def test_plugin_cannot_be_swallowed_by_except_exception(aws_endpoint_guard: list[str]) -> None:  # noqa: F811
    """lab.tools.ecr.ensure_repository wraps every Exception; the guard's failure is a BaseException."""
    client = boto3.client(
        "ecr",
        region_name="eu-west-1",
        aws_access_key_id="AKIAGUARDTEST",
        aws_secret_access_key="guard",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(pytest.fail.Exception):
        ecr.ensure_repository(client, "lab-app")
    assert aws_endpoint_guard and aws_endpoint_guard[0].startswith("https://api.ecr.eu-west-1.amazonaws.com")
    aws_endpoint_guard.clear()


def test_plugin_lets_loopback_requests_through(aws_endpoint_guard: list[str]) -> None:  # noqa: F811
    port = free_port()  # nothing listens there: the request reaches the socket layer and is refused
    client = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(EndpointConnectionError):
        client.get_caller_identity()
    assert aws_endpoint_guard == []


# Opt-in and region -------------------------------------------------------------------------------------
def test_real_aws_needs_the_opt_in(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    with pytest.raises(Refused) as info:
        aws_steps.check_opt_in(ctx.settings, AwsSettings(), allow_real_aws=False)
    assert "--i-understand-this-costs-money" in (info.value.hint or "")
    assert "--plan" in (info.value.hint or "")
    aws_steps.check_opt_in(ctx.settings, AwsSettings(), allow_real_aws=True)
    aws_steps.check_opt_in(ctx.settings, load_aws_settings(ctx.settings, environ={"LAB_AWS_ALLOW_REAL": "1"}), False)


def test_emulator_endpoints_need_no_opt_in(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, aws_endpoint_url="http://127.0.0.1:4566")
    aws_steps.check_opt_in(ctx.settings, AwsSettings(), allow_real_aws=False)
    remote = make_ctx(tmp_path, aws_endpoint_url="https://vpce-1.eks.us-east-1.vpce.amazonaws.com")
    with pytest.raises(Refused):  # a custom endpoint that is not the loopback is still real AWS
        aws_steps.check_opt_in(remote.settings, AwsSettings(), allow_real_aws=False)


def test_up_refuses_before_any_call(tmp_path: Path) -> None:
    runner, clients = FakeRunner(), Clients()
    with pytest.raises(Refused):
        aws_steps.up_aws(make_ctx(tmp_path, runner), aws=AwsSettings(), clients=clients, environ={})
    assert clients.asked == [] and runner.calls == [], runner.dump()


def test_down_refuses_before_any_call(tmp_path: Path) -> None:
    runner, clients = FakeRunner(), Clients()
    with pytest.raises(Refused):
        aws_steps.down_aws(make_ctx(tmp_path, runner), aws=AwsSettings(), clients=clients, environ={})
    assert clients.asked == [] and runner.calls == [], runner.dump()


@pytest.mark.parametrize("region", ["x", "useast1", "US-EAST-1", "us-east"])
def test_region_is_checked_first(tmp_path: Path, region: str) -> None:
    clients = Clients()
    aws = AwsSettings(region=region)
    with pytest.raises(ConfigError, match="is not an AWS region name"):
        aws_steps.up_aws(make_ctx(tmp_path), aws=aws, allow_real_aws=True, clients=clients, environ={})
    assert clients.asked == []


def test_no_region_at_all() -> None:
    with pytest.raises(ConfigError, match="no region"):
        AwsSettings(region="")


def test_up_names_the_account_and_stops_unless_confirmed(tmp_path: Path) -> None:
    runner, clients = FakeRunner(), Clients()
    identity(clients)
    prompts: list[str] = []

    def decline(prompt: str) -> bool:
        prompts.append(prompt)
        return False

    ctx = make_ctx(tmp_path, runner)
    with pytest.raises(Refused, match="not confirmed"):
        aws_steps.up_aws(ctx, aws=AwsSettings(), allow_real_aws=True, confirm=decline, clients=clients, environ={})
    assert clients.asked == ["sts"]  # credentials first, and nothing else
    assert f"about to change AWS account {ACCOUNT}" in err(ctx)
    assert prompts and ACCOUNT in prompts[0] and "us-east-1" in prompts[0]
    assert runner.calls == [], runner.dump()
    clients.assert_done()


def test_missing_credentials_are_a_clear_config_error() -> None:
    from botocore.exceptions import NoCredentialsError

    from lab.tools import aws as aws_tool

    error = aws_tool.wrap_error(NoCredentialsError(), "STS: get caller identity")
    assert isinstance(error, ConfigError)
    assert "no AWS credentials" in error.message and "aws configure" in (error.hint or "")


def test_non_interactive_confirmation_is_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # not a TTY: even a "yes" on a pipe does not count
    assert aws_steps.ask("Delete? ") is False


# down: only what is tagged, only after confirmation ----------------------------------------------------
def test_down_leaves_untagged_resources_and_asks_nothing(tmp_path: Path) -> None:
    runner, clients = FakeRunner(), Clients()
    identity(clients)
    describe_cluster(clients, tags={"team": "platform"})
    describe_repo(clients)
    repo_tags(clients, {"gitops-lab.managed": "true", "gitops-lab.cluster": "another-lab"})
    ctx = make_ctx(tmp_path, runner)

    def never(prompt: str) -> bool:
        raise AssertionError("nothing to delete, nothing to confirm")

    removed = aws_steps.down_aws(
        ctx, aws=AwsSettings(), allow_real_aws=True, confirm=never, clients=clients, environ={}
    )
    assert removed == []
    assert "does not carry the lab's tags: leaving it" in err(ctx)
    runner.assert_not_called("eksctl")
    clients.assert_done()


def test_down_deletes_nothing_when_not_confirmed(tmp_path: Path) -> None:
    runner, clients = FakeRunner(), Clients()
    identity(clients)
    describe_cluster(clients)
    describe_repo(clients)
    repo_tags(clients, {"gitops-lab.managed": "true", "gitops-lab.cluster": "gitops-lab"})
    ctx = make_ctx(tmp_path, runner)
    with pytest.raises(Refused):
        aws_steps.down_aws(
            ctx, aws=AwsSettings(), allow_real_aws=True, confirm=lambda p: False, clients=clients, environ={}
        )
    assert runner.calls == [], runner.dump()
    assert f"in AWS account {ACCOUNT}" in err(ctx)
    clients.assert_done()  # no delete_repository was stubbed: any call to it would have failed
