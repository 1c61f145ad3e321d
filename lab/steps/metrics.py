"""`invoke metrics`: the four DORA keys per environment, from the GitOps history (and Argo CD's, when it answers).

fetch the GitOps remote (read only) ─► per environment: its overlay's commits (lab/metrics/history.py) ─►
Argo CD's status.history, if a cluster answers ─► lab/metrics/dora.py ─► table, chart, JSON, HTML, Prometheus
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from lab.core.config import ENV_NAMES, ROOT, environment
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, Conflict, Refused
from lab.gitops.repo import GitOpsRepo, utc_now
from lab.manifests.argocd import app_name
from lab.metrics import dora, history, report
from lab.steps.ship import gitops_repo

AppReader = Callable[[str], Mapping[str, Any]]  # Application name → the object; ClusterUnreachable / Conflict
SINCE_FORMAT = "YYYY-MM-DD (UTC midnight) or an ISO 8601 time such as 2026-11-28T14:00:00Z"


def parse_since(text: str, now: datetime) -> datetime:
    """--since: a date (UTC midnight) or an ISO 8601 time (no offset: UTC). Not after NOW. ConfigError (exit 2)."""
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), UTC)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a date or time", hint=f"valid values: {SINCE_FORMAT}") from None
    if moment > now:
        raise ConfigError(
            f"--since {text!r} is in the future (now is {now.isoformat(timespec='seconds')})",
            hint=f"valid values: a past {SINCE_FORMAT}",
        )
    return moment


@dataclass(frozen=True)
class EnvReport:
    figures: dora.Figures
    events: tuple[dora.Event, ...]
    cluster: str  # "" when Argo CD answered; else why the figures come from git alone


def collect(
    ctx: Context,
    envs: Sequence[str],
    *,
    since: datetime | None = None,
    read_app: AppReader | None = None,
    app_root: Path = ROOT,
    repo: GitOpsRepo | None = None,
    now: Callable[[], datetime] = utc_now,
) -> list[EnvReport]:
    """The figures of ENVS. READ_APP None: no cluster is asked (the figures come from git)."""
    for env in envs:
        environment(env)
    until = now()
    gitops = repo or gitops_repo(ctx, app_root=app_root)
    try:
        gitops.open(seed=False, read_only=True)  # fetch only: the working clone stays as it is
        empty = False
    except Refused as exc:
        ctx.ui.info(exc.message)
        empty = True
    unreachable = "" if read_app is not None else "no cluster asked"
    out = []
    for env in envs:
        if empty:
            found = history.GitHistory([], None)
        else:
            found = history.read_git(ctx.runner, gitops.workdir, gitops.remote_head, env, app_root)
        if found.missing_app_commits:
            ctx.ui.warn(
                f"{env}: {len(found.missing_app_commits)} app commit(s) named by deploys are not in {app_root} "
                f"(e.g. {found.missing_app_commits[0][:12]}): no lead time for them"
            )
        events = found.events
        argocd = False
        why = ""
        if read_app is not None and not unreachable:
            try:
                app = history.parse_app(read_app(app_name(environment(env))))
            except ClusterUnreachable as exc:
                unreachable = exc.message  # not asked again for the other environments
            except Conflict as exc:  # this environment's Application is missing: the others may be there
                why = exc.message
            else:
                carried = history.carried_deploys(ctx.runner, gitops.workdir, env, [s.revision for s in app.syncs])
                events = history.attach_syncs(events, app, carried)
                argocd = True
        start = since or found.start or until
        figures = dora.compute(events, env=env, since=min(start, until), until=until, argocd=argocd)
        out.append(EnvReport(figures, tuple(events), "" if argocd else why or unreachable or "no cluster asked"))
    return out


def show(ctx: Context, reports: Sequence[EnvReport], *, as_json: bool = False, chart: bool = True) -> None:
    """Print the reports: JSON on stdout (keyed by environment), or the table, its definitions and the chart."""
    figures = [r.figures for r in reports]
    reasons = {r.cluster for r in reports if r.cluster}
    if len(reasons) == 1 and all(r.cluster for r in reports):
        ctx.ui.info(f"no cluster answers ({reasons.pop()}): the figures come from git (commit times)")
    else:
        for r in reports:
            if r.cluster:
                ctx.ui.info(f"{r.figures.env}: {r.cluster}: its figures come from git (commit times)")
    for f in figures:
        for line in report.notes(f):
            ctx.ui.warn(line)
    if as_json:
        ctx.ui.data(json.dumps({f.env: f.as_json() for f in figures}, indent=2))
        return
    windows = {(f.since, f.until) for f in figures}
    title = "Delivery metrics (DORA)"
    if len(windows) == 1:
        since, until = windows.pop()
        title += f", {since.isoformat(timespec='seconds')} → {until.isoformat(timespec='seconds')}"
    ctx.ui.table(title, report.COLUMNS, [report.row(f) for f in figures])
    ctx.ui.data(report.DEFINITIONS)
    if chart:
        for f in figures:
            ctx.ui.data("")
            ctx.ui.data(report.chart(f))


def write_html(path: Path, reports: Sequence[EnvReport], now: datetime) -> None:
    figures = [r.figures for r in reports]
    notes = [n for f in figures for n in report.notes(f)]
    _write(path, report.html_report(figures, generated=now.isoformat(timespec="seconds"), notes_text=notes))


def write_prometheus(path: Path, reports: Sequence[EnvReport]) -> None:
    """The Prometheus textfile, written whole (a temporary file renamed over it: a collector never reads half)."""
    _write(path, report.prometheus([r.figures for r in reports]))


def check_target(path: Path, flag: str) -> Path:
    """The file FLAG names, if it can be written there (ConfigError, exit 2, before anything is computed)."""
    target = path.expanduser()
    if target.is_dir():
        raise ConfigError(f"{flag} {path}: is a directory", hint=f"name a file to write, e.g. {flag} metrics.out")
    if not target.parent.is_dir():
        raise ConfigError(
            f"{flag} {path}: {target.parent} does not exist", hint="create the directory first, or name another file"
        )
    return target


def _write(path: Path, text: str) -> None:
    target = check_target(path, "the file")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)


def environments(env: str | None) -> list[str]:
    """ENV (checked), or every environment."""
    if env is None:
        return list(ENV_NAMES)
    environment(env)
    return [env]
