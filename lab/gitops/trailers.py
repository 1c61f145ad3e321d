"""The audit trail of the GitOps repo: the git trailers of every deploy, promote and rollback commit, built in one
place (deploy_trailers) and read back in one place (DeployRecord.from_entry).

    App-Commit      the app repo commit the image was built from (when known)
    Image           the image, name:tag
    Image-Digest    the registry's manifest digest (when known)
    Environment     dev | staging | prod
    Deployed-By     who made the commit ("Name <email>")
    Promoted-From   promote: the environment the image came from
    Rollback-Of     rollback: each deploy commit it undoes (repeated)

`git commit --trailer` writes them (lab/tools/git.py commit) and `git log --format=%(trailers)` reads them
(lab/tools/git.py log), so `git log` is the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.tools import git

APP_COMMIT = "App-Commit"
IMAGE = "Image"
IMAGE_DIGEST = "Image-Digest"
ENVIRONMENT = "Environment"
DEPLOYED_BY = "Deployed-By"
PROMOTED_FROM = "Promoted-From"
ROLLBACK_OF = "Rollback-Of"
TRAILER_KEYS = (APP_COMMIT, IMAGE, IMAGE_DIGEST, ENVIRONMENT, DEPLOYED_BY, PROMOTED_FROM, ROLLBACK_OF)


def deploy_trailers(
    *,
    env: str,
    image: str,
    deployed_by: str,
    app_commit: str = "",
    digest: str = "",
    promoted_from: str = "",
    rollback_of: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The trailers of one deploy (bump), promote (PROMOTED_FROM) or rollback (ROLLBACK_OF) commit, in TRAILER_KEYS
    order; the optional ones only when they have a value."""
    return [
        *([(APP_COMMIT, app_commit)] if app_commit else []),
        (IMAGE, image),
        *([(IMAGE_DIGEST, digest)] if digest else []),
        (ENVIRONMENT, env),
        (DEPLOYED_BY, deployed_by),
        *([(PROMOTED_FROM, promoted_from)] if promoted_from else []),
        *[(ROLLBACK_OF, sha) for sha in rollback_of],
    ]


@dataclass(frozen=True)
class DeployRecord:
    """One deploy, promote or rollback commit for an environment, read back from its trailers."""

    sha: str
    when: str  # ISO 8601 committer date
    who: str
    subject: str
    environment: str
    app_commit: str = ""
    image: str = ""
    digest: str = ""
    promoted_from: str = ""
    rollback_of: tuple[str, ...] = ()

    @property
    def is_rollback(self) -> bool:
        return bool(self.rollback_of)

    @property
    def tag(self) -> str:
        ref = self.image.split("@", 1)[0]
        last = ref.rsplit("/", 1)[-1]
        return last.rsplit(":", 1)[1] if ":" in last else ""

    @classmethod
    def from_entry(cls, entry: git.LogEntry) -> DeployRecord:
        return cls(
            sha=entry.sha,
            when=entry.date,
            who=entry.trailer(DEPLOYED_BY) or entry.author,
            subject=entry.subject,
            environment=entry.trailer(ENVIRONMENT),
            app_commit=entry.trailer(APP_COMMIT),
            image=entry.trailer(IMAGE),
            digest=entry.trailer(IMAGE_DIGEST),
            promoted_from=entry.trailer(PROMOTED_FROM),
            rollback_of=entry.trailers.get(ROLLBACK_OF, ()),
        )


def deploy_records(entries: Sequence[git.LogEntry], env: str) -> list[DeployRecord]:
    """The commits whose trailers say `Environment: ENV` (callers pass only commits touching overlays/ENV)."""
    return [DeployRecord.from_entry(e) for e in entries if e.trailer(ENVIRONMENT) == env]


def reverted(records: Sequence[DeployRecord]) -> set[str]:
    """Shas of deploys that a later rollback undid."""
    return {sha for r in records for sha in r.rollback_of}
