"""`invoke down`: every component of the target removes what the lab made of it, newest first (lab/components),
then the state under .lab as asked."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import components
from lab.components import services
from lab.components.base import Down
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.providers import marker_path
from lab.tools import docker


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
    """Remove what the lab created, newest first (the component list backwards): the cluster (only if the lab made
    it), then its containers.
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
        + (f" --provider {settings.provider}" if settings.provider != Settings.provider else "")
    )
    docker.require_daemon(ctx.runner, retry=again)
    run = Down(ctx, purge=purge, retry=again)
    for component in reversed(components.of_target(settings)):
        component.remove(run)
    left = run.left
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


def down_aws(ctx: Context, *, allow_real_aws: bool = False, yes: bool = False) -> None:
    """Target aws: delete only what carries the lab's tags, after a typed confirmation (or YES)."""
    from lab.steps import aws as aws_steps

    aws_steps.down_aws(ctx, allow_real_aws=allow_real_aws, confirm=aws_steps.assume_yes if yes else aws_steps.ask)
