"""The git server (nginx + fcgiwrap + `git http-backend`, the setup Argo CD's own e2e tests use) serving the
GitOps repo's bare repository from the host's .lab/git, unless LAB_GITOPS_REMOTE names a remote."""

from __future__ import annotations

import os
from pathlib import Path

from lab.components.base import Component, Down, HostPort, Row, StatusView, Up
from lab.components.containers import (
    ContainerSpec,
    Probes,
    container_row,
    ensure_container,
    remove_service,
    status_ok,
)
from lab.components.service_images import COMPONENT_GIT
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.providers.wiring import GIT_CONTAINER
from lab.tools import git

GIT_CONTAINER_PORT = 8080  # nginx in lab/images/gitserver listens here
GITOPS_REPO = "gitops.git"
GIT_READY_TIMEOUT = 30.0


def git_root(settings: Settings) -> Path:
    """Host directory of the bare repositories the git server serves (bind-mounted at /srv/git)."""
    return settings.state_dir / "git"


def gitops_repo_path(settings: Settings) -> Path:
    return git_root(settings) / GITOPS_REPO


def in_cluster_gitops_url(settings: Settings) -> str:
    """The GitOps repo as pods (Argo CD) reach it: the git server by name on the `kind` network; an external remote
    without its credentials (Argo CD reads them from the repository Secret)."""
    return (
        settings.gitops_url if settings.gitops_remote else f"http://{GIT_CONTAINER}:{GIT_CONTAINER_PORT}/{GITOPS_REPO}"
    )


def ensure_bare_repo(ctx: Context, path: Path | None = None, *, branch: str = "main") -> Path:
    """An empty bare repository (default: the GitOps repo) that accepts pushes over smart HTTP."""
    repo = path or gitops_repo_path(ctx.settings)
    if not (repo / "HEAD").is_file():
        if not ctx.dry_run:
            repo.parent.mkdir(parents=True, exist_ok=True)
        git.git(ctx.runner, None, "init", "--bare", "--quiet", "-b", branch, str(repo))
    # Anonymous push: git http-backend refuses receive-pack without REMOTE_USER unless this is set.
    git.git(ctx.runner, repo, "config", "http.receivepack", "true")
    return repo


def _user_flag() -> tuple[str, ...]:
    """Run as the host user so pushes write host-owned files (no uid on Windows: keep the image's user)."""
    getuid = getattr(os, "getuid", None)
    getgid = getattr(os, "getgid", None)
    if getuid is None or getgid is None:
        return ()
    return ("--user", f"{getuid()}:{getgid()}")


def git_server_spec(settings: Settings) -> ContainerSpec:
    port = settings.git_port
    return ContainerSpec(
        component=COMPONENT_GIT,
        name=GIT_CONTAINER,
        image=versions.GITSERVER_IMAGE,
        host_port=port,
        container_port=GIT_CONTAINER_PORT,
        port_setting="LAB_GIT_PORT",
        ready_url=f"http://127.0.0.1:{port}/{GITOPS_REPO}/info/refs?service=git-upload-pack",
        ready=status_ok(200),
        ready_timeout=GIT_READY_TIMEOUT,
        volumes=((str(git_root(settings)), "/srv/git"),),
        extra=_user_flag(),
    )


def ensure_git_server(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> str:
    """The GitOps repo URL the host pushes to. Runs the lab's git server unless LAB_GITOPS_REMOTE is set."""
    settings = ctx.settings
    if settings.gitops_remote:
        ctx.ui.info(f"  GitOps remote: {settings.gitops_url} (LAB_GITOPS_REMOTE): no git server started")
        return settings.gitops_url
    probe = probe or Probes()
    spec = git_server_spec(settings)
    with ctx.ui.phase(f"Ensuring git server {spec.name} (127.0.0.1:{spec.host_port})") as phase:
        ensure_bare_repo(ctx)
        phase.note = ensure_container(ctx, spec, force=force, probe=probe)
    return settings.gitops_url


class GitServerComponent(Component):
    name = "git"

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [] if settings.gitops_remote else [HostPort(settings.git_port, "git server")]

    def ensure(self, run: Up) -> None:
        run.made[self.name] = ensure_git_server(run.ctx, force=run.force, probe=run.service_probes)

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        if s.gitops_remote:
            return [("git server", "external", s.gitops_url)]
        return [container_row(view.ctx, "git server", GIT_CONTAINER, s.gitops_url)]

    def remove(self, run: Down) -> None:
        remove_service(run.ctx, COMPONENT_GIT, "git server", volumes=run.purge)
