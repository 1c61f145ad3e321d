"""`invoke up`: preflight, the pinned tools, then every component of the target in order (lab/components), then
wait for dev. On target local:

    preflight ─► kind binary ─► [offline: load cached images] ─► build the service images
      ─► registry, ECR emulator, git server ─► cluster (+ registry wiring) ─► first image in the GitOps repo
      ─► Argo CD (images side-loaded) ─► repo, project, Applications ─► wait for dev: Synced + Healthy
      ─► URL, password, next command

Each component is idempotent, so `up` after a half-finished `up` finishes the job. The aws target runs the same
list (lab/steps/aws_up.py) after its guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import components, registries
from lab.clients.argocd import ApplicationClient
from lab.components import services
from lab.components.base import Up
from lab.core.config import ENVIRONMENTS, ROOT, SCAN_OFF, environment
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.gitops.overlay import SEED_TAG
from lab.providers import LocalCluster, capabilities_for
from lab.steps import argocd as argocd_steps
from lab.steps import doctor as doctor_steps
from lab.steps import kindbin, release, ship
from lab.steps.cache import load_cached_images
from lab.steps.preflight import _preflight


@dataclass(frozen=True)
class UpResult:
    gitops_url_in_cluster: str
    first_tag: str | None  # the image `up` built for the first deploy, if it had to


def _first_deploy(ctx: Context, app_root: Path, *, registry: registries.Registry | None = None) -> str | None:
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
        tag = ship.ship(
            first,
            app_root=app_root,
            gate=(),
            allow_dirty=True,
            no_wait=True,
            repo=repo,
            report=False,
            registry=registry,
        ).tag
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


def up(
    ctx: Context,
    *,
    force: bool = False,
    fix: bool = False,
    app_root: Path = ROOT,
    probes: doctor_steps.Probes | None = None,
    service_probes: services.Probes | None = None,
    provider: LocalCluster | None = None,
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
    if capabilities_for(settings).installs_pinned_cli:
        kindbin.ensure_kind(ctx, fix=fix)  # a dry run shows the install it would make
    if settings.offline:
        load_cached_images(ctx, components.pulled_images(settings))
    services.build_service_images(ctx)  # before any service runs (offline: checks they are there)

    run = Up(
        ctx,
        force=force,
        app_root=app_root,
        service_probes=service_probes,
        provider=provider,
        first_deploy=lambda r: _first_deploy(r.ctx, app_root),
    )
    run.made["gitops_url_in_cluster"] = repo_url
    for component in components.enabled(settings):
        component.ensure(run)
    argocd_steps.wait_env(ctx, "dev", client=client)

    ui.summary("up")
    ui.data(argocd_steps.ui_hint(ctx))
    ui.data(f"GitOps repo: {run.made['git']} (in the cluster: {repo_url})")
    ui.data(f"dev app: http://127.0.0.1:{environment('dev').host_port}/version")
    for component in components.enabled(settings):  # the notification receiver, Prometheus ...
        for what, link in component.dashboard_links(settings):
            ui.data(f"{what}: {link}")
    ui.next_steps(
        "invoke status",
        "edit app/, commit, then: invoke ship",
        "invoke demo-drift",
        "invoke promote --from dev --to staging && invoke sync staging",
    )
    return UpResult(repo_url, run.made.get("first deploy"))


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
    After the cluster and ECR, the first image goes to ECR and into every overlay, then Argo CD, as on target local."""
    from lab.steps import aws as aws_steps

    result = aws_steps.up_aws(
        ctx,
        plan=plan,
        allow_real_aws=allow_real_aws,
        force=force,
        confirm=aws_steps.assume_yes if yes else aws_steps.ask,
        first_deploy=_aws_first_deploy(app_root),
    )
    if isinstance(result, aws_steps.Plan):
        return
    argocd_steps.wait_env(ctx, "dev")
    ctx.ui.next_steps("invoke status", "invoke ship --registry ecr")


def _aws_first_deploy(app_root: Path) -> Callable[[Up], str | None]:
    """The first deploy of target aws: with up's settings for it (ECR), to the registry up provisioned."""

    def deploy(run: Up) -> str | None:
        ctx = Context(registries.up_settings(run.settings), run.ctx.runner, run.ctx.ui)
        return _first_deploy(ctx, app_root, registry=run.made.get("push_to"))

    return deploy
