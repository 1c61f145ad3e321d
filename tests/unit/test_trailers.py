"""lab.gitops.trailers: one builder for the trailers of deploy, promote and rollback commits, read back by
DeployRecord (the real git round trip is in tests/integration/test_gitops_git.py)."""

from __future__ import annotations

from lab.gitops.trailers import TRAILER_KEYS, DeployRecord, deploy_records, deploy_trailers, reverted
from lab.tools.git import LogEntry

WHO = "gitops-lab <gitops-lab@localhost>"


def entry(sha: str, trailers: list[tuple[str, str]]) -> LogEntry:
    grouped: dict[str, tuple[str, ...]] = {}
    for key, value in trailers:
        grouped[key] = (*grouped.get(key, ()), value)
    return LogEntry(sha, "2026-05-01T12:00:00+00:00", "someone", f"commit {sha}", "", grouped)


def test_a_deploy_names_commit_image_digest_environment_and_who() -> None:
    assert deploy_trailers(
        env="dev", image="r/lab-app:t1", deployed_by=WHO, app_commit="a" * 40, digest="sha256:d"
    ) == [
        ("App-Commit", "a" * 40),
        ("Image", "r/lab-app:t1"),
        ("Image-Digest", "sha256:d"),
        ("Environment", "dev"),
        ("Deployed-By", WHO),
    ]


def test_optional_trailers_appear_only_with_a_value_and_keep_the_documented_order() -> None:
    promote = deploy_trailers(env="staging", image="r/lab-app:t1", deployed_by=WHO, promoted_from="dev")
    assert [k for k, _ in promote] == ["Image", "Environment", "Deployed-By", "Promoted-From"]
    rollback = deploy_trailers(env="prod", image="r/lab-app:t0", deployed_by=WHO, rollback_of=["b" * 40, "c" * 40])
    assert rollback[-2:] == [("Rollback-Of", "b" * 40), ("Rollback-Of", "c" * 40)]
    for trailers in (promote, rollback):
        keys = [k for k, _ in trailers]
        assert keys == sorted(keys, key=TRAILER_KEYS.index)


def test_what_the_builder_writes_the_parser_reads() -> None:
    deploy = entry("1" * 40, deploy_trailers(env="dev", image="r/lab-app:t1", deployed_by=WHO, app_commit="a" * 40))
    undo = entry("2" * 40, deploy_trailers(env="dev", image="r/lab-app:t0", deployed_by=WHO, rollback_of=["1" * 40]))
    other = entry("3" * 40, deploy_trailers(env="prod", image="r/lab-app:t0", deployed_by=WHO))
    records = deploy_records([undo, deploy, other], "dev")
    assert [r.sha for r in records] == ["2" * 40, "1" * 40]
    first = records[1]
    assert (first.app_commit, first.image, first.tag, first.who, first.is_rollback) == (
        "a" * 40,
        "r/lab-app:t1",
        "t1",
        WHO,
        False,
    )
    assert records[0].is_rollback and reverted(records) == {"1" * 40}
    assert DeployRecord.from_entry(other).environment == "prod"
