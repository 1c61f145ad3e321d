"""Deploy events of one environment: from the GitOps repo's log, and from Argo CD's sync history when it answers.

git: every commit that changed overlays/<env>, oldest first, classified by the trailers the lab writes
(lab/gitops/trailers.py: Environment, App-Commit, Image, Promoted-From, Rollback-Of):

    Environment: <env> + Rollback-Of, or subject "rollback(<env>): …"  → rollback (undoes its Rollback-Of shas)
    Environment: <env> + Promoted-From                                 → promote
    Environment: <env>                                                  → deploy
    no trailers, "This reverts commit <sha>" in the message (git revert) → revert-by-hand (undoes <sha>)
    no trailers, the overlay's image changed (and is not the seed)       → untrailered (a deploy made by hand)
    anything else (the seed, a change of replicas or config by hand)     → not an event

An untrailered deploy's app commit is the one its tag names when `invoke ship` built it (make_tag's
`<sha7>-<UTC time>`). The app commit's time is its committer date in the app repo (this project's git repo),
when it is there.

Argo CD: status.history[] of the environment's Application (argo-cd v3.5.1 pkg/apis/application/v1alpha1/types.go,
RevisionHistory: id, revision, deployedAt = when the sync completed, deployStartedAt = when it started). The
controller appends one entry per successful sync and keeps the last spec.revisionHistoryLimit of them, 10 by
default (controller/state.go persistRevisionHistory; application_defaults.go RevisionHistoryLimit). Argo CD
syncs whole commits of the repo: the deploy a synced revision carries is the newest commit at or before it that
changed overlays/<env> (as `invoke history` reads it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.core.errors import GitOpsError
from lab.core.runner import Runner
from lab.gitops.overlay import SEED_TAG, overlay_file, read_image
from lab.gitops.trailers import APP_COMMIT, ENVIRONMENT, PROMOTED_FROM, ROLLBACK_OF, TRAILER_KEYS
from lab.metrics.dora import DEPLOY, PROMOTE, REVERT_BY_HAND, ROLLBACK, UNTRAILERED, Event
from lab.tools import git

REVERTS = re.compile(r"^This reverts commit ([0-9a-f]{40})\b", re.MULTILINE)  # git revert's message (sequencer.c)
DEFAULT_HISTORY_LIMIT = 10  # argo-cd v3.5.1 pkg/apis/application/v1alpha1/application_defaults.go


@dataclass(frozen=True)
class Commit:
    sha: str
    committed_at: datetime
    subject: str
    body: str
    trailers: Mapping[str, tuple[str, ...]]

    def trailer(self, key: str) -> str:
        values = self.trailers.get(key, ())
        return values[0] if values else ""


def commit_of(entry: git.LogEntry) -> Commit:
    return Commit(entry.sha, parse_time(entry.date.strip()), entry.subject, entry.body, entry.trailers)


def parse_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time with its offset (git's %cI, Kubernetes' metav1.Time "…Z")."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return moment


def classify(commit: Commit, env: str, image: str, previous_image: str) -> tuple[str, tuple[str, ...]] | None:
    """(kind, undone shas) of COMMIT for ENV (module docstring), or None when it is not a deploy event. IMAGE: the
    overlay's image after the commit (name:tag, "" if none); PREVIOUS_IMAGE: before it."""
    if commit.trailer(ENVIRONMENT) == env:
        rollback_of = commit.trailers.get(ROLLBACK_OF, ())
        if rollback_of or commit.subject.startswith(f"rollback({env})"):
            return ROLLBACK, rollback_of
        if commit.trailer(PROMOTED_FROM):
            return PROMOTE, ()
        return DEPLOY, ()
    reverts = tuple(REVERTS.findall(commit.body))
    if reverts:
        return REVERT_BY_HAND, reverts
    if image and image != previous_image and not image.endswith(f":{SEED_TAG}"):
        return UNTRAILERED, ()
    return None


def events_from_commits(
    commits: Sequence[Commit],
    env: str,
    images: Mapping[str, str],
    app_times: Mapping[str, datetime],
) -> list[Event]:
    """The deploy events of ENV from its overlay's COMMITS, oldest first (IMAGES: sha → the overlay's image after
    it; APP_TIMES: app commit → its time)."""
    events = []
    previous = ""
    for commit in commits:
        image = images.get(commit.sha, "")
        kind = classify(commit, env, image, previous)
        previous = image
        if kind is None:
            continue
        if kind[0] == UNTRAILERED:
            app_commit = tag_commit(image)
        elif kind[0] == REVERT_BY_HAND:
            app_commit = ""
        else:
            app_commit = commit.trailer(APP_COMMIT)
        events.append(
            Event(
                sha=commit.sha,
                kind=kind[0],
                committed_at=commit.committed_at,
                image=image,
                app_commit=app_commit,
                app_committed_at=app_times.get(app_sha(app_commit)) if app_commit else None,
                undoes=kind[1],
            )
        )
    return events


TAG = re.compile(r"^([0-9a-f]{7})-\d{14}(?:-\d+)?(?:-dirty)?$")  # lab/gitops/overlay.py make_tag


def tag_commit(image: str) -> str:
    """The app commit (7 hex digits) a tag the lab built names (`<sha7>-<UTC yyyymmddHHMMSS>[-<seq>][-dirty]`), or
    "": a deploy made by hand with a tag `invoke ship` built still has a lead time."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    match = TAG.match(tag)
    return match.group(1) if match else ""


def app_sha(app_commit: str) -> str:
    """The commit of an App-Commit trailer (`<sha>` or `<sha>-dirty`)."""
    return app_commit.removesuffix("-dirty")


@dataclass(frozen=True)
class GitHistory:
    events: list[Event]
    start: datetime | None  # the oldest commit that touched overlays/<env> (the seed): the default window start
    missing_app_commits: tuple[str, ...] = ()  # App-Commit trailers the app repo does not have


def read_git(runner: Runner, workdir: Path, rev: str, env: str, app_root: Path) -> GitHistory:
    """ENV's deploy events from the GitOps clone WORKDIR at REV; app commit times from the repo at APP_ROOT."""
    path = f"overlays/{env}"
    entries = git.log(runner, workdir, rev, TRAILER_KEYS, paths=[path], oldest_first=True)
    commits = [commit_of(entry) for entry in entries]
    images: dict[str, str] = {}
    for commit in commits:
        text = git.show(runner, workdir, commit.sha, overlay_file(env))
        if text is None:
            continue
        try:
            spec = read_image(text, f"{overlay_file(env)} at {commit.sha[:7]}")
        except GitOpsError:
            continue  # a broken overlay committed by hand: no image to tell
        images[commit.sha] = spec.tagged if spec is not None else ""
    wanted = {app_sha(c.trailer(APP_COMMIT)) for c in commits if c.trailer(APP_COMMIT)}
    wanted |= {sha for image in images.values() if (sha := tag_commit(image))}
    app_times = {sha: t for sha in sorted(wanted) if (t := app_commit_time(runner, app_root, sha)) is not None}
    return GitHistory(
        events_from_commits(commits, env, images, app_times),
        commits[0].committed_at if commits else None,
        tuple(sorted(wanted - set(app_times))),
    )


def app_commit_time(runner: Runner, app_root: Path, sha: str) -> datetime | None:
    """The committer date of SHA in the app repo, None when it does not have that commit."""
    if not re.fullmatch(r"[0-9a-f]{7,40}", sha):
        return None
    res = git.git(runner, app_root, "show", "-s", "--format=%cI", f"{sha}^{{commit}}", "--", check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return parse_time(res.stdout.strip().splitlines()[0])


# Argo CD ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sync:
    """One status.history[] entry."""

    id: int
    revision: str
    deployed_at: datetime
    started_at: datetime | None


@dataclass(frozen=True)
class AppHistory:
    syncs: tuple[Sync, ...]  # by id, oldest first
    limit: int  # spec.revisionHistoryLimit: a history this long may have lost older entries
    synced_healthy: bool  # status.sync.status == Synced and status.health.status == Healthy now
    revision: str  # status.sync.revision


def parse_app(obj: Mapping[str, Any]) -> AppHistory:
    """The sync history of an Application object. Fields (argo-cd v3.5.1 types.go): status.history[].id|revision|
    deployedAt|deployStartedAt, spec.revisionHistoryLimit, status.sync.status|revision, status.health.status,
    status.operationState.phase|startedAt|finishedAt|syncResult.revision. An entry without deployStartedAt takes
    the start of the last operation when that operation synced its revision and succeeded."""
    status = obj.get("status") or {}
    op = status.get("operationState") or {}
    op_revision = str((op.get("syncResult") or {}).get("revision", ""))
    syncs = []
    for h in status.get("history") or []:
        revision, deployed = str(h.get("revision") or ""), str(h.get("deployedAt") or "")
        if not revision or not deployed:
            continue  # a multi-source entry (revisions[]) or one without a time: nothing to attribute
        started = str(h.get("deployStartedAt") or "")
        start = parse_time(started) if started else None
        syncs.append(Sync(int(h.get("id", 0)), revision, parse_time(deployed), start))
    syncs.sort(key=lambda s: s.id)
    last = syncs[-1] if syncs else None
    succeeded = op.get("phase") == "Succeeded" and bool(op.get("startedAt"))
    if last and last.started_at is None and succeeded and op_revision == last.revision:
        syncs[-1] = replace(syncs[-1], started_at=parse_time(str(op["startedAt"])))
    limit = (obj.get("spec") or {}).get("revisionHistoryLimit")
    return AppHistory(
        tuple(syncs),
        int(limit) if isinstance(limit, int) else DEFAULT_HISTORY_LIMIT,
        str((status.get("sync") or {}).get("status", "")) == "Synced"
        and str((status.get("health") or {}).get("status", "")) == "Healthy",
        str((status.get("sync") or {}).get("revision", "")),
    )


def attach_syncs(events: Sequence[Event], history: AppHistory, carried: Mapping[str, str]) -> list[Event]:
    """EVENTS with Argo CD's times: a sync whose revision carries deploy D (CARRIED: revision → the newest commit
    of overlays/<env> at or before it) makes D, and every event since the previous sync, live at its deployedAt;
    D gets the sync's start. Events older than the first recorded sync keep their git times (when the history is
    full, the first sync's own events too: it may not have been their first). Events after the last sync, and
    the last sync's own events while the Application is not Synced and Healthy, are pending."""
    index = {e.sha: i for i, e in enumerate(events)}
    out = list(events)
    done = -1  # events up to this index have their times
    first = True
    last_batch: list[int] = []
    for sync in history.syncs:
        position = index.get(carried.get(sync.revision, ""), -1)
        if position < 0:
            continue
        if first:
            first = False
            done = position - 1
            if len(history.syncs) >= history.limit:
                done = position
                continue
        if position <= done:
            continue  # a sync of what was already live (a re-sync, self-heal), or back to an older revision
        batch = list(range(done + 1, position + 1))
        for i in batch:
            out[i] = replace(out[i], live_at=sync.deployed_at)
        out[position] = replace(out[position], sync_started_at=sync.started_at)
        done, last_batch = position, batch
    for i in range(done + 1, len(out)):
        out[i] = replace(out[i], pending=True)
    if not history.synced_healthy:
        for i in last_batch:
            out[i] = replace(out[i], pending=True)
    return out


def carried_deploys(runner: Runner, workdir: Path, env: str, revisions: Sequence[str]) -> dict[str, str]:
    """Synced revision → the newest commit at or before it that changed overlays/ENV (git.last_change)."""
    out: dict[str, str] = {}
    for revision in revisions:
        if revision in out or not re.fullmatch(r"[0-9a-f]{7,40}", revision):
            continue
        sha = git.last_change(runner, workdir, revision, f"overlays/{env}")  # None: a revision the clone lacks
        if sha:
            out[revision] = sha
    return out
