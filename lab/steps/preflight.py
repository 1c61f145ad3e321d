"""`invoke doctor` for the lab: the checks of lab/steps/doctor.py with the kind binary and the host ports the
lab's own containers already publish, and the preflight `up` runs first."""

from __future__ import annotations

import re
from collections.abc import Callable

from lab.core import versions
from lab.core.context import Context
from lab.core.errors import Conflict, PreflightFailed, ToolNotFound
from lab.core.runner import Runner
from lab.providers import LOCAL_PROVIDERS
from lab.steps import doctor as doctor_steps
from lab.steps import kindbin
from lab.tools import docker


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


def _checks_kind(ctx: Context) -> bool:
    """The kind binary is checked (and, with --fix, installed) when the settings select kind, on any target: the
    lab installs its pinned kind itself (capability installs_pinned_cli)."""
    local = LOCAL_PROVIDERS.get(ctx.settings.provider)
    return local is not None and local.capabilities.installs_pinned_cli


def doctor(ctx: Context, *, fix: bool = False, probes: doctor_steps.Probes | None = None) -> bool:
    """Print the preflight table; True when every required check passed. FIX installs the pinned kind."""
    if fix and ctx.settings.target == "local" and _checks_kind(ctx):
        try:
            kindbin.ensure_kind(ctx, fix=False)
        except ToolNotFound:
            kindbin.ensure_kind(ctx, fix=True)
    checks = doctor_steps.run_checks(
        ctx,
        probes=probes,
        owned_ports=owned_ports(ctx.runner, ctx.settings.cluster_name),
        kind_check=kind_check if _checks_kind(ctx) else None,
    )
    return doctor_steps.report(ctx, checks)


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
            kind_check=_kind_check_for_up(fix) if _checks_kind(ctx) else None,
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
