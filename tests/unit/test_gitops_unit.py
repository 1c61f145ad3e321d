"""Pure logic of the GitOps side (tags, overlay edits, trailers, push outcomes, references) and the ship / promote /
rollback steps against the FakeRunner: which stage stops the pipeline, and that nothing after it runs."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from fakes import FakeRunner  # tests/fakes.py (rootdir conftest puts tests/ on sys.path)

from lab.core.config import ROOT, Settings, load_settings
from lab.core.context import Context
from lab.core.errors import (
    ClusterUnreachable,
    ConfigError,
    GitOpsError,
    Interrupted,
    QualityGateFailed,
    Refused,
    RegistryError,
)
from lab.core.runner import DryRunRunner, Result, SubprocessRunner
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec, make_tag, read_image, set_image, validate_rendered
from lab.gitops.repo import Change, Committed, GitOpsRepo
from lab.gitops.trailers import DeployRecord
from lab.gitops.watcher import EnvStatus
from lab.steps import release
from lab.steps.ship import DIRTY_PATHS, default_gate, registry_lookup, repositories, reserve_tag, ship
from lab.tools import git, registry

DEV = (ROOT / "overlays" / "dev" / "kustomization.yaml").read_text()
SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
NOW = datetime(2026, 11, 28, 10, 15, 0, tzinfo=UTC)


# Tags ----------------------------------------------------------------------------------------------------
def test_tag_is_short_sha_and_utc_timestamp() -> None:
    assert make_tag(SHA, NOW) == "0123456-20261128101500"
    assert make_tag(SHA, NOW, dirty=True) == "0123456-20261128101500-dirty"
    # Converted to UTC whatever the clock's zone.
    assert make_tag(SHA, NOW.astimezone(timezone(timedelta(hours=-5)))) == "0123456-20261128101500"
    later = make_tag(SHA, NOW + timedelta(seconds=1))
    assert later > make_tag(SHA, NOW)  # sortable by time for one commit
    with pytest.raises(ValueError, match="aware"):
        make_tag(SHA, datetime(2026, 1, 1))


# Overlay edits -------------------------------------------------------------------------------------------
def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.splitlines(), after.splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


def test_set_image_changes_only_the_image_lines_and_keeps_comments() -> None:
    spec = ImageSpec("localhost:5001/lab-app", "0123456-20261128101500", DIGEST)
    out = set_image(DEV, spec)
    removed, added = changed_lines(DEV, out)
    assert removed == ['    newTag: "seed"']
    assert added == ['    newTag: "0123456-20261128101500"', f"    digest: {DIGEST}"]
    assert read_image(out) == spec
    # Unpinning removes the digest again; the tag stays quoted (a numeric-looking tag stays a string).
    unpinned = set_image(out, ImageSpec("localhost:4566/lab-app", "1234567"))
    assert read_image(unpinned) == ImageSpec("localhost:4566/lab-app", "1234567")
    assert 'newTag: "1234567"' in unpinned and "digest" not in unpinned.split("images:")[1]


def test_set_image_adds_a_missing_entry_and_refuses_two() -> None:
    bare = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\n"
    assert read_image(bare) is None
    out = set_image(bare, ImageSpec("localhost:5001/lab-app", "t1"))
    assert read_image(out) == ImageSpec("localhost:5001/lab-app", "t1")
    twice = out + "  - name: lab-app\n    newTag: t2\n"
    with pytest.raises(GitOpsError, match="2 images"):
        set_image(twice, ImageSpec("x/lab-app", "t3"))
    with pytest.raises(GitOpsError, match="not valid YAML"):
        read_image("images: [unclosed")


@pytest.mark.parametrize(
    ("spec", "ref"),
    [
        (ImageSpec("localhost:5001/lab-app", "t1"), "localhost:5001/lab-app:t1"),
        (ImageSpec("localhost:5001/lab-app", "t1", DIGEST), f"localhost:5001/lab-app:t1@{DIGEST}"),
        (ImageSpec("localhost:5001/lab-app", "", DIGEST), f"localhost:5001/lab-app@{DIGEST}"),
    ],
)
def test_image_reference_is_what_kustomize_renders(spec: ImageSpec, ref: str) -> None:
    assert spec.reference == ref


# Validation of a rendered overlay ------------------------------------------------------------------------
def deployment(image: str, extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: lab-app
spec:
  selector:
    matchLabels: {{app: x}}
  template:
    metadata:
      labels: {{app: x}}
    spec:
      containers:
        - name: app
          image: {image}
{extra}"""


def test_validate_rendered_checks_schema_and_image() -> None:
    docs = validate_rendered(deployment("r/lab-app:t1"), "r/lab-app:t1")
    assert docs[0]["kind"] == "Deployment"
    with pytest.raises(GitOpsError, match="would run r/lab-app:t0, expected r/lab-app:t1"):
        validate_rendered(deployment("r/lab-app:t0"), "r/lab-app:t1")
    with pytest.raises(GitOpsError, match="not valid Kubernetes"):
        validate_rendered(deployment("r/lab-app:t1", "  replicaz: 2\n"), "r/lab-app:t1")
    with pytest.raises(GitOpsError, match="renders no Deployment"):
        validate_rendered("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "r/lab-app:t1")


# git output parsers --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rc", "stdout", "stderr", "ok", "race", "reason"),
    [
        (0, "To r\n*\tHEAD:refs/heads/main\t[new branch]\nDone\n", "", True, False, ""),
        (0, "To r\n \tHEAD:refs/heads/main\tabc..def\nDone\n", "", True, False, ""),
        (1, "To r\n!\tHEAD:refs/heads/main\t[rejected] (fetch first)\nDone\n", "hint: ...", False, True, "fetch first"),
        (
            1,
            "To r\n!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n",
            "",
            False,
            True,
            "non-fast-forward",
        ),
        (
            1,
            "To r\n!\tHEAD:refs/heads/main\t[remote rejected] (failed to update ref)\nDone\n",
            "",
            False,
            True,
            "failed to update ref",
        ),
        (
            1,
            "To r\n!\tHEAD:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n",
            "remote: frozen        \nerror: failed to push some refs to 'r'\n",
            False,
            False,
            "pre-receive hook declined",
        ),
        (
            128,
            "",
            "fatal: unable to access 'http://127.0.0.1:3000/gitops.git/': Connection refused\n",
            False,
            False,
            "",
        ),
    ],
)
def test_parse_push_classifies_git_porcelain(
    rc: int, stdout: str, stderr: str, ok: bool, race: bool, reason: str
) -> None:
    outcome = git.parse_push(rc, stdout, stderr)
    assert (outcome.ok, outcome.race) == (ok, race)
    if reason:
        assert outcome.reason == reason
    if "remote: frozen" in stderr:
        assert outcome.message == "pre-receive hook declined; frozen"
    if rc == 128:
        assert "Connection refused" in outcome.message


def test_parse_log_reads_trailers_and_multiple_values() -> None:
    keys = ("Environment", "Rollback-Of", "Deployed-By")
    record = "\x1f".join(
        [
            "f" * 40,
            "2026-11-28T10:15:00+00:00",
            "A <a@x>",
            "rollback(dev): lab-app t1",
            "Environment: dev\n",
            "dev",
            "1" * 40 + "\x1d" + "2" * 40,
            "Doe, J <j@x>",
        ]
    )
    seed = "\x1f".join(["e" * 40, "2026-11-28T10:00:00+00:00", "A <a@x>", "seed: overlays", "", "", "", ""])
    entries = git.parse_log(record + "\x1e\n" + seed + "\x1e\n", keys)
    assert [e.sha for e in entries] == ["f" * 40, "e" * 40]
    assert entries[0].trailers["Rollback-Of"] == ("1" * 40, "2" * 40)
    assert entries[0].trailer("Deployed-By") == "Doe, J <j@x>"  # a comma in a name is not a separator
    assert entries[1].trailer("Environment") == ""
    assert entries[0].body == "Environment: dev\n" and entries[1].body == ""
    with pytest.raises(ValueError, match="fields"):
        git.parse_log("only\x1ftwo\x1e", keys)


def test_deploy_record_tag() -> None:
    rec = DeployRecord("s", "w", "who", "subj", "dev", image=f"localhost:5001/lab-app:t1@{DIGEST}")
    assert rec.tag == "t1"
    assert DeployRecord("s", "w", "who", "subj", "dev", image="localhost:5001/lab-app").tag == ""


def test_parse_ref() -> None:
    ref = registry.parse_ref(f"localhost:5001/team/lab-app:t1@{DIGEST}")
    assert (ref.host, ref.name, ref.tag, ref.digest) == ("localhost:5001", "team/lab-app", "t1", DIGEST)
    assert registry.parse_ref("localhost:5001/lab-app").tag == ""
    with pytest.raises(RegistryError, match="no registry host"):
        registry.parse_ref("lab-app:t1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", ("123456789012", "eu-west-1")),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com:443", ("123456789012", "us-gov-west-1")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ("123456789012", "cn-north-1")),
        ("localhost:4566", None),
        ("ghcr.io", None),
        ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),  # not a 12-digit account
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example", None),
    ],
)
def test_ecr_host_recognises_private_ecr_registries(host: str, expected: tuple[str, str] | None) -> None:
    found = registry.ecr_host(host)
    assert (found.account, found.region) == expected if found else expected is None


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://ada:s3cr3t@github.com/team/app.git", "https://github.com/team/app.git"),
        ("https://ghp_token123@github.com/team/app.git", "https://github.com/team/app.git"),
        ("http://user:p%40ss@127.0.0.1:3000/app.git", "http://127.0.0.1:3000/app.git"),
        ("https://github.com/team/app.git", "https://github.com/team/app.git"),
        ("git@github.com:team/app.git", "git@github.com:team/app.git"),  # scp-like: a login name, no secret
        ("/srv/git/app.git", "/srv/git/app.git"),
        ("", ""),
    ],
)
def test_strip_credentials(url: str, clean: str) -> None:
    assert git.strip_credentials(url) == clean


def test_read_runner_reads_for_real_only_in_a_dry_run() -> None:
    fake = FakeRunner()
    assert git.read_runner(fake) is fake
    assert isinstance(git.read_runner(DryRunRunner(out=io.StringIO())), SubprocessRunner)


# Where images go -----------------------------------------------------------------------------------------
def settings(**overrides: object):  # type: ignore[no-untyped-def]
    return load_settings(overrides, environ={}, config_file=Path("/nonexistent/lab.toml"))


def test_repositories_per_registry() -> None:
    assert repositories(settings()).push == "localhost:5001/lab-app"
    local = repositories(settings(registry="localhost:5555"))
    assert (local.push, local.pull, local.host, local.name) == (
        "localhost:5555/lab-app",
        "localhost:5555/lab-app",
        "localhost:5555",
        "lab-app",
    )
    assert repositories(settings(push_registry="ecr")).pull == "localhost:4566/lab-app"
    assert repositories(settings(push_registry="ecr", emulator_port=4570)).push == "localhost:4570/lab-app"
    with pytest.raises(ConfigError, match="ECR registry host"):
        repositories(settings(push_registry="ecr", target="aws"))


def test_the_local_registry_on_target_aws_is_a_config_error(tmp_path: Path) -> None:
    """EKS cannot pull localhost:5001: ship stops before it runs anything, with the flag that fixes it."""
    with pytest.raises(ConfigError, match="EKS nodes cannot pull") as info:
        repositories(settings(target="aws"))
    assert "--registry ecr" in (info.value.hint or "")
    runner = happy_runner(tmp_path)
    with pytest.raises(ConfigError, match="EKS nodes cannot pull"):
        ship(make_ctx(tmp_path, runner, target="aws"), app_root=tmp_path, gate=GATE, no_wait=True, repo=StubRepo())
    assert runner.calls == [], runner.dump()


# Registry lookups: ECR through its API, everything else through /v2/ ------------------------------------
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def stubbed_ecr() -> tuple[Any, Stubber]:
    client = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",  # a closed port: a missed stub cannot leave the machine
        aws_access_key_id="unit",
        aws_secret_access_key="unit",
    )
    stub = Stubber(client)
    stub.activate()
    return client, stub


def test_registry_lookup_asks_ecr_through_its_api(monkeypatch: pytest.MonkeyPatch) -> None:
    def anonymous_v2(*args: object, **kwargs: object) -> str:
        raise AssertionError("ECR answers /v2/ with 401 without a token: the API must be used")

    monkeypatch.setattr(registry, "manifest_digest", anonymous_v2)
    made: list[Settings] = []
    client, stub = stubbed_ecr()
    stub.add_response(
        "describe_images",
        {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["t1"]}]},
        {"repositoryName": "lab-app", "imageIds": [{"imageTag": "t1"}]},
    )
    stub.add_client_error(
        "describe_images",
        "ImageNotFoundException",
        expected_params={"repositoryName": "lab-app", "imageIds": [{"imageTag": "gone"}]},
    )
    stub.add_response(
        "describe_images",
        {"imageDetails": [{"imageDigest": DIGEST}]},
        {"repositoryName": "lab-app", "imageIds": [{"imageDigest": DIGEST}]},
    )
    stub.add_client_error("describe_images", "AccessDeniedException", "not allowed")

    def factory(s: Settings) -> Any:
        made.append(s)
        return client

    lookup = registry_lookup(settings(target="aws", aws_region="us-east-1"), ecr_client=factory)
    assert lookup(ECR, "lab-app", "t1") == DIGEST
    assert lookup(ECR, "lab-app", "gone") is None
    assert lookup(ECR, "lab-app", DIGEST) == DIGEST  # a digest-only overlay
    with pytest.raises(RegistryError, match="access denied"):
        lookup(ECR, "lab-app", "t2")
    stub.assert_no_pending_responses()
    assert {s.aws_region for s in made} == {"eu-west-1"}  # the registry's region, not the settings' default


def test_registry_lookup_uses_v2_for_the_labs_own_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str, str]] = []
    monkeypatch.setattr(registry, "manifest_digest", lambda h, n, r: asked.append((h, n, r)) or DIGEST)

    def no_ecr(s: Settings) -> Any:
        raise AssertionError("not an ECR host")

    lookup = registry_lookup(settings(), ecr_client=no_ecr)
    assert lookup("localhost:5001", "lab-app", "t1") == DIGEST
    assert lookup("localhost:4566", "lab-app", "t2") == DIGEST  # MiniStack's registry answers anonymously
    assert asked == [("localhost:5001", "lab-app", "t1"), ("localhost:4566", "lab-app", "t2")]


# ship against the fake runner ----------------------------------------------------------------------------
class StubRepo:
    """Records what ship asks of the GitOps repo instead of touching git (the real one is in tests/integration).
    FAIL: {"open" | "check" | "bump": error} makes that step fail."""

    author = git.Identity("Dev", "dev@x")

    def __init__(self, fail: dict[str, BaseException] | None = None, runner: FakeRunner | None = None) -> None:
        self.bumps: list[tuple[str, ImageSpec, str, str]] = []
        self.trailers: list[list[tuple[str, str]]] = []  # the extra trailers of each bump (the image scan's)
        self.checks: list[tuple[str, ImageSpec]] = []
        self.opened = 0
        self.fail = fail or {}
        self.runner = runner  # marks each step in the command log, to check the order against docker's

    def _step(self, name: str) -> None:
        if self.runner is not None:
            self.runner.run(["echo", "gitops", name])
        if name in self.fail:
            raise self.fail[name]

    def open(self, *, seed: bool = True) -> None:
        self.opened += 1
        self._step("open")

    def check_bump(self, env: str, spec: ImageSpec) -> None:
        self.checks.append((env, spec))
        self._step("check")

    def bump(
        self,
        env: str,
        spec: ImageSpec,
        *,
        app_commit: str,
        digest: str = "",
        image_name: str = "",
        extra: Sequence[tuple[str, str]] = (),
    ) -> Committed:
        self._step("bump")
        self.bumps.append((env, spec, app_commit, digest))
        self.trailers.append(list(extra))
        return Committed("c" * 40, 1, changed=self.changes)

    changes = True  # False: dev already had the image (the bump committed nothing)


class StubWatcher:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, ...]] = []
        self.asked_status = 0

    def refresh(self, env: str) -> None:
        self.calls.append(("refresh", env))

    def sync(self, env: str) -> None:
        self.calls.append(("sync", env))

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        self.calls.append(("wait", env, revision, image))
        if self.fail is not None:
            raise self.fail
        return EnvStatus("Synced", "Healthy", revision, (image,))

    def status(self, env: str) -> EnvStatus:
        self.asked_status += 1
        return EnvStatus("Synced", "Healthy", "c" * 40, ())


class Unreachable(StubWatcher):
    """No cluster: every call is ClusterUnreachable (what ArgoWatcher raises without an API server)."""

    def _down(self) -> ClusterUnreachable:
        return ClusterUnreachable("no API server at https://127.0.0.1:6443", hint="is the cluster running?")

    def refresh(self, env: str) -> None:
        self.calls.append(("refresh", env))
        raise self._down()

    def sync(self, env: str) -> None:
        self.calls.append(("sync", env))
        raise self._down()

    def status(self, env: str) -> EnvStatus:
        self.asked_status += 1
        raise self._down()


GATE = (("pytest", "-q"), ("ruff", "check", "app"))


def make_ctx(tmp_path: Path, runner: FakeRunner | DryRunRunner, **overrides: object) -> Context:
    s = settings(
        state_dir=tmp_path / "state", base_image="lab-base:bookworm", gitops_remote=str(tmp_path / "r"), **overrides
    )
    return Context(s, runner, UI(err=io.StringIO(), out=io.StringIO()))


def echo(argv: tuple[str, ...], input: str | None) -> Result | None:
    """`echo ARGS`: prints its arguments."""
    return Result(argv, 0, " ".join(argv[1:]) + "\n", "") if argv[0] == "echo" else None


def happy_runner(app_root: Path, *, dirty: str = "") -> FakeRunner:
    runner = FakeRunner()
    runner.script(["git", "-C", str(app_root), "rev-parse"], stdout=SHA + "\n")
    runner.script(["git", "-C", str(app_root), "status", "--porcelain"], stdout=dirty)
    runner.script(["docker", "build"], stdout="sha256:" + "11" * 32 + "\n")
    runner.script(["docker", "push"], stdout=f"0123456-20261128101500: digest: {DIGEST} size: 1234\n")
    runner.script(  # a clone without an origin (a test that needs one scripts it)
        ["git", "-C", str(app_root), "remote", "get-url", "origin"],
        returncode=2,
        stderr="error: No such remote 'origin'\n",
    )
    runner.script(["pytest", "-q"], stdout="40 passed in 1.23s\n")  # the quality gate (GATE) passes
    runner.responders.append(echo)  # the stubs below mark moments in the command log with `echo`
    runner.script(["ruff", "check", "app"], stdout="All checks passed!\n")
    runner.script(["trivy", "--version"], stdout="Version: 0.74.0\n")
    runner.script(["trivy", "image"], stdout=(ROOT / "tests/data/trivy/clean.json").read_text())
    return runner


def after_push(runner: FakeRunner, digest: str = DIGEST) -> Callable[[str, str, str], str | None]:
    """A registry lookup: no such tag until `docker push` ran, then DIGEST."""

    def lookup(host: str, name: str, tag: str) -> str | None:
        return digest if any(c.argv[:2] == ("docker", "push") for c in runner.calls) else None

    return lookup


def run_ship(tmp_path: Path, runner: FakeRunner, **kw: object):  # type: ignore[no-untyped-def]
    repo = kw.pop("repo", StubRepo())
    ctx = make_ctx(tmp_path, runner)
    lookup = kw.pop("lookup_digest", after_push(runner))
    result = ship(
        ctx,
        app_root=tmp_path,
        gate=GATE,
        clock=lambda: NOW,
        lookup_digest=lookup,
        repo=repo,
        **kw,  # type: ignore[arg-type]
    )
    return result, repo, ctx


@pytest.fixture(autouse=True)
def _registry_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ping", lambda host, timeout=5.0: None)


def test_ship_runs_the_stages_in_order_and_bumps_dev(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    result, repo, ctx = run_ship(tmp_path, runner, no_wait=True)
    tag = "0123456-20261128101500"
    assert result.tag == tag and result.digest == DIGEST and result.gitops_commit == "c" * 40
    # The gate runs beside the build (in order, its two commands), and is over before anything is pushed.
    assert runner.index("pytest") < runner.index("ruff") < runner.index("docker", "push"), runner.dump()
    assert runner.index("docker", "build") < runner.index("docker", "push")
    build = runner.assert_called("docker", "build")
    argv = " ".join(build.argv)
    for arg in (
        "BASE_IMAGE=lab-base:bookworm",
        f"APP_COMMIT={SHA}",
        f"APP_IMAGE_TAG={tag}",
        "APP_BUILD_TIME=2026-11-28T10:15:00Z",
        "APP_SOURCE=",
        f"-t localhost:5001/lab-app:{tag}",
        f"-f {tmp_path / 'app' / 'Dockerfile'}",
        # the lab's labels (what `invoke down` finds its images by) as build args of the Dockerfile's LABEL step
        "GITOPS_LAB_MANAGED=true",
        "GITOPS_LAB_COMPONENT=app",
        f"GITOPS_LAB_CLUSTER={make_ctx(tmp_path, runner).settings.cluster_name}",
    ):
        assert arg in argv, runner.dump()
    assert "--label" not in build.argv  # each one would be a build step of its own (the classic builder)
    assert build.argv[-1] == str(tmp_path / "app")
    runner.assert_called("docker", "push", f"localhost:5001/lab-app:{tag}")
    status = runner.assert_called("git", "-C", str(tmp_path), "status", "--porcelain")
    assert status.argv[-len(DIRTY_PATHS) :] == DIRTY_PATHS
    # The GitOps repo is opened and dev's overlay checked with the planned image before anything is built.
    assert repo.opened == 1 and repo.checks == [("dev", ImageSpec("localhost:5001/lab-app", tag))]
    assert repo.bumps == [("dev", ImageSpec("localhost:5001/lab-app", tag), SHA, DIGEST)]
    assert "ship" in ctx.ui.out.getvalue()  # the summary table


def test_the_source_url_in_the_image_carries_no_credentials(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    runner.script(
        ["git", "-C", str(tmp_path), "remote", "get-url"], stdout="https://ada:ghp_s3cr3t@github.com/team/app.git\n"
    )
    run_ship(tmp_path, runner, no_wait=True)
    build = runner.assert_called("docker", "build")
    assert "APP_SOURCE=https://github.com/team/app.git" in build.argv, runner.dump()
    assert not any("s3cr3t" in arg for call in runner.calls for arg in call.argv), runner.dump()


def test_ship_pins_the_digest_when_asked(tmp_path: Path) -> None:
    _, repo, _ = run_ship(tmp_path, happy_runner(tmp_path), no_wait=True, pin_digest=True)
    assert repo.bumps[0][1].digest == DIGEST
    assert repo.checks[0][1].digest == ""  # checked before the push: with the tag, the digest is not known yet


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("open", GitOpsError("cannot clone the GitOps repo http://127.0.0.1:3000/gitops.git: Connection refused")),
        ("open", GitOpsError("http://127.0.0.1:3000/gitops.git refused the seed commit: pre-receive hook declined")),
        ("check", GitOpsError("overlays/dev would not render: accumulating resources: missing.yaml")),
    ],
)
def test_a_gitops_repo_that_fails_stops_ship_before_the_build(tmp_path: Path, step: str, error: GitOpsError) -> None:
    """The gate may have started beside the GitOps check (it only reads the app tree); nothing is built."""
    runner = happy_runner(tmp_path)
    runner.script(["ruff", "check"], returncode=1, stdout="app/x.py:1:1: F401 unused import\n")
    repo = StubRepo(fail={step: error})
    with pytest.raises(GitOpsError) as info:
        run_ship(tmp_path, runner, no_wait=True, repo=repo)
    assert info.value is error  # the GitOps error, not the gate's
    runner.assert_not_called("docker")
    assert repo.bumps == []


def test_a_failure_after_the_push_says_what_it_left_in_the_registry(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    refused = GitOpsError("the GitOps remote /r.git refused the push to main: pre-receive hook declined", hint="x")
    repo = StubRepo(fail={"bump": refused}, runner=runner)
    with pytest.raises(GitOpsError) as info:
        run_ship(tmp_path, runner, no_wait=True, repo=repo)
    tag = "0123456-20261128101500"
    assert runner.index("docker", "push") < runner.index("echo", "gitops", "bump"), runner.dump()
    hint = info.value.hint or ""
    assert hint.startswith("x; ")  # the original advice stays
    assert f"pushed localhost:5001/lab-app:{tag} ({DIGEST}) to localhost:5001; no GitOps commit" in hint
    assert "re-run `invoke ship`" in hint


def test_failing_quality_gate_pushes_and_commits_nothing_and_removes_the_image_built_beside_it(
    tmp_path: Path,
) -> None:
    runner = happy_runner(tmp_path)
    runner.script(["pytest", "-q"], stdout="42 passed\n")
    runner.script(["ruff", "check"], returncode=1, stdout="app/x.py:1:1: F401 unused import\n")
    runner.script(["git", "-C", str(tmp_path), "remote", "get-url", "origin"], returncode=2, stderr="no such remote")
    ref = "localhost:5001/lab-app:0123456-20261128101500"
    runner.script(["docker", "image", "rm", ref], stdout=f"Untagged: {ref}\n")
    repo = StubRepo()
    ctx = make_ctx(tmp_path, runner)
    with pytest.raises(QualityGateFailed, match="ruff check app") as info:
        ship(ctx, app_root=tmp_path, gate=GATE, no_wait=True, clock=lambda: NOW, repo=repo,
             lookup_digest=after_push(runner))  # fmt: skip
    assert info.value.exit_code == 9
    assert "nothing was pushed or committed" in (info.value.hint or "")
    assert "F401 unused import" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]  # the gate's output, shown
    assert runner.index("docker", "build") < runner.index("docker", "image", "rm", ref), runner.dump()
    runner.assert_not_called("docker", "push")
    assert repo.bumps == []


def test_a_build_that_fails_beside_a_failing_gate_reports_the_gate(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    runner.script(["git", "-C", str(tmp_path), "remote", "get-url", "origin"], returncode=2, stderr="no such remote")
    runner.script(["pytest"], returncode=1, stdout="1 failed, 41 passed\n")
    runner.script(["docker", "build"], returncode=1, stderr="SyntaxError: invalid syntax (items.py, line 3)")
    with pytest.raises(QualityGateFailed, match="pytest"):
        run_ship(tmp_path, runner, no_wait=True)
    runner.assert_not_called("docker", "push")
    runner.assert_not_called("docker", "image", "rm")  # the build made no image


def test_dirty_tree_is_refused_before_the_gate_unless_allowed(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path, dirty=" M app/factory.py\n?? app/new.py\n")
    with pytest.raises(Refused, match=r"app/factory\.py") as info:
        run_ship(tmp_path, runner, no_wait=True)
    assert "--allow-dirty" in (info.value.hint or "")
    runner.assert_not_called("pytest")

    runner = happy_runner(tmp_path, dirty=" M app/factory.py\n")
    result, _, _ = run_ship(tmp_path, runner, no_wait=True, allow_dirty=True)
    assert result.tag.endswith("-dirty") and result.app_commit == SHA + "-dirty"
    assert "APP_COMMIT=" + SHA + "-dirty" in runner.assert_called("docker", "build").argv


def test_registry_down_commits_nothing(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    runner.script(["docker", "push"], returncode=1, stderr="dial tcp 127.0.0.1:5001: connect: connection refused")
    repo = StubRepo()
    with pytest.raises(RegistryError, match="connection refused"):
        run_ship(tmp_path, runner, no_wait=True, repo=repo)
    assert repo.bumps == []


def test_a_registry_serving_another_digest_commits_nothing(tmp_path: Path) -> None:
    repo = StubRepo()
    with pytest.raises(RegistryError, match="serves sha256:ff"):
        runner = happy_runner(tmp_path)
        run_ship(tmp_path, runner, no_wait=True, repo=repo, lookup_digest=after_push(runner, "sha256:ff"))
    assert repo.bumps == []


def test_ship_to_wait_asks_the_cluster_first_and_changes_nothing_without_one(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    repo = StubRepo()
    watcher = Unreachable()
    with pytest.raises(ClusterUnreachable) as info:
        run_ship(tmp_path, runner, watcher=watcher, repo=repo)
    assert info.value.exit_code == 12
    assert watcher.asked_status == 1 and watcher.calls == []
    assert "nothing was changed" in (info.value.hint or "") and "--no-wait" in (info.value.hint or "")
    assert runner.calls == [], runner.dump()  # not even the app tree: nothing built, pushed or committed
    assert repo.opened == 0 and repo.bumps == []


def test_ship_asks_the_cluster_before_anything_else(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)

    class Watching(StubWatcher):
        def status(self, env: str) -> EnvStatus:
            runner.run(["echo", "status", env])  # marks the moment in the command log
            return super().status(env)

    watcher = Watching()
    run_ship(tmp_path, runner, watcher=watcher)
    assert runner.index("echo", "status", "dev") == 0, runner.dump()
    assert watcher.calls[0] == ("refresh", "dev")


def test_ship_without_a_watcher_must_be_no_wait(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    with pytest.raises(ConfigError, match="no cluster watcher"):
        run_ship(tmp_path, runner)
    assert runner.calls == []


def test_ship_refreshes_and_waits_for_the_new_image(tmp_path: Path) -> None:
    watcher = StubWatcher()
    result, _, _ = run_ship(tmp_path, happy_runner(tmp_path), watcher=watcher)
    image = "localhost:5001/lab-app:0123456-20261128101500"
    assert watcher.calls == [("refresh", "dev"), ("wait", "dev", "c" * 40, image)]
    assert result.status is not None and result.status.images == (image,)


def test_no_cluster_is_fine_only_with_no_wait(tmp_path: Path) -> None:
    """ship --no-wait works with no cluster: the status is not asked, the refresh is tried and only warned about."""
    watcher = Unreachable()
    result, repo, ctx = run_ship(tmp_path, happy_runner(tmp_path), watcher=watcher, no_wait=True)
    assert repo.bumps and result.status is None
    assert watcher.asked_status == 0 and watcher.calls == [("refresh", "dev")]
    assert "no cluster reachable" in ctx.ui.err.getvalue()
    assert "Argo CD deploys it once it runs" in ctx.ui.err.getvalue()


def test_a_cluster_lost_during_the_wait_is_an_error_without_no_wait(tmp_path: Path) -> None:
    watcher = StubWatcher(fail=ClusterUnreachable("connection reset"))
    repo = StubRepo()
    with pytest.raises(ClusterUnreachable):
        run_ship(tmp_path, happy_runner(tmp_path), watcher=watcher, repo=repo)
    assert repo.bumps  # committed before the cluster went away: the error says so, nothing to undo
    assert watcher.calls[0] == ("refresh", "dev") and watcher.calls[1][0] == "wait"


def app_repo(path: Path) -> str:
    """A committed app repo (overlays/ and an app/ stand-in) at PATH; returns its HEAD."""
    shutil.copytree(ROOT / "overlays", path / "overlays")
    (path / "app").mkdir()
    (path / "app" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n")
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@x"}
    for argv in (
        ["git", "init", "--quiet", "-b", "main", str(path)],
        ["git", "-C", str(path), "config", "user.name", "Ada Dev"],
        ["git", "-C", str(path), "config", "user.email", "ada@example.test"],
        ["git", "-C", str(path), "add", "-A"],
        ["git", "-C", str(path), "commit", "--quiet", "-m", "app"],
    ):
        subprocess.run(argv, check=True, capture_output=True, env={**env, "PATH": "/usr/bin:/bin"})
    return subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def empty_remote(path: Path) -> Path:
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True, capture_output=True)
    return path


def remote_refs(path: Path) -> str:
    return subprocess.run(["git", "-C", str(path), "show-ref"], capture_output=True, text=True).stdout


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_ship_dry_run_prints_the_plan_with_the_real_tag_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "app-repo"
    sha = app_repo(root)
    remote = empty_remote(tmp_path / "r")
    out = io.StringIO()
    runner = DryRunRunner(out=out)
    ctx = make_ctx(tmp_path, runner)
    result = ship(ctx, app_root=root, gate=GATE, clock=lambda: NOW, lookup_digest=lambda h, n, t: None)
    plan = out.getvalue()
    for expected in ("pytest -q", "docker build", "docker push", "git clone", "push --porcelain origin"):
        assert expected in plan, plan
    # The app repo was read for real: the plan shows the tag this ship would build, and who deploys.
    tag = f"{sha[:7]}-20261128101500"
    assert result.tag == tag and result.app_commit == sha
    assert f"APP_IMAGE_TAG={tag}" in plan and f"APP_COMMIT={sha}" in plan
    # The GitOps side ran for real on a scratch copy of the (empty) remote: seeded, then bumped; the commits it
    # would push are shown, with their trailers and the overlay's diff.
    shown = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert f"deploy(dev): lab-app {tag}" in shown and f'+    newTag: "{tag}"' in shown, shown
    assert "Deployed-By: Ada Dev <ada@example.test>" in shown
    assert f"GitOps repo {remote} is empty: seeding it" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    # Only those local reads ran for real: nothing of the app repo's reads is in the plan, nothing was written.
    assert "rev-parse --verify --quiet HEAD" not in plan.split("git clone")[0]
    assert not (tmp_path / "state").exists() and remote_refs(remote) == ""  # the remote is still empty
    # The GitOps clone is cloned and seeded once in the plan, although ship opens it twice (check, then bump).
    commits = [line for line in shown.splitlines() if line.startswith("# --- GitOps commit ")]
    assert plan.count("git clone") == 1 and len(commits) == 2 and "seed: overlays" in commits[0], plan + shown
    assert plan.count("push --porcelain") == 2  # the seed, then the deploy


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
@pytest.mark.parametrize("no_wait", [False, True])
def test_ship_dry_run_shows_the_argo_cd_steps_it_skips(tmp_path: Path, no_wait: bool) -> None:
    """The real ship asks Argo CD (is dev there?), scans the image it built, refreshes dev after the push, and waits;
    a dry run builds, pushes and asks nothing, and says so at each of those steps instead of leaving them out."""
    root = tmp_path / "app-repo"
    app_repo(root)
    empty_remote(tmp_path / "r")
    ctx = make_ctx(tmp_path, DryRunRunner(out=io.StringIO()))
    watcher = StubWatcher()
    result = ship(ctx, app_root=root, gate=GATE, clock=lambda: NOW, watcher=watcher, no_wait=no_wait)
    assert watcher.calls == [] and watcher.asked_status == 0
    refresh = "Refresh dev in Argo CD"
    wait = f"Wait for dev to run localhost:5001/lab-app:{result.tag}: Synced at {result.gitops_commit[:7]}, Healthy"
    scan = f"Scan localhost:5001/lab-app:{result.tag} (trivy, blocks at CRITICAL)"  # the image is not built
    expected = [scan, refresh] if no_wait else ["Check Argo CD answers for dev", scan, refresh, wait]
    err = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    for title in expected:
        assert f" – {title} — skipped (dry run: " in err, err
    assert [p.title for p in ctx.ui.phases if getattr(p, "skipped", False)] == expected  # shown as –, never as ✓


# The transaction's retry policy (real git is in tests/integration/test_gitops_git.py) -------------------
def quiet_clone(runner: FakeRunner, wd: str) -> None:
    """The working clone's git commands that print nothing when they succeed (fetch --quiet, reset --quiet, clean -q,
    add) and a clean `status --porcelain`; the test scripts rev-parse, diff and push itself."""
    for verb in ("fetch", "reset", "clean", "switch", "symbolic-ref", "add", "status"):
        runner.script(["git", "-C", wd, verb])
    runner.script(["git", "-C", wd, "rev-list", "--count"], "0\n")  # HEAD is not ahead of the remote
    runner.script(["git", "-C", wd, "commit"], "[main ddddddd] deploy(dev): lab-app t1\n 1 file changed\n")


def test_commit_change_gives_up_after_max_attempts_with_growing_jittered_backoff(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    (workdir / ".git").mkdir(parents=True)
    (workdir / "overlays" / "dev").mkdir(parents=True)
    runner = FakeRunner()
    wd = str(workdir)
    quiet_clone(runner, wd)
    runner.script(["git", "-C", wd, "remote", "get-url"], stdout="/remote.git\n")
    runner.script(["git", "-C", wd, "rev-parse"], stdout="d" * 40 + "\n")
    runner.script(["git", "-C", wd, "diff", "--cached", "--quiet"], returncode=1)
    # the secret scan of what is staged: the overlay's kustomization, which holds no secret
    runner.script(["git", "-C", wd, "diff", "--cached", "--name-only"], stdout="overlays/dev/kustomization.yaml\0")
    runner.script(["git", "-C", wd, "show", ":overlays/dev/kustomization.yaml"], stdout="images:\n  - name: lab-app\n")
    runner.script(["kubectl", "kustomize"], stdout=deployment("r/lab-app:t1"))
    runner.script(["git", "-C", wd, "push"], returncode=1, stdout="!\tHEAD:refs/heads/main\t[rejected] (fetch first)\n")
    sleeps: list[float] = []
    repo = GitOpsRepo(
        runner,
        "/remote.git",
        workdir,
        ROOT / "overlays",
        kubectl="kubectl",
        max_attempts=4,
        sleep=sleeps.append,
        rng=lambda: 0.5,
    )
    plan_calls: list[int] = []

    def plan(r: GitOpsRepo) -> Change:
        plan_calls.append(1)
        return Change("dev", "deploy(dev): lab-app t1\n", [("Environment", "dev")], "r/lab-app:t1", new_text="x: 1\n")

    with pytest.raises(GitOpsError, match="kept moving: gave up after 4 attempts"):
        repo.commit_change(plan)
    assert len(plan_calls) == 4  # re-planned on every new head
    assert sleeps == [0.2, 0.4, 0.8]  # rng 0.5 → factor 1.0; doubling
    assert len(runner.find("git", "-C", wd, "push")) == 4
    # After the last rejection the clone is reset to the remote head.
    last_push = max(i for i, c in enumerate(runner.calls) if c.argv[3:4] == ("push",))
    assert any(c.argv[3:6] == ("reset", "--quiet", "--hard") for c in runner.calls[last_push:]), runner.dump()


def test_commit_change_does_not_retry_a_refusal(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    (workdir / ".git").mkdir(parents=True)
    (workdir / "overlays" / "dev").mkdir(parents=True)
    runner = FakeRunner()
    wd = str(workdir)
    quiet_clone(runner, wd)
    runner.script(["git", "-C", wd, "remote", "get-url"], stdout="/remote.git\n")
    runner.script(["git", "-C", wd, "rev-parse"], stdout="d" * 40 + "\n")
    runner.script(["git", "-C", wd, "diff", "--cached", "--quiet"], returncode=1)
    # the secret scan of what is staged: the overlay's kustomization, which holds no secret
    runner.script(["git", "-C", wd, "diff", "--cached", "--name-only"], stdout="overlays/dev/kustomization.yaml\0")
    runner.script(["git", "-C", wd, "show", ":overlays/dev/kustomization.yaml"], stdout="images:\n  - name: lab-app\n")
    runner.script(["kubectl", "kustomize"], stdout=deployment("r/lab-app:t1"))
    runner.responders.append(
        lambda argv, _in: (
            Result(argv, 1, "!\tHEAD:refs/heads/main\t[remote rejected] (permission denied)\n", "")
            if argv[3:4] == ("push",)
            else None
        )
    )
    repo = GitOpsRepo(runner, "/remote.git", workdir, ROOT / "overlays", kubectl="kubectl", sleep=lambda s: None)
    change = Change("dev", "m\n", [], "r/lab-app:t1", new_text="x: 1\n")
    with pytest.raises(GitOpsError, match=r"/remote\.git refused the push to main: permission denied"):
        repo.commit_change(lambda r: change)
    assert len(runner.find("git", "-C", wd, "push")) == 1


# promote / rollback argument checks (no git needed: refused before the repo is touched) -------------------
@pytest.mark.parametrize(
    ("src", "dst", "says"),
    [
        ("staging", "dev", "staging → dev is not forward"),
        ("prod", "dev", "prod → dev is not forward"),
        ("prod", "prod", "prod → prod is the same environment"),
        ("dev", "dev", "dev → dev is the same environment"),
    ],
)
def test_promote_refuses_backwards_or_in_place_before_touching_anything(
    tmp_path: Path, src: str, dst: str, says: str
) -> None:
    runner = FakeRunner()
    with pytest.raises(Refused, match=says) as info:
        release.promote(make_ctx(tmp_path, runner), src, dst)
    assert info.value.exit_code == 8
    assert runner.calls == []


def test_unknown_environment_is_a_config_error(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(ConfigError) as info:
        release.promote(make_ctx(tmp_path, runner), "dev", "qa")
    assert info.value.exit_code == 2 and "dev, staging, prod" in (info.value.hint or "")
    assert runner.calls == []


def test_rollback_without_a_watcher_must_be_no_wait(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(ConfigError, match="no cluster watcher"):
        release.rollback(make_ctx(tmp_path, runner), "dev")
    assert runner.calls == []


def test_the_default_gate_runs_the_apps_tests_and_lint() -> None:
    """What `invoke ship` runs by default points at real files of this project."""
    flat = [" ".join(cmd) for cmd in default_gate()]
    assert flat[0].startswith(sys.executable + " -m pytest tests/unit/test_app.py -q")
    assert flat[1].endswith("ruff check app")
    assert (ROOT / "tests" / "unit" / "test_app.py").is_file() and (ROOT / "app").is_dir()


def test_ship_to_the_ecr_emulator_creates_the_repository_before_pushing(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    created: list[str] = []

    def ensure(name: str) -> str:
        created.append(name)
        runner.run(["echo", "ensure-repository", name])  # marks the moment in the command log
        return "created"

    repo = StubRepo()
    ctx = make_ctx(tmp_path, runner, push_registry="ecr")
    result = ship(
        ctx,
        app_root=tmp_path,
        gate=GATE,
        clock=lambda: NOW,
        lookup_digest=after_push(runner),
        repo=repo,  # type: ignore[arg-type]
        no_wait=True,
        ensure_repository=ensure,
    )
    assert created == ["lab-app"]
    assert runner.index("echo", "ensure-repository") < runner.index("docker", "push")
    assert result.image == "localhost:4566/lab-app:0123456-20261128101500"
    assert repo.bumps[0][1].new_name == "localhost:4566/lab-app"


# One tag per build -------------------------------------------------------------------------------------------
def test_make_tag_numbers_the_builds_of_one_second() -> None:
    assert make_tag(SHA, NOW, seq=2) == "0123456-20261128101500-2"
    assert make_tag(SHA, NOW, dirty=True, seq=3) == "0123456-20261128101500-3-dirty"
    with pytest.raises(ValueError, match="seq"):
        make_tag(SHA, NOW, seq=0)


def test_reserve_tag_never_hands_out_a_tag_twice_or_one_the_registry_has(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert reserve_tag(state, SHA, NOW, dirty=False) == "0123456-20261128101500"
    assert reserve_tag(state, SHA, NOW, dirty=False) == "0123456-20261128101500-2"  # the same second, on this machine
    assert reserve_tag(state, SHA, NOW, dirty=True) == "0123456-20261128101500-dirty"
    in_registry = {"0123456-20261128101501", "0123456-20261128101501-2"}  # pushed from elsewhere
    later = NOW + timedelta(seconds=1)
    assert reserve_tag(tmp_path / "other", SHA, later, dirty=False, taken=in_registry.__contains__) == (
        "0123456-20261128101501-3"
    )


def test_reserve_tag_prunes_reservations_older_than_a_day(tmp_path: Path) -> None:
    state = tmp_path / "state"
    reserve_tag(state, SHA, NOW, dirty=False)
    old = state / "tags" / "0123456-20261128101500"
    day_ago = time.time() - 86400 - 60
    os.utime(old, (day_ago, day_ago))
    reserve_tag(state, SHA, NOW + timedelta(seconds=5), dirty=False)
    assert sorted(p.name for p in (state / "tags").iterdir()) == ["0123456-20261128101505"]


RESERVER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from lab.steps.ship import reserve_tag
state, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
print(reserve_tag(Path(state), "0123456789", datetime(2026, 11, 28, 10, 15, tzinfo=UTC), dirty=False))
"""


@pytest.mark.integration  # six processes race for a tag (tests/tiers.py)
def test_ships_reserving_a_tag_at_the_same_moment_all_get_different_tags(tmp_path: Path) -> None:
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVER, str(tmp_path / "state"), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    tags = sorted(out.strip() for out, _ in outs)
    assert len(set(tags)) == 6, tags
    assert "0123456-20261128101500" in tags and "0123456-20261128101500-6" in tags


def test_ship_takes_the_next_tag_when_the_registry_has_its_own(tmp_path: Path) -> None:
    runner = happy_runner(tmp_path)
    taken = "0123456-20261128101500"
    pushed = after_push(runner)

    def lookup(host: str, name: str, tag: str) -> str | None:
        return "sha256:" + "ee" * 32 if tag == taken else pushed(host, name, tag)

    result, repo, _ = run_ship(tmp_path, runner, no_wait=True, lookup_digest=lookup)
    assert result.tag == taken + "-2"
    runner.assert_called("docker", "push", f"localhost:5001/lab-app:{taken}-2")
    assert f"APP_IMAGE_TAG={taken}-2" in runner.assert_called("docker", "build").argv
    assert repo.bumps[0][1].new_tag == taken + "-2"


def test_ship_never_reports_a_deploy_commit_it_did_not_make(tmp_path: Path) -> None:
    repo = StubRepo()
    repo.changes = False  # dev already runs exactly this image: someone else committed it
    with pytest.raises(GitOpsError, match="a commit this ship did not make") as info:
        run_ship(tmp_path, happy_runner(tmp_path), no_wait=True, repo=repo)
    assert "invoke history dev" in (info.value.hint or "")


def interrupt_at(runner: FakeRunner, *prefix: str) -> None:
    """Ctrl-C while the first command starting with PREFIX runs."""

    def responder(args: tuple[str, ...], _input: str | None) -> Result | None:
        if args[: len(prefix)] == prefix:
            raise KeyboardInterrupt
        return None

    runner.responders.append(responder)


@pytest.mark.parametrize(("at", "left"), [(("docker", "build"), False), (("docker", "push"), True)])
def test_ctrl_c_before_the_bump_says_nothing_was_committed(tmp_path: Path, at: tuple[str, ...], left: bool) -> None:
    runner = happy_runner(tmp_path)
    interrupt_at(runner, *at)
    repo = StubRepo()
    caught: BaseException | None = None
    try:
        run_ship(tmp_path, runner, no_wait=True, repo=repo)
    except BaseException as exc:
        caught = exc
    assert isinstance(caught, Interrupted) and caught.exit_code == 130, repr(caught)
    assert "nothing was committed, dev is as it was" in caught.message
    assert ("localhost:5001/lab-app:0123456-20261128101500 may be in the registry" in caught.message) is left
    assert repo.bumps == []


def test_ctrl_c_while_waiting_for_argo_cd_says_the_commit_is_pushed(tmp_path: Path) -> None:
    class Waiting(StubWatcher):
        def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
            raise KeyboardInterrupt

    caught: BaseException | None = None
    try:
        run_ship(tmp_path, happy_runner(tmp_path), watcher=Waiting())
    except BaseException as exc:
        caught = exc
    assert isinstance(caught, Interrupted) and caught.pushed is True, repr(caught)
    assert "the deploy commit ccccccc is on the GitOps remote" in caught.message
    assert "invoke status" in (caught.hint or "")


def test_an_interrupted_bump_that_reached_the_remote_does_not_claim_nothing_was_committed(tmp_path: Path) -> None:
    landed = Interrupted("interrupted, but the commit 1234567 had reached the GitOps remote", pushed=True)
    with pytest.raises(Interrupted) as info:
        run_ship(tmp_path, happy_runner(tmp_path), no_wait=True, repo=StubRepo(fail={"bump": landed}))
    assert "no GitOps commit" not in (info.value.hint or "")
    lost = Interrupted("interrupted: the commit 1234567 did not reach the GitOps remote", pushed=False)
    with pytest.raises(Interrupted) as info:
        run_ship(tmp_path, happy_runner(tmp_path), no_wait=True, repo=StubRepo(fail={"bump": lost}))
    assert "no GitOps commit" in (info.value.hint or "")
