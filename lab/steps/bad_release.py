"""`invoke demo-bad-release`: deploy to dev a release that is up and ready but answers 500 on one route, so that
the error ratio and the `LabAppErrorRatioHigh` alert have something to show (docs/tutorial.md, "Observe").

The release is dev's current image with one setting more, `APP_FAULT_ROUTES` (app/settings.py): an image built
FROM it, pushed, and deployed as an ordinary deploy commit (the deploy trailers), so that `invoke rollback dev`
undoes it like any other. The app refuses that setting when APP_ENV is prod: a promoted bad release never starts
there (its pods fail at startup and the old ones keep serving).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.core.config import environment
from lab.core.context import Context
from lab.core.errors import Refused
from lab.gitops.overlay import ImageSpec
from lab.gitops.watcher import DeployWatcher, EnvStatus
from lab.registries import repositories
from lab.steps.deploy_wait import check_cluster, refresh_and_wait
from lab.steps.ship import gitops_repo
from lab.tools import docker

ENV = "dev"
DEFAULT_ROUTE = "/api/v1/items"
TAG_SUFFIX = "-bad"
APP_COMMIT = "demo-bad-release"  # the App-Commit trailer: no app commit made this image
# Not `ARG APP_IMAGE_TAG`: the base image's ENV of that name would win the substitution (Dockerfile reference:
# "Environment variables defined using the ENV instruction always override an ARG instruction of the same name").
DOCKERFILE = (
    "ARG GOOD_IMAGE\n"
    "FROM ${GOOD_IMAGE}\n"
    "ARG BAD_TAG\n"
    "ARG FAULT_ROUTES\n"
    "ENV APP_IMAGE_TAG=${BAD_TAG} APP_FAULT_ROUTES=${FAULT_ROUTES}\n"
)


@dataclass(frozen=True)
class BadRelease:
    image: str  # what dev deploys now
    tag: str
    digest: str
    gitops_commit: str
    good_tag: str  # the release it was built from (what `invoke rollback dev` goes back to)
    status: EnvStatus | None = None


def demo_bad_release(
    ctx: Context,
    route: str = DEFAULT_ROUTE,
    *,
    watcher: DeployWatcher | None = None,
    no_wait: bool = False,
) -> BadRelease:
    """Build dev's current image with APP_FAULT_ROUTES=ROUTE, push it, deploy it to dev; wait until it runs."""
    settings = ctx.settings
    repo = gitops_repo(ctx, app_sha="")
    repo.open(seed=False)
    current = repo.image(ENV)
    if current is None or current.new_tag in ("", "seed"):
        raise Refused(f"{ENV} runs no release of the pipeline yet", hint="invoke ship")
    if current.new_tag.endswith(TAG_SUFFIX):
        raise Refused(f"{ENV} already runs a bad release ({current.new_tag})", hint=f"invoke rollback {ENV}")
    if watcher is not None and not no_wait:
        check_cluster(ctx, watcher, ENV)
    repos = repositories(settings)
    good_push = f"{repos.push}:{current.new_tag}"
    runner = ctx.runner
    if not docker.image_exists(runner, good_push):
        docker.pull(runner, good_push)
    tag = current.new_tag + TAG_SUFFIX
    build_dir = Path(settings.state_dir) / "bad-release"
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "Dockerfile").write_text(DOCKERFILE)
    with ctx.ui.phase(f"Build {tag}: {current.new_tag} with APP_FAULT_ROUTES={route}"):
        docker.build(
            runner,
            build_dir,
            [f"{repos.push}:{tag}"],
            build_args={"GOOD_IMAGE": good_push, "BAD_TAG": tag, "FAULT_ROUTES": route},
            labels=docker.labels_for("app", settings.cluster_name),
        )
    with ctx.ui.phase(f"Push {repos.push}:{tag}") as ph:
        digest = docker.push(runner, f"{repos.push}:{tag}")
        ph.note = digest[:19]
    spec = ImageSpec(repos.pull, tag, digest if current.digest else "")
    with ctx.ui.phase(f"Commit the bad release to {ENV}'s overlay") as ph:
        committed = repo.bump(ENV, spec, app_commit=APP_COMMIT, digest=digest)
        ph.note = committed.sha[:7]
    status = None
    if watcher is not None:
        status = refresh_and_wait(ctx, watcher, ENV, committed.sha, spec.reference, no_wait=no_wait)
    url = f"http://127.0.0.1:{environment(ENV).host_port}{route}"
    ctx.ui.next_steps(f"curl -s {url}", f"invoke rollback {ENV}")
    return BadRelease(spec.reference, tag, digest, committed.sha, current.new_tag, status)
