"""lab/registries: each Registry's names, how the cluster reaches it, its login (no secret in argv or output),
and the ECR API calls of its repository step, against botocore's Stubber (strict: an unexpected call, a call
with other parameters, or an expected call left unmade fails the test)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from aws_stubs import REGISTRY, Clients, auth_token, describe_repo, no_repo, repo, repo_tags
from fakes import FakeRunner

from lab import registries
from lab.core.aws_config import AwsSettings
from lab.core.config import REGISTRY_KINDS, TARGETS, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict, RegistryError
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.registries import EcrEmulatorRegistry, EcrRegistry, LocalRegistry, RegistryLink, Seams
from lab.tools import ecr, registry

DIGEST = "sha256:" + "ab" * 32


def settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


def make_ctx(tmp_path: Path, runner: FakeRunner | DryRunRunner | None = None, **overrides: Any) -> Context:
    return Context(
        Settings(state_dir=tmp_path / "state", **overrides),
        runner or FakeRunner(),
        UI(err=io.StringIO(), out=io.StringIO()),
    )


def printed(ctx: Context) -> str:
    return ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined,no-any-return]


def stub_client(clients: Clients) -> Any:
    return lambda _settings: clients("ecr")


# The factory ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", REGISTRY_KINDS)
def test_every_valid_push_registry_and_target_has_a_registry_of_that_kind(kind: str, target: str) -> None:
    chosen = registries.for_settings(settings(push_registry=kind, target=target))
    assert chosen.kind == kind


def test_the_factory_picks_the_emulator_locally_and_ecr_on_aws() -> None:
    assert type(registries.for_settings(settings())) is LocalRegistry
    assert type(registries.for_settings(settings(push_registry="ecr"))) is EcrEmulatorRegistry
    assert type(registries.for_settings(settings(push_registry="ecr", target="aws"))) is EcrRegistry


def test_up_on_aws_ships_its_first_image_to_ecr_whatever_push_registry_says() -> None:
    assert registries.up_settings(settings(target="aws")).push_registry == "ecr"
    local = settings(push_registry="ecr")
    assert registries.up_settings(local) is local  # the local target keeps the user's choice
    assert registries.up_settings(settings()).push_registry == "local"


def test_the_cluster_is_wired_to_the_labs_registry_and_emulator() -> None:
    assert registries.cluster_links(settings()) == [
        RegistryLink("localhost:5001", "lab-registry", 5000),
        RegistryLink("localhost:4566", "lab-ecr", 4566),
    ]
    # A registry or an endpoint the user names is the user's to make reachable.
    assert registries.cluster_links(settings(registry="reg.example.com", aws_endpoint_url="http://127.0.0.1:9")) == []
    assert registries.cluster_links(settings(registry_port=5555, emulator_port=4570)) == [
        RegistryLink("localhost:5555", "lab-registry", 5000),
        RegistryLink("localhost:4570", "lab-ecr", 4566),
    ]


# The local registry ---------------------------------------------------------------------------------
def test_local_registry_names() -> None:
    repos = LocalRegistry(settings()).repositories()
    assert (repos.push, repos.pull, repos.host, repos.name) == (
        "localhost:5001/lab-app",
        "localhost:5001/lab-app",
        "localhost:5001",
        "lab-app",
    )
    assert LocalRegistry(settings(registry="reg.example.com:8443", image_name="x")).repositories().pull == (
        "reg.example.com:8443/x"
    )
    with pytest.raises(ConfigError, match="EKS nodes cannot pull") as info:
        LocalRegistry(settings(target="aws")).check()
    assert "--registry ecr" in (info.value.hint or "")
    # An external registry on the aws target is the user's choice (EKS may reach it).
    assert LocalRegistry(settings(target="aws", registry="reg.example.com")).repositories().push == (
        "reg.example.com/lab-app"
    )


def test_local_registry_needs_no_login_and_no_repository_step(tmp_path: Path) -> None:
    reg = LocalRegistry(settings())
    runner = FakeRunner()
    assert reg.login_title is None
    assert reg.login(make_ctx(tmp_path, runner)) is reg
    assert reg.ensure_repository(make_ctx(tmp_path, runner)) is None
    assert runner.calls == []


def test_local_registry_pings_only_a_loopback_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    pinged: list[str] = []
    monkeypatch.setattr(registry, "ping", pinged.append)
    LocalRegistry(settings()).check_reachable()
    LocalRegistry(settings(registry="reg.example.com")).check_reachable()
    assert pinged == ["localhost:5001"]


def test_local_registry_asks_v2_whether_a_tag_is_taken_and_what_it_serves() -> None:
    asked: list[tuple[str, str, str]] = []

    def lookup(host: str, name: str, ref: str) -> str | None:
        asked.append((host, name, ref))
        return DIGEST if ref == "t1" else None

    reg = LocalRegistry(settings(), Seams(lookup=lookup))
    assert reg.tag_taken("t1") and not reg.tag_taken("t2")
    reg.verify_push("t1", DIGEST)
    with pytest.raises(RegistryError, match=r"serves nothing for lab-app:t2, docker push said sha256:ab"):
        reg.verify_push("t2", DIGEST)
    assert asked == [("localhost:5001", "lab-app", t) for t in ("t1", "t2", "t1", "t2")]
    # A registry elsewhere is not asked anonymously: docker push's digest stands.
    external = LocalRegistry(settings(registry="reg.example.com"), Seams(lookup=lookup))
    assert not external.tag_taken("t1")
    external.verify_push("t2", DIGEST)
    assert len(asked) == 4


# The ECR emulator -----------------------------------------------------------------------------------
def test_emulator_names_and_link() -> None:
    reg = EcrEmulatorRegistry(settings(push_registry="ecr", emulator_port=4570))
    assert reg.repositories().push == reg.repositories().pull == "localhost:4570/lab-app"
    assert reg.link() == RegistryLink("localhost:4570", "lab-ecr", 4566)
    assert EcrEmulatorRegistry(settings(aws_endpoint_url="http://127.0.0.1:4599")).link() is None


def test_emulator_repository_step_creates_it_with_scan_immutable_tags_and_policy(tmp_path: Path) -> None:
    clients = Clients()
    clients["ecr"].add_response(
        "create_repository",
        {"repository": repo()},
        {
            "repositoryName": "lab-app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        },
    )
    clients["ecr"].add_response(
        "put_lifecycle_policy",
        {"repositoryName": "lab-app"},
        {"repositoryName": "lab-app", "lifecyclePolicyText": json.dumps(ecr.lifecycle_policy(30))},
    )
    reg = EcrEmulatorRegistry(settings(push_registry="ecr"), Seams(ecr_client=stub_client(clients)))
    assert reg.ensure_repository(make_ctx(tmp_path)) == "created"
    clients.assert_done()
    # A dry run asks nothing.
    assert reg.ensure_repository(make_ctx(tmp_path, DryRunRunner(out=io.StringIO()))) is None
    assert [c[1] for c in clients.calls] == ["create_repository", "put_lifecycle_policy"]


def test_an_emulator_that_does_not_answer_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(host: str) -> None:
        raise RegistryError(f"registry {host} is not reachable (ConnectionError)")

    monkeypatch.setattr(registry, "ping", down)
    with pytest.raises(RegistryError, match="the ECR emulator does not answer at localhost:4566") as info:
        EcrEmulatorRegistry(settings(push_registry="ecr")).check_reachable()
    assert "`invoke up` starts it (container lab-ecr)" in (info.value.hint or "")
    assert "`invoke ship --registry local`" in (info.value.hint or "")
    with pytest.raises(RegistryError) as given:
        EcrEmulatorRegistry(settings(push_registry="ecr", aws_endpoint_url="http://127.0.0.1:4599")).check_reachable()
    assert "start the emulator at http://127.0.0.1:4599" in (given.value.hint or "")


# Amazon ECR -----------------------------------------------------------------------------------------
def aws_settings(**overrides: Any) -> Settings:
    return settings(target="aws", push_registry="ecr", **overrides)


def test_ecr_names_come_from_the_login_unless_lab_registry_names_them(tmp_path: Path) -> None:
    reg = EcrRegistry(aws_settings())
    reg.check()  # nothing to check before the login
    with pytest.raises(ConfigError, match="needs the ECR registry host"):
        reg.repositories()
    explicit = EcrRegistry(aws_settings(registry="999999999999.dkr.ecr.eu-west-1.amazonaws.com"))
    assert explicit.repositories().pull == "999999999999.dkr.ecr.eu-west-1.amazonaws.com/lab-app"
    assert reg.link() is None  # EKS nodes pull from ECR themselves


def test_ecr_login_gives_the_token_to_docker_on_stdin_only(tmp_path: Path) -> None:
    clients, runner = Clients(), FakeRunner()
    runner.script(["docker", "login", "--username", "AWS", "--password-stdin"], "Login Succeeded\n")
    auth_token(clients, "s3cr3t-ecr-token")
    ctx = make_ctx(tmp_path, runner, target="aws", push_registry="ecr")
    reg = EcrRegistry(ctx.settings, Seams(ecr_client=stub_client(clients)))
    assert reg.login_title == "Log in to ECR"
    logged_in = reg.login(ctx)
    assert logged_in.repositories().push == f"{REGISTRY}/lab-app"
    (call,) = runner.calls
    assert call.argv == ("docker", "login", "--username", "AWS", "--password-stdin", REGISTRY)
    assert call.input == "s3cr3t-ecr-token"
    assert "s3cr3t" not in " ".join(call.argv) + printed(ctx)
    assert not (call.env or {})  # nothing secret in the environment either: stdin only
    clients.assert_done()


def test_ecr_login_in_a_dry_run_asks_no_aws_and_shows_stdin_redacted(tmp_path: Path) -> None:
    out = io.StringIO()
    ctx = make_ctx(tmp_path, DryRunRunner(out=out), target="aws", push_registry="ecr")

    def no_client(_settings: Settings) -> Any:
        raise AssertionError("a dry run asked for an ECR client")

    logged_in = EcrRegistry(ctx.settings, Seams(ecr_client=no_client)).login(ctx)
    assert logged_in.repositories().host == "<account>.dkr.ecr.us-east-1.amazonaws.com"
    assert "docker login --username AWS --password-stdin" in out.getvalue() and "<redacted>" in out.getvalue()


def test_ecr_repository_step_of_ship_on_an_existing_repository(tmp_path: Path) -> None:
    clients = Clients()
    clients["ecr"].add_client_error(
        "create_repository",
        service_error_code="RepositoryAlreadyExistsException",
        http_status_code=400,
        expected_params={
            "repositoryName": "lab-app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        },
    )
    describe_repo(clients)
    clients["ecr"].add_response(
        "put_lifecycle_policy",
        {"repositoryName": "lab-app"},
        {"repositoryName": "lab-app", "lifecyclePolicyText": json.dumps(ecr.lifecycle_policy(30))},
    )
    reg = EcrRegistry(aws_settings(registry=REGISTRY), Seams(ecr_client=stub_client(clients)))
    assert reg.ensure_repository(make_ctx(tmp_path)) == "exists"
    clients.assert_done()


def test_ecr_digests_come_from_its_api_in_the_registrys_region() -> None:
    clients = Clients()
    clients["ecr"].add_response(
        "describe_images",
        {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["t1"]}]},
        {"repositoryName": "lab-app", "imageIds": [{"imageTag": "t1"}]},
    )
    made: list[str] = []

    def factory(s: Settings) -> Any:
        made.append(s.aws_region)
        return clients("ecr")

    reg = EcrRegistry(aws_settings(registry="123456789012.dkr.ecr.eu-west-1.amazonaws.com"), Seams(ecr_client=factory))
    assert reg.digest("lab-app", "t1") == DIGEST
    assert made == ["eu-west-1"]
    assert not reg.can_verify and not reg.tag_taken("t1")  # IMMUTABLE tags; /v2/ needs a token
    reg.verify_push("t1", "sha256:other")  # nothing asked: docker push's digest stands
    clients.assert_done()


def test_provision_on_a_fresh_account_creates_a_tagged_repository(tmp_path: Path) -> None:
    clients = Clients()
    no_repo(clients)
    clients["ecr"].add_response(
        "create_repository",
        {"repository": repo()},
        {
            "repositoryName": "lab-app",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "tags": [
                {"Key": "gitops-lab.managed", "Value": "true"},
                {"Key": "gitops-lab.cluster", "Value": "gitops-lab"},
                {"Key": "gitops-lab.component", "Value": "ecr"},
            ],
        },
    )
    clients["ecr"].add_response(
        "put_lifecycle_policy",
        {"repositoryName": "lab-app"},
        {"repositoryName": "lab-app", "lifecyclePolicyText": json.dumps(ecr.lifecycle_policy(7))},
    )
    ctx = make_ctx(tmp_path, target="aws")
    action, uri = EcrRegistry(ctx.settings).provision(ctx, clients("ecr"), AwsSettings(ecr_keep_last=7))
    assert (action, uri) == ("created", f"{REGISTRY}/lab-app")
    clients.assert_done()


def test_provision_refuses_a_repository_that_is_not_the_labs(tmp_path: Path) -> None:
    clients = Clients()
    describe_repo(clients)
    repo_tags(clients, {"team": "payments"})
    ctx = make_ctx(tmp_path, target="aws")
    with pytest.raises(Conflict, match="was not created by the lab"):
        EcrRegistry(ctx.settings).provision(ctx, clients("ecr"), AwsSettings())
    clients.assert_done()  # and nothing was changed: no further call


# Lookups by host (promote, rollback) -----------------------------------------------------------------
def test_location_maps_the_pull_name_to_the_push_side_else_reads_the_reference() -> None:
    assert registries.location(settings(), "localhost:5001/lab-app") == ("localhost:5001", "lab-app")
    assert registries.location(settings(), "ghcr.io/team/app") == ("ghcr.io", "team/app")
    assert registries.location(settings(target="aws"), "localhost:5001/lab-app") == ("localhost:5001", "lab-app")


def test_pull_repository_falls_back_to_the_image_name_when_no_registry_can_work() -> None:
    assert registries.pull_repository(settings(push_registry="ecr")) == "localhost:4566/lab-app"
    assert registries.pull_repository(settings(target="aws")) == "lab-app"


def test_after_up_provisioned_it_the_repository_step_asks_nothing_and_survives_the_login(tmp_path: Path) -> None:
    clients, runner = Clients(), FakeRunner()
    runner.script(["docker", "login", "--username", "AWS", "--password-stdin"], "Login Succeeded\n")
    auth_token(clients)
    ctx = make_ctx(tmp_path, runner, target="aws", push_registry="ecr")
    provisioned = EcrRegistry(ctx.settings, Seams(ecr_client=stub_client(clients))).after_provision(REGISTRY)
    assert provisioned.repositories().push == f"{REGISTRY}/lab-app"
    logged_in = provisioned.login(ctx)
    assert logged_in.ensure_repository(ctx) == "provisioned by up"
    assert [m for _, m, _ in clients.calls] == ["get_authorization_token"]  # and no repository call
    clients.assert_done()
