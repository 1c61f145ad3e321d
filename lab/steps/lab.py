"""The lab as a whole: doctor, up, down, status, dashboard, cache, and a manual sync.

`up` on target local, in order (each phase idempotent, so `up` after a half-finished `up` finishes the job):

    preflight ─► kind binary ─► [offline: load cached images] ─► registry, ECR emulator, git server
      ─► cluster (+ registry wiring) ─► first image in the GitOps repo ─► Argo CD ─► repo, project, Applications
      ─► wait for dev: Synced + Healthy ─► URL, password, next command
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import image_cache
from lab.clients.argocd import ApplicationClient
from lab.clients.argocd_tracking import as_argocd_applies
from lab.core import versions
from lab.core.config import ENVIRONMENTS, ROOT, SCAN_OFF, environment
from lab.core.context import Context
from lab.core.errors import (
    ChecksumMismatch,
    ClusterUnreachable,
    CommandFailed,
    ConfigError,
    Conflict,
    LabError,
    PreflightFailed,
    Refused,
    ToolNotFound,
)
from lab.core.runner import Runner, for_reading
from lab.gitops.overlay import SEED_TAG
from lab.gitops.repo import GitOpsRepo
from lab.manifests import argocd as argocd_manifests
from lab.providers import ECR_CONTAINER, GIT_CONTAINER, ClusterProvider, marker_path, provider_for
from lab.steps import app_image, kindbin, release, scan, services, ship
from lab.steps import argocd as argocd_steps
from lab.steps import cluster as cluster_steps
from lab.steps import doctor as doctor_steps
from lab.tools import docker, kubectl, kustomize
from lab.tools.argocd_install import PIN, cache_path, fetch_install_manifest

# Images the lab needs in the cluster or on the host, beyond the ones it builds itself.
PULLED_IMAGES = (versions.KIND_NODE_IMAGE, *versions.ARGOCD_IMAGES)
LOAD_FAILED_HINT = (
    "run `invoke up` once online (the nodes pull the images). A 'content digest ... not found' error means Docker's "
    "containerd image store and a Docker older than 28 (no `docker image save --platform`): upgrade Docker, or turn "
    "the store off (daemon.json features.containerd-snapshotter=false; kubernetes-sigs/kind#3795), then `invoke cache`"
)


# ------------------------------------------------------------------------------------------------- doctor
def kind_check(ctx: Context) -> doctor_steps.Check:
    try:
        found = kindbin.ensure_kind(ctx, fix=False)
    except ToolNotFound as exc:
        return doctor_steps.Check("kind", False, exc.message, exc.hint or kindbin.FIX_HINT)
    return doctor_steps.Check("kind", True, f"{found.version or '?'} ({found.path})")


PORT_RE = re.compile(r"127\.0\.0\.1:(\d+)->")


def owned_ports(runner: Runner, cluster: str) -> set[int]:
    """Host ports already published by the lab's own containers (its services and the kind node)."""
    owned: set[int] = set()
    for label in (f"{docker.MANAGED_LABEL}=true", f"io.x-k8s.kind.cluster={cluster}"):
        res = runner.run([docker.DOCKER, "ps", "--filter", f"label={label}", "--format", "{{.Ports}}"], check=False)
        owned.update(int(p) for p in PORT_RE.findall(res.stdout))
    return owned


def doctor(ctx: Context, *, fix: bool = False, probes: doctor_steps.Probes | None = None) -> bool:
    """Print the preflight table; True when every required check passed. FIX installs the pinned kind."""
    if fix and ctx.settings.target == "local" and ctx.settings.provider == "kind":
        try:
            kindbin.ensure_kind(ctx, fix=False)
        except ToolNotFound:
            kindbin.ensure_kind(ctx, fix=True)
    checks = doctor_steps.run_checks(
        ctx,
        probes=probes,
        owned_ports=owned_ports(ctx.runner, ctx.settings.cluster_name),
        kind_check=kind_check if ctx.settings.provider == "kind" else None,
    )
    return doctor_steps.report(ctx, checks)


# ------------------------------------------------------------------------------------------------- up
@dataclass(frozen=True)
class UpResult:
    gitops_url_in_cluster: str
    first_tag: str | None  # the image `up` built for the first deploy, if it had to


def _kind_check_for_up(fix: bool) -> Callable[[Context], doctor_steps.Check]:
    """The kind check; with FIX a missing or too old kind passes: `up` installs the pinned one right after."""

    def check(ctx: Context) -> doctor_steps.Check:
        result = kind_check(ctx)
        if result.ok or not fix:
            return result
        return doctor_steps.Check("kind", True, f"{result.detail}; installing kind {versions.KIND_VERSION} (--fix)")

    return check


def _preflight(ctx: Context, probes: doctor_steps.Probes | None, *, fix: bool = False) -> None:
    with ctx.ui.phase("Preflight checks (invoke doctor)") as phase:
        checks = doctor_steps.run_checks(
            ctx,
            probes=probes,
            owned_ports=owned_ports(ctx.runner, ctx.settings.cluster_name),
            kind_check=_kind_check_for_up(fix) if ctx.settings.provider == "kind" else None,
        )
        failed = [c for c in checks if not c.ok and c.required]
        for c in checks:
            if not c.ok:
                ctx.ui.warn(f"{c.name}: {c.detail} → {c.fix}")
        if failed:
            first = failed[0]
            if first.name.startswith("port "):
                raise Conflict(f"{first.name}: {first.detail}", hint=first.fix)
            raise PreflightFailed(f"{first.name}: {first.detail}", hint=first.fix)
        phase.note = f"{len(checks)} checks passed"


def cached_image_file(ctx: Context, ref: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", image_cache.tag_only(ref))
    return image_cache.images_dir(ctx.settings.cache_dir) / f"{safe}.tar"


def _restore_cached_image(ctx: Context, ref: str, entry: image_cache.CachedImage | None) -> str:
    """Make REF's image present under the name the lab uses offline (REF minus its digest). Returns what was
    done: "present", "tagged" or "loaded"."""
    runner = ctx.runner
    local = image_cache.tag_only(ref)
    action = "present"
    found = docker.image_id(runner, ref)  # pulled online earlier: the pinned reference still resolves
    if not found and entry is not None:
        # Loaded on an earlier offline run: there by ID only (a load does not restore a digest).
        found = next((i for i in entry.ids if docker.image_id(runner, i) == i), "")
    if not found:
        found = _load_cached_archive(ctx, ref, entry)
        action = "loaded"
    if found and local != ref and docker.image_id(runner, local) != found:
        docker.tag(runner, found, local)
        action = "tagged" if action == "present" else action
    return action


def _load_cached_archive(ctx: Context, ref: str, entry: image_cache.CachedImage | None) -> str:
    """`docker load` REF's archive; the loaded image's ID, checked against the index ("" in a dry run)."""
    tar = cached_image_file(ctx, ref) if entry is None else cached_image_file(ctx, ref).with_name(entry.file)
    if (entry is None or not tar.is_file()) and not ctx.dry_run:
        where = image_cache.index_path(ctx.settings.cache_dir) if entry is None else tar
        raise Refused(f"offline, and {ref} is neither in Docker nor in {where}", hint="run `invoke cache` online")
    if entry is None or ctx.dry_run:
        docker.load_archive(ctx.runner, tar)
        return entry.id if entry is not None else ""

    def mismatch(what: str, ids: Sequence[str]) -> ChecksumMismatch:
        return ChecksumMismatch(
            f"{tar} {what} {', '.join(ids) or '(none)'}, not the {ref} that `invoke cache` saved (ID {entry.id})",
            hint=f"delete {tar} and run `invoke cache` while online",
        )

    held = image_cache.archive_image_ids(tar)  # checked before Docker sees the archive
    if not set(held) & set(entry.ids):
        raise mismatch("holds image", held)
    loaded = docker.load_archive(ctx.runner, tar)
    got = [*loaded.ids, *(docker.image_id(ctx.runner, r) for r in loaded.refs)]
    found = next((i for i in got if i in entry.ids), "")
    if not found:
        raise mismatch("loaded image", got)
    return found


def _load_cached_images(ctx: Context, refs: Sequence[str]) -> None:
    """Offline: make every pinned image present in the local Docker from .lab/cache (after `invoke cache`).

    REFS first, then whatever else the cache holds (the base image, the service images). An image already in
    Docker (by reference, or by the ID the cache index recorded) is not loaded again. A digest-pinned reference
    ends up tagged by its tag alone (kindest/node:v1.36.1), the name kind is given offline; see lab/image_cache.py.
    """
    index = image_cache.read_index(ctx.settings.cache_dir)
    wanted = list(dict.fromkeys([*refs, *index]))
    with ctx.ui.phase("Loading cached images (offline)") as phase:
        done = {ref: _restore_cached_image(ctx, ref, index.get(ref)) for ref in wanted}
        loaded = [ref for ref, action in done.items() if action == "loaded"]
        tagged = [ref for ref, action in done.items() if action == "tagged"]
        notes = [f"loaded {len(loaded)}"] if loaded else []
        notes += [f"tagged {len(tagged)}"] if tagged else []
        phase.note = ", ".join(notes) or "all present"


def _first_deploy(ctx: Context, app_root: Path) -> str | None:
    """Give the GitOps repo a real image before Argo CD looks at it: if dev still has the seed tag, ship once
    (no quality gate: this is set-up, not a release) and promote the image to staging and prod, so that every
    environment has a deploy commit and `invoke sync staging` works from the start. Each environment is checked
    on its own, so an `up` interrupted between the ship and the promotions finishes them."""
    repo = ship.gitops_repo(ctx, app_root=app_root)
    repo.created_by_up = not ctx.settings.gitops_remote  # the lab's git server: up has just started it
    with ctx.ui.phase("Checking the GitOps repo") as phase:
        repo.open(seed=True)
        images = {env.name: repo.image(env.name) for env in ENVIRONMENTS}
        seeded = [name for name, spec in images.items() if spec is None or spec.new_tag == SEED_TAG]
        dev = images["dev"]
        phase.note = (
            f"needs a first image in {', '.join(seeded)}" if seeded else f"dev deploys {dev.tagged if dev else '?'}"
        )
    if not seeded:
        return None
    tag = None
    if "dev" in seeded:
        ctx.ui.info(" First deploy: building the app image and committing it to every environment")
        # No image scan either (lab/steps/scan.py): set-up needs no scanner; its trailer Image-Scan says so.
        unscanned = dataclasses.replace(
            ctx.settings,
            scan_severity=SCAN_OFF,
            sources={**ctx.settings.sources, "scan_severity": "invoke up's first deploy (set-up, not a release)"},
        )
        first = dataclasses.replace(ctx, settings=unscanned)
        tag = ship.ship(first, app_root=app_root, gate=(), allow_dirty=True, no_wait=True, repo=repo, report=False).tag
    for source, target in (("dev", "staging"), ("staging", "prod")):
        if target in seeded:
            release.promote(ctx, source, target, app_root=app_root, repo=repo, report=False)
    return tag


def _gitops_url_in_cluster(ctx: Context) -> str:
    remote = ctx.settings.gitops_remote
    if remote and "://" not in remote:
        raise ConfigError(
            f"LAB_GITOPS_REMOTE={remote} is a local path: Argo CD in the cluster cannot read it",
            hint="use the lab's git server (unset LAB_GITOPS_REMOTE) or a URL the cluster can reach",
        )
    return services.in_cluster_gitops_url(ctx.settings)


def _gitops_credentials(ctx: Context) -> argocd_manifests.GitCredentials | None:
    """The user:password@ of LAB_GITOPS_REMOTE, for Argo CD's repository Secret (never for a URL)."""
    from lab.core.urls import split_url

    found = split_url(ctx.settings.gitops_remote)[1]
    return argocd_manifests.GitCredentials(found.username, found.password) if found is not None else None


def up(
    ctx: Context,
    *,
    force: bool = False,
    fix: bool = False,
    app_root: Path = ROOT,
    probes: doctor_steps.Probes | None = None,
    service_probes: services.Probes | None = None,
    provider: ClusterProvider | None = None,
    client: ApplicationClient | None = None,
) -> UpResult:
    """Bring the whole lab up on target local. Idempotent: a second run reuses everything that exists.

    PROBES (doctor) and SERVICE_PROBES (ports, readiness, ECR) stand in for the network in tests."""
    settings, ui = ctx.settings, ctx.ui
    if settings.target == "aws":
        raise ConfigError("target aws is brought up by `up_aws`", hint="invoke up --target aws --plan")
    repo_url = _gitops_url_in_cluster(ctx)  # a setting Argo CD cannot use fails before anything is changed
    if ctx.dry_run:
        ui.skipped("Preflight checks (invoke doctor)", "dry run: not run; `invoke doctor` runs them")
    else:
        _preflight(ctx, probes, fix=fix)
    ctx.checks_passed()  # from here on `up` changes things (tasks.py remembers its choices now)
    if settings.provider == "kind":
        kindbin.ensure_kind(ctx, fix=fix)  # a dry run shows the install it would make
    if settings.offline:
        _load_cached_images(ctx, [versions.KIND_NODE_IMAGE, *versions.ARGOCD_IMAGES])

    endpoints = services.ensure_services(ctx, force=force, probe=service_probes)
    prov = provider or provider_for(settings)
    cluster_steps.ensure_cluster(ctx, force=force, provider=prov)
    first = _first_deploy(ctx, app_root)

    present = [img for img in versions.ARGOCD_IMAGES if ctx.dry_run or docker.image_exists(ctx.runner, img)]
    if present:
        with ui.phase("Loading Argo CD images into the cluster") as phase:
            try:
                prov.load_images(ctx, present)
                phase.note = f"{len(present)} image(s): nodes will not pull them"
            except CommandFailed as exc:
                if settings.offline:
                    raise CommandFailed(
                        exc.argv,
                        exc.code,
                        exc.stderr_tail,
                        what="loading the Argo CD images into the cluster failed; offline, the nodes cannot pull them",
                        hint=LOAD_FAILED_HINT,
                    ) from exc
                # Online this only costs time: Argo CD's pods use imagePullPolicy IfNotPresent, so nodes pull.
                last = exc.stderr_tail.splitlines()[-1] if exc.stderr_tail else f"exit code {exc.code}"
                ui.warn(f"could not load the Argo CD images into the cluster ({last}): the nodes will pull them")
                phase.note = "not loaded: the nodes pull them"
    argocd_steps.ensure_argocd(ctx)
    argocd_steps.ensure_gitops_apps(ctx, repo_url, _gitops_credentials(ctx))
    argocd_steps.wait_env(ctx, "dev", client=client)

    ui.summary("up")
    ui.data(argocd_steps.ui_hint(ctx))
    ui.data(f"GitOps repo: {endpoints.gitops_url} (in the cluster: {repo_url})")
    ui.data(f"dev app: http://127.0.0.1:{environment('dev').host_port}/version")
    ui.next_steps(
        "invoke status",
        "edit app/, commit, then: invoke ship",
        "invoke demo-drift",
        "invoke promote --from dev --to staging && invoke sync staging",
    )
    return UpResult(repo_url, first)


def up_aws(
    ctx: Context,
    *,
    plan: bool = False,
    allow_real_aws: bool = False,
    yes: bool = False,
    force: bool = False,
    app_root: Path = ROOT,
) -> None:
    """Target aws: the same flow on EKS + ECR. PLAN (or --dry-run) prints every call and the cost; no AWS call.
    After the cluster, ECR and Argo CD, the first image goes to ECR and into every overlay, as on target local."""
    from lab.steps import aws as aws_steps

    result = aws_steps.up_aws(
        ctx,
        plan=plan,
        allow_real_aws=allow_real_aws,
        force=force,
        confirm=aws_steps.assume_yes if yes else aws_steps.ask,
    )
    if isinstance(result, aws_steps.Plan):
        return
    ecr_ctx = Context(dataclasses.replace(ctx.settings, push_registry="ecr"), ctx.runner, ctx.ui)
    _first_deploy(ecr_ctx, app_root)
    argocd_steps.wait_env(ctx, "dev")
    ctx.ui.next_steps("invoke status", "invoke ship --registry ecr")


def down_aws(ctx: Context, *, allow_real_aws: bool = False, yes: bool = False) -> None:
    """Target aws: delete only what carries the lab's tags, after a typed confirmation (or YES)."""
    from lab.steps import aws as aws_steps

    aws_steps.down_aws(ctx, allow_real_aws=allow_real_aws, confirm=aws_steps.assume_yes if yes else aws_steps.ask)


# ------------------------------------------------------------------------------------------------- down
def _remove_tree(root: Path, keep: Path | None) -> None:
    """`rm -rf ROOT`, except KEEP (a file under it) and the directories leading to it."""
    if keep is None or not keep.is_file() or root not in keep.parents:
        shutil.rmtree(root)
        return
    for child in root.iterdir():
        if child == keep:
            continue
        if child in keep.parents:
            _remove_tree(child, keep)
        elif child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def down(ctx: Context, *, purge: bool = False, keep_cache: bool = True) -> None:
    """Remove what the lab created, newest first: the cluster (only if the lab made it), then its containers.
    The GitOps bare repo and the cache under .lab stay unless PURGE (the whole of .lab, the lab's volumes and the
    images it built) or not KEEP_CACHE.

    Docker must answer (else nothing is looked at or removed). Without kind (or minikube) the lab's cluster cannot
    be deleted: everything else is removed all the same, the cluster's ownership record under .lab is kept (so a
    later `invoke down` still knows the cluster is the lab's), and ClusterNotRemoved says how to finish."""
    settings = ctx.settings
    if settings.target == "aws":
        raise ConfigError("target aws is taken down by `down_aws`", hint="invoke down --target aws")
    again = (
        "invoke down"
        + (" --purge" if purge else "")
        + (" --provider minikube" if settings.provider == "minikube" else "")
    )
    docker.require_daemon(ctx.runner, retry=again)
    left: cluster_steps.ClusterNotRemoved | None = None
    try:
        cluster_steps.delete_cluster(ctx, retry=again)
    except cluster_steps.ClusterNotRemoved as exc:
        left = exc
    services.delete_services(ctx, volumes=purge)
    if purge:
        services.delete_images(ctx)
    if purge or not keep_cache:
        target = settings.state_dir if purge else settings.cache_dir
        keep = marker_path(settings) if left is not None and purge else None
        with ctx.ui.phase(f"Removing {target}") as phase:
            if ctx.dry_run:
                ctx.ui.info(f"$ rm -rf {target}")
            elif target.exists():
                _remove_tree(target, keep)
                if keep is not None and keep.is_file():
                    phase.note = f"kept {keep}: the cluster is still there"
            else:
                phase.note = "not there"
    if left is not None:
        raise left
    ctx.ui.next_steps("invoke up")


# ------------------------------------------------------------------------------------------------- status
def _container_row(ctx: Context, what: str, name: str, endpoint: str) -> tuple[str, str, str]:
    state = docker.container_state(ctx.runner, name)
    if not state.exists:
        return (what, "absent", endpoint)
    word = "running" if state.running else "stopped"
    return (what, word + ("" if state.managed else " (not the lab's)"), endpoint)


def _deployment_row(ctx: Context, namespace: str) -> tuple[str, str]:
    """(running image tag, ready/desired) of the app Deployment in NAMESPACE."""
    try:
        obj = kubectl.get_json(ctx.runner, ctx.settings.kube_context, "deployment", "lab-app", namespace=namespace)
    except LabError:
        return ("?", "?")
    if not obj:
        return ("-", "0/0")
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    image = str(containers[0].get("image", "?"))
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]  # name:tag of registry/name:tag@sha256:...
    tag = last.split(":", 1)[1] if ":" in last else image
    st = obj.get("status", {})
    return (tag, f"{st.get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 0)}")


def status(ctx: Context, *, client: ApplicationClient | None = None) -> bool:
    """Print the components table and, with a cluster, one row per environment. True if the cluster answers.

    Docker must answer (DockerUnreachable otherwise: every container would look absent). A missing kind (or
    minikube, kubectl) hides only what it alone can see: the cluster is then looked up through Docker, every other
    row is shown, and a warning names the missing tool and how to install it."""
    s = ctx.settings
    docker.require_daemon(ctx.runner, retry="invoke status")
    prov = provider_for(s)
    missing: list[ToolNotFound] = []
    seen = ""
    try:
        exists = prov.exists(ctx)
    except ToolNotFound as exc:
        missing.append(exc)
        exists = bool(cluster_steps.node_containers(ctx, prov))
        seen = f" (seen through Docker: {prov.name} is not installed)"
    try:
        reachable = exists and kubectl.api_ready(ctx.runner, s.kube_context)
    except ToolNotFound as exc:
        missing.append(exc)
        reachable = False
        seen = seen or " (kubectl is not installed: API not checked)"
    rows = [
        (
            "cluster",
            f"{prov.name}: " + ("ready" if reachable else "not answering" if exists else "absent") + seen,
            s.kube_context,
        )
    ]
    if not s.registry:
        rows.append(_container_row(ctx, "registry", services.registry_spec(s).name, s.registry_host))
    else:
        rows.append(("registry", "external", s.registry_host))
    rows.append(_container_row(ctx, "ECR emulator", ECR_CONTAINER, s.emulator_endpoint))
    if not s.gitops_remote:
        rows.append(_container_row(ctx, "git server", GIT_CONTAINER, s.gitops_url))
    else:
        rows.append(("git server", "external", s.gitops_url))
    argocd = "-"
    if reachable:
        obj = kubectl.get_json(ctx.runner, s.kube_context, "deployment", "argocd-server", namespace="argocd")
        ready = obj and obj.get("status", {}).get("readyReplicas", 0)
        argocd = f"ready ({versions.ARGOCD_VERSION})" if ready else "not ready" if obj else "not installed"
    rows.append(("Argo CD", argocd, f"http://127.0.0.1:{s.argocd_port}"))
    ctx.ui.table("GitOps Lab", ("component", "state", "endpoint"), rows)
    for gap in missing:
        fix = kindbin.FIX_HINT if Path(gap.tool).name == "kind" else gap.hint
        ctx.ui.warn(f"{gap.message}: the table shows what Docker sees → {fix}")

    if not reachable:
        return False
    api = client or ApplicationClient.from_kubeconfig(s.kube_context)
    env_rows = []
    for env in ENVIRONMENTS:
        name = argocd_manifests.app_name(env)
        try:
            app = api.get_app(name)
            sync, health, rev = app.sync or "Unknown", app.health or "Unknown", app.revision[:7]
        except LabError:
            sync, health, rev = "-", "-", "-"
        tag, replicas = _deployment_row(ctx, env.namespace)
        mode = "auto + self-heal" if env.auto_sync else "manual"
        env_rows.append((env.name, mode, sync, health, rev, tag, replicas))
    ctx.ui.table("Environments", ("env", "sync policy", "sync", "health", "revision", "image tag", "ready"), env_rows)
    return True


# ------------------------------------------------------------------------------------------------- dashboard
def admin_password(ctx: Context) -> str | None:
    obj = kubectl.get_json(
        ctx.runner, ctx.settings.kube_context, "secret", "argocd-initial-admin-secret", namespace="argocd"
    )
    if not obj:
        return None
    encoded = (obj.get("data") or {}).get("password", "")
    return base64.b64decode(encoded).decode() if encoded else None


def dashboard(ctx: Context, *, start_port_forward: Callable[[list[str]], None] | None = None) -> str:
    """Print the Argo CD URL and admin login. kind maps the UI's NodePort to 127.0.0.1:<argocd_port>; minikube
    has no such mapping, so there the UI is port-forwarded (in the foreground, Ctrl-C stops it)."""
    s = ctx.settings
    if not kubectl.api_ready(ctx.runner, s.kube_context) and not ctx.dry_run:
        raise ClusterUnreachable(f"no cluster answers on context {s.kube_context}", hint="invoke up")
    url = f"http://127.0.0.1:{s.argocd_port}"
    password = None if ctx.dry_run else admin_password(ctx)
    ctx.ui.data(f"Argo CD: {url}")
    ctx.ui.data("user: admin")
    ctx.ui.data(f"password: {password}" if password else f"password: {argocd_steps.admin_password_hint()}")
    if s.provider == "minikube":
        argv = kubectl.port_forward_argv(
            s.kube_context, "svc/argocd-server", namespace="argocd", local_port=s.argocd_port, remote_port=80
        )
        if ctx.dry_run or start_port_forward is None:
            ctx.ui.info("$ " + " ".join(argv))
        else:
            start_port_forward(argv)
    return url


# ------------------------------------------------------------------------------------------------- cache
def _cached_is_current(ctx: Context, ref: str, tar: Path, entry: image_cache.CachedImage | None) -> bool:
    """The archive exists, the index describes it, and Docker has no other image under REF (a rebuilt service
    image or base image makes the archive stale). Only reads: a dry run asks Docker for real."""
    if entry is None or not tar.is_file() or tar.name != entry.file:
        return False
    local = docker.image_id(for_reading(ctx.runner), ref)
    return not local or local in entry.ids


def cache(ctx: Context, *, app_root: Path = ROOT) -> list[Path]:
    """Pull (or build) and save every pinned image, the Argo CD manifest and the app's wheels under .lab/cache, so
    that `invoke up --offline` and `invoke ship` need no network. Each image goes to its own archive, limited to
    the Docker host's platform (`docker image save --platform`, Docker 28+), and .lab/cache/images/index.json
    records the image IDs each archive loads as (see lab/image_cache.py); the wheels: lab/steps/app_image.py.

    A dry run asks Docker for real which images it has (reads only), so it plans the pulls the real run makes: never
    one of an image the lab builds (the service images) or of one already there (a locally built base image)."""
    saved: list[Path] = []
    with ctx.ui.phase(f"Argo CD {PIN.version} manifest") as phase:
        if ctx.dry_run:
            ctx.ui.info(f"  download {PIN.url} → {cache_path(ctx.settings)} (sha256 {PIN.sha256})")
        else:
            saved.append(fetch_install_manifest(ctx.settings))
        phase.note = str(cache_path(ctx.settings))
    built = services.build_service_images(ctx)
    refs = list(dict.fromkeys([*PULLED_IMAGES, ctx.settings.base_image, *built.keys()]))
    cache_dir = ctx.settings.cache_dir
    index = image_cache.read_index(cache_dir)
    platform = docker.save_platform(ctx.runner)
    for ref in refs:
        tar = cached_image_file(ctx, ref)
        with ctx.ui.phase(f"Caching {ref}") as phase:
            rebuilt = ctx.dry_run and built.get(ref) == "built"  # planned, not built: its new ID is not known yet
            if not rebuilt and _cached_is_current(ctx, ref, tar, index.get(ref)):
                phase.note = "already cached"
                saved.append(tar)
                continue
            if ref not in built and not docker.image_exists(for_reading(ctx.runner), ref):
                docker.pull(ctx.runner, ref)
            if not ctx.dry_run:
                tar.parent.mkdir(parents=True, exist_ok=True)
            docker.save_image(ctx.runner, [ref], tar, platform=platform)
            saved.append(tar)
            phase.note = str(tar) + (f" ({platform})" if platform else "")
            if ctx.dry_run:
                continue
            index[ref] = image_cache.CachedImage(
                ref=ref,
                file=tar.name,
                id=docker.image_id(ctx.runner, ref),
                archive_ids=image_cache.archive_image_ids(tar),
                platform=platform,
            )
            image_cache.write_index(cache_dir, index)  # after each image: an interrupted cache keeps what it did
    wheels = app_image.cache_wheels(ctx, app_root)  # for the app image: its build then needs no package index
    if wheels is not None:
        saved.append(wheels)
    scanner_db = scan.cache_db(ctx)  # for offline ships: the image scan's database (lab/steps/scan.py)
    if scanner_db is not None:
        saved.append(scanner_db)
    ctx.ui.next_steps("invoke up --offline")
    return saved


# ------------------------------------------------------------------------------------------------- sync
def _ask_yes(question: str) -> bool:
    """A y/N question on the terminal; no terminal (stdin closed) means no."""
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def sync(
    ctx: Context,
    env: str,
    *,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    client: ApplicationClient | None = None,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
) -> None:
    """Manual sync of ENV: show what would change (`kubectl diff` of the rendered overlay against the live
    objects), ask on prod unless YES, then patch the Application's `operation` and wait for Synced + Healthy.

    The diff only reads, so a dry run renders and diffs for real (lab.core.runner.for_reading), from its scratch copy of
    the GitOps repo; with no cluster to diff against it shows the rendered overlay and marks the diff skipped."""
    target = environment(env)
    if target.auto_sync:
        ctx.ui.info(f" {env} syncs automatically (self-heal on); a manual sync starts one right away")
    watcher = argocd_steps.ArgoWatcher(ctx, client)
    if not ctx.dry_run:  # the check ship and rollback make: no cluster is ClusterUnreachable, hint `invoke up`
        ship.check_cluster(ctx, watcher, env, unchanged="nothing was changed")
    gitops = repo or ship.gitops_repo(ctx, app_root=app_root)
    reader = for_reading(ctx.runner)
    context = ctx.settings.kube_context
    no_cluster = ctx.dry_run and not kubectl.api_ready(reader, context)
    with ctx.ui.phase(f"Diff: {env} in git vs live") as phase:
        gitops.open(seed=False)
        head = gitops.resolve(gitops.remote_head) or "HEAD"
        rendered = kustomize.render(reader, gitops.workdir / "overlays" / env)
        if no_cluster:
            ctx.ui.data(f"# {env} at {head[:7]}: what the sync applies")
            ctx.ui.data(rendered.rstrip())
            phase.skip(f"dry run: no cluster answers on context {context} to diff against; the real run needs one")
        elif kubectl.get_json(reader, context, "namespace", target.namespace) is None:
            # kubectl diff dry-runs on the server, which fails for objects in a namespace that does not exist yet
            # (kubernetes/kubectl#1331): on a first sync everything is new, so show it all.
            ctx.ui.data(f"# first sync of {env}: namespace {target.namespace} and everything below will be created")
            ctx.ui.data(rendered.rstrip())
            phase.note = "first sync: all new"
        else:
            # What the sync applies: the overlay plus Argo CD's tracking annotation (else it shows as removed).
            applied = as_argocd_applies(rendered, argocd_manifests.app_name(target), target.namespace)
            res = kubectl.diff(reader, context, applied)
            if res.returncode == 0:
                phase.note = "no differences"
            elif res.returncode == 1:
                ctx.ui.data(res.stdout.rstrip())
                phase.note = "differences above"
            else:
                last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit code {res.returncode}"
                raise ClusterUnreachable(f"kubectl diff failed: {last}", hint="is the lab up? `invoke status`")
    if env == "prod" and not yes and not ctx.dry_run:
        ask = confirm or _ask_yes
        if not ask(f"Sync prod to {head[:7]}? [y/N] "):
            raise Refused("prod sync not confirmed", hint="re-run with --yes to skip the question")
    if ctx.dry_run:
        app = argocd_manifests.app_name(target)
        ctx.ui.info(
            f"$ kubectl --context {ctx.settings.kube_context} -n argocd patch application {app} --type merge "
            + "-p "
            + json.dumps(
                {
                    "operation": {
                        "initiatedBy": {"username": "gitops-lab"},
                        "sync": {"prune": True, "syncOptions": ["CreateNamespace=true"]},
                    }
                }
            )
        )
        return
    with ctx.ui.phase(f"Sync {env}"):
        watcher.sync(env)
    start = time.monotonic()
    argocd_steps.wait_env(ctx, env, revision=None if head == "HEAD" else head, client=watcher.client)
    ctx.ui.info(f" {env} Synced and Healthy {time.monotonic() - start:.1f}s after the sync started")
