"""The four DORA keys of one environment, computed from its deploy events. Pure: no git, no cluster, no clock.

An event is one commit on the environment's overlay in the GitOps repo, oldest first (lab/metrics/history.py
reads them; with Argo CD answering, it adds when each one went live). Definitions (docs/metrics.md):

- deployments: deploys, promotions and untrailered image changes that went live in the window [since, until);
  rollbacks (the lab's, and reverts made by hand) are not deployments.
- deployment_frequency_per_day: deployments / the window's length in days (a window shorter than one day counts
  as one day, so a fresh lab does not report thousands of deploys per day).
- lead_time_seconds: the app commit's time (committer date, app repo) → the deploy live in the environment.
  An app commit dated after its deploy (clocks that disagree) counts as 0 s, and is counted in `clock_skew`.
- change_failure_rate: the share of the window's deployments that a later rollback or revert undid.
- time_to_restore_seconds: a failed deployment live → the rollback that undid it live.
- A rollback that is itself undone (a rollback of a rollback: a revert of it, or a rollback back to the image it
  took away) withdraws its verdict: the deploys it undid count as not failed. Both commits count in `rollbacks`.

median: the middle value of the sorted samples, the mean of the two middle ones for an even count.
p90: nearest rank: the smallest sample that at least 90 % of the samples do not exceed (sorted[ceil(0.9 n) - 1]).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEPLOY = "deploy"
PROMOTE = "promote"
ROLLBACK = "rollback"
REVERT_BY_HAND = "revert-by-hand"
UNTRAILERED = "untrailered"
KINDS = (DEPLOY, PROMOTE, ROLLBACK, REVERT_BY_HAND, UNTRAILERED)
DEPLOY_KINDS = frozenset({DEPLOY, PROMOTE, UNTRAILERED})  # what `deployments` counts
RESTORE_KINDS = frozenset({ROLLBACK, REVERT_BY_HAND})  # what `rollbacks` counts

GIT = "git"
ARGOCD = "argocd"
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Event:
    """One commit on overlays/<env> of the GitOps repo."""

    sha: str
    kind: str  # one of KINDS
    committed_at: datetime  # the GitOps commit's committer date
    image: str = ""  # the overlay's image after the commit (name:tag)
    app_commit: str = ""  # the App-Commit trailer
    app_committed_at: datetime | None = None  # that commit's committer date in the app repo, when it is there
    undoes: tuple[str, ...] = ()  # what a rollback undid: its Rollback-Of trailers, or "This reverts commit X"
    live_at: datetime | None = None  # Argo CD: deployedAt of the first sync that ran it (None: git time stands)
    sync_started_at: datetime | None = None  # Argo CD: deployStartedAt of that sync (this commit was its revision)
    pending: bool = False  # Argo CD answered and has not (or not healthily) run it yet

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r} (one of {', '.join(KINDS)})")
        for name in ("committed_at", "app_committed_at", "live_at", "sync_started_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"Event.{name} must be an aware datetime")

    @property
    def live(self) -> datetime:
        """When it went live: Argo CD's sync time when known, else the GitOps commit's time."""
        return self.live_at or self.committed_at

    @property
    def live_source(self) -> str:
        return ARGOCD if self.live_at is not None else GIT


def median(values: Sequence[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: sorted[ceil(0.9 n) - 1]; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _source(sources: Iterable[str]) -> str | None:
    """ "git", "argocd", "argocd+git" (some of each), or None (no samples)."""
    seen = set(sources)
    if not seen:
        return None
    return seen.pop() if len(seen) == 1 else f"{ARGOCD}+{GIT}"


@dataclass(frozen=True)
class Day:
    """One day of the window (UTC), for the charts."""

    day: date
    deployments: int
    failed: int
    rollbacks: int
    lead_time_median: float | None


@dataclass(frozen=True)
class Figures:
    env: str
    source: str  # "argocd" when Argo CD answered for the environment, else "git"
    since: datetime
    until: datetime
    deployments: int
    deployment_frequency_per_day: float
    lead_times: tuple[float, ...]
    change_failure_rate: float | None
    failed: tuple[str, ...]  # shas of the failed deployments
    restore_times: tuple[float, ...]
    rollbacks: int
    durations: tuple[float, ...]  # Argo CD: sync durations of the deployments
    untrailered: int
    clock_skew: int  # lead times that would have been negative (counted as 0)
    no_lead_time: int  # deployments without a lead time (no app commit, not in the app repo, not live yet)
    sources: dict[str, str | None] = field(default_factory=dict)
    days: tuple[Day, ...] = ()

    @property
    def window_days(self) -> float:
        return (self.until - self.since).total_seconds() / SECONDS_PER_DAY

    def as_json(self) -> dict[str, Any]:
        """The `invoke metrics --json` object of the environment (the first seven keys are a contract)."""
        return {
            "deployments": self.deployments,
            "deployment_frequency_per_day": round(self.deployment_frequency_per_day, 6),
            "lead_time_seconds": {"median": median(self.lead_times), "p90": p90(self.lead_times)},
            "change_failure_rate": None if self.change_failure_rate is None else round(self.change_failure_rate, 6),
            "time_to_restore_seconds": {"median": median(self.restore_times)},
            "rollbacks": self.rollbacks,
            "source": self.source,
            "env": self.env,
            "window": {
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
                "days": round(self.window_days, 6),
            },
            "failed_deployments": len(self.failed),
            "lead_time_samples": len(self.lead_times),
            "time_to_restore_samples": len(self.restore_times),
            "deployment_duration_seconds": {
                "median": median(self.durations),
                "p90": p90(self.durations),
                "samples": len(self.durations),
            },
            "untrailered_deployments": self.untrailered,
            "clock_skew": self.clock_skew,
            "no_lead_time": self.no_lead_time,
            "sources": dict(self.sources),
            "days": [
                {
                    "day": d.day.isoformat(),
                    "deployments": d.deployments,
                    "failed": d.failed,
                    "rollbacks": d.rollbacks,
                    "lead_time_median": d.lead_time_median,
                }
                for d in self.days
            ],
        }


def failures(events: Sequence[Event]) -> dict[str, Event]:
    """Deployment sha → the rollback that undid it (the first one), for EVENTS oldest first, after withdrawing the
    verdicts of rollbacks that were undone themselves (module docstring)."""
    by_sha = {e.sha: e for e in events}
    failed_by: dict[str, Event] = {}
    for i, event in enumerate(events):
        if event.kind not in RESTORE_KINDS:
            continue
        for sha in event.undoes:
            target = by_sha.get(sha)
            if target is None:
                continue  # outside the history read (or not this environment's)
            if target.kind in DEPLOY_KINDS:
                failed_by.setdefault(sha, event)
            elif target.kind in RESTORE_KINDS:  # a revert of a rollback: its verdict is withdrawn
                for deploy, rollback in list(failed_by.items()):
                    if rollback.sha == sha:
                        del failed_by[deploy]
        # A rollback back to the image that an earlier rollback took away from a deploy withdraws that verdict.
        if event.image:
            for earlier in events[:i]:
                undone_by = failed_by.get(earlier.sha)
                if undone_by is not None and undone_by is not event and earlier.image == event.image:
                    del failed_by[earlier.sha]
    return failed_by


def compute(
    events: Sequence[Event],
    *,
    env: str,
    since: datetime,
    until: datetime,
    argocd: bool = False,
) -> Figures:
    """The figures of ENV over [SINCE, UNTIL) from EVENTS (oldest first). ARGOCD: Argo CD answered for ENV."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("compute needs aware datetimes for since and until")
    if until < since:
        raise ValueError(f"the window ends ({until.isoformat()}) before it starts ({since.isoformat()})")

    def inside(e: Event) -> bool:
        return since <= e.live < until

    failed_by = failures(events)
    deployments = [e for e in events if e.kind in DEPLOY_KINDS and inside(e)]
    rollbacks = [e for e in events if e.kind in RESTORE_KINDS and inside(e)]

    lead, lead_sources, skew = _lead_times(deployments)
    failed = [e for e in deployments if e.sha in failed_by]
    restore, restore_sources = _restore_times(failed, failed_by)
    durations = [
        (e.live_at - e.sync_started_at).total_seconds()
        for e in deployments
        if e.live_at is not None and e.sync_started_at is not None
    ]
    days_long = max((until - since).total_seconds() / SECONDS_PER_DAY, 1.0)
    counted = _source(e.live_source for e in [*deployments, *rollbacks])
    sources: dict[str, str | None] = {
        "deployments": counted or (ARGOCD if argocd else GIT),
        "deployment_frequency_per_day": counted or (ARGOCD if argocd else GIT),
        "lead_time_seconds": _source(lead_sources),
        "change_failure_rate": GIT if deployments else None,  # what undid what: the commits' trailers and messages
        "time_to_restore_seconds": _source(restore_sources),
        "rollbacks": _source(e.live_source for e in rollbacks) or GIT,
        "deployment_duration_seconds": ARGOCD if durations else None,
    }
    return Figures(
        env=env,
        source=ARGOCD if argocd else GIT,
        since=since,
        until=until,
        deployments=len(deployments),
        deployment_frequency_per_day=len(deployments) / days_long,
        lead_times=tuple(lead.values()),
        change_failure_rate=len(failed) / len(deployments) if deployments else None,
        failed=tuple(e.sha for e in failed),
        restore_times=tuple(restore),
        rollbacks=len(rollbacks),
        durations=tuple(durations),
        untrailered=sum(1 for e in deployments if e.kind == UNTRAILERED),
        clock_skew=skew,
        no_lead_time=len(deployments) - len(lead),
        sources=sources,
        days=_days(deployments, rollbacks, failed_by, lead, since, until),
    )


def _lead_times(deployments: Sequence[Event]) -> tuple[dict[str, float], list[str], int]:
    """(sha → lead time, where each live time came from, how many were negative and count as 0)."""
    lead: dict[str, float] = {}
    sources: list[str] = []
    skew = 0
    for e in deployments:
        if e.app_committed_at is None or e.pending:
            continue
        seconds = (e.live - e.app_committed_at).total_seconds()
        if seconds < 0:  # the app commit is dated after its deploy: clocks disagree
            skew += 1
            seconds = 0.0
        lead[e.sha] = seconds
        sources.append(e.live_source)
    return lead, sources, skew


def _restore_times(failed: Sequence[Event], failed_by: dict[str, Event]) -> tuple[list[float], list[str]]:
    """Failed deployment live → the rollback that undid it live (never negative), and where the times came from."""
    restore: list[float] = []
    sources: list[str] = []
    for e in failed:
        by = failed_by[e.sha]
        restore.append(max(0.0, (by.live - e.live).total_seconds()))
        sources.append(_source([e.live_source, by.live_source]) or GIT)
    return restore, sources


def _days(
    deployments: Sequence[Event],
    rollbacks: Sequence[Event],
    failed_by: dict[str, Event],
    lead: dict[str, float],
    since: datetime,
    until: datetime,
) -> tuple[Day, ...]:
    """Every UTC day from SINCE to UNTIL (at most the last 366), with the day's counts."""
    first, last = _utc_day(since), _utc_day(until)
    if (last - first).days > 365:
        first = last - timedelta(days=365)
    out = []
    day = first
    while day <= last:
        deps = [e for e in deployments if _utc_day(e.live) == day]
        out.append(
            Day(
                day=day,
                deployments=len(deps),
                failed=sum(1 for e in deps if e.sha in failed_by),
                rollbacks=sum(1 for e in rollbacks if _utc_day(e.live) == day),
                lead_time_median=median([lead[e.sha] for e in deps if e.sha in lead]),
            )
        )
        day += timedelta(days=1)
    return tuple(out)


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
