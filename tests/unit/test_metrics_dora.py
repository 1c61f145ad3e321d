"""The DORA arithmetic (lab/metrics/dora.py) on hand-made event lists: the definitions docs/metrics.md states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lab.metrics import dora
from lab.metrics.dora import Event

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(sha: str, kind: str, minute: float, *, image: str = "", app_minute: float | None = None, **kw: object) -> Event:
    return Event(
        sha,
        kind,
        at(minute),
        image=image or f"lab-app:{sha}",
        app_commit=f"app-{sha}" if app_minute is not None else "",
        app_committed_at=at(app_minute) if app_minute is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def compute(events: list[Event], since: float = -60, until: float = 24 * 60, **kw: object) -> dora.Figures:
    return dora.compute(events, env="dev", since=at(since), until=at(until), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([4.0, 1.0], 2.5, 4.0),  # even count: the mean of the two middle values; p90 = sorted[ceil(1.8)-1]
        ([3.0, 1.0, 2.0], 2.0, 3.0),
        ([float(v) for v in range(1, 11)], 5.5, 9.0),  # 10 values: sorted[ceil(9)-1] = 9
        ([float(v) for v in range(1, 12)], 6.0, 10.0),  # 11 values: sorted[ceil(9.9)-1] = 10
    ],
)
def test_median_and_nearest_rank_p90(values: list[float], median: float | None, p90: float | None) -> None:
    assert dora.median(values) == median
    assert dora.p90(values) == p90


def test_no_events_gives_zero_deployments_and_no_rates() -> None:
    figures = compute([])
    out = figures.as_json()
    assert out["deployments"] == 0 and out["rollbacks"] == 0
    assert out["deployment_frequency_per_day"] == 0
    assert out["change_failure_rate"] is None  # no deployments: no rate, rather than a 0 that looks like success
    assert out["lead_time_seconds"] == {"median": None, "p90": None}
    assert out["time_to_restore_seconds"] == {"median": None}
    assert out["source"] == "git"


def test_lead_time_failure_rate_and_time_to_restore_counted_by_hand() -> None:
    events = [
        ev("d1", dora.DEPLOY, 10, app_minute=0),  # lead 10 min
        ev("d2", dora.DEPLOY, 30, app_minute=25),  # lead 5 min, rolled back at 50
        ev("r1", dora.ROLLBACK, 50, image="lab-app:d1", undoes=("d2",)),
        ev("p1", dora.PROMOTE, 70, app_minute=40),  # lead 30 min
        ev("d3", dora.DEPLOY, 100, app_minute=98),  # lead 2 min, reverted by hand at 130
        ev("v1", dora.REVERT_BY_HAND, 130, image="lab-app:p1", undoes=("d3",)),
    ]
    figures = compute(events, since=0, until=24 * 60)
    out = figures.as_json()
    assert out["deployments"] == 3 + 1  # d1 d2 d3 and the promotion; not the two rollbacks
    assert out["rollbacks"] == 2
    assert out["deployment_frequency_per_day"] == pytest.approx(4.0)  # a one-day window
    assert out["lead_time_seconds"] == {"median": pytest.approx(7.5 * 60), "p90": pytest.approx(30 * 60)}
    assert out["change_failure_rate"] == pytest.approx(2 / 4)
    assert sorted(figures.restore_times) == [20 * 60, 30 * 60]
    assert out["time_to_restore_seconds"] == {"median": pytest.approx(25 * 60)}
    assert set(figures.failed) == {"d2", "d3"}
    assert out["sources"]["lead_time_seconds"] == "git"


def test_a_window_shorter_than_a_day_counts_as_a_day_and_longer_ones_divide() -> None:
    events = [ev(f"d{i}", dora.DEPLOY, i) for i in range(6)]
    assert compute(events, since=0, until=60).deployment_frequency_per_day == pytest.approx(6.0)
    assert compute(events, since=0, until=3 * 24 * 60).deployment_frequency_per_day == pytest.approx(2.0)


def test_window_edges_include_since_and_exclude_until() -> None:
    events = [ev("before", dora.DEPLOY, -1), ev("at-since", dora.DEPLOY, 0), ev("at-until", dora.DEPLOY, 60)]
    figures = compute(events, since=0, until=60)
    assert figures.deployments == 1
    assert figures.days[0].deployments == 1


def test_a_rollback_of_a_rollback_withdraws_the_failure() -> None:
    events = [
        ev("d1", dora.DEPLOY, 0),
        ev("d2", dora.DEPLOY, 10),
        ev("r1", dora.ROLLBACK, 20, image="lab-app:d1", undoes=("d2",)),
        ev("r2", dora.REVERT_BY_HAND, 30, image="lab-app:d2", undoes=("r1",)),
    ]
    figures = compute(events)
    assert figures.deployments == 2 and figures.rollbacks == 2
    assert figures.change_failure_rate == 0 and figures.restore_times == ()


def test_a_rollback_back_to_the_image_a_rollback_took_away_withdraws_the_failure() -> None:
    # `invoke rollback dev --to d2` after r1 undid d2: no Rollback-Of names r1, the image says it.
    events = [
        ev("d1", dora.DEPLOY, 0),
        ev("d2", dora.DEPLOY, 10),
        ev("r1", dora.ROLLBACK, 20, image="lab-app:d1", undoes=("d2",)),
        ev("r2", dora.ROLLBACK, 30, image="lab-app:d2"),
    ]
    assert compute(events).change_failure_rate == 0


def test_a_deploy_undone_twice_counts_once_from_the_first_rollback() -> None:
    events = [
        ev("d1", dora.DEPLOY, 0),
        ev("d2", dora.DEPLOY, 10),
        ev("r1", dora.ROLLBACK, 20, image="lab-app:d1", undoes=("d2",)),
        ev("r2", dora.REVERT_BY_HAND, 40, image="lab-app:d1", undoes=("d2",)),
    ]
    figures = compute(events)
    assert figures.failed == ("d2",) and figures.restore_times == (600.0,)


def test_an_app_commit_dated_after_its_deploy_counts_as_zero_and_is_reported() -> None:
    figures = compute([ev("d1", dora.DEPLOY, 10, app_minute=15), ev("d2", dora.DEPLOY, 20, app_minute=18)])
    assert sorted(figures.lead_times) == [0.0, 120.0]
    assert figures.clock_skew == 1
    assert all(v >= 0 for v in figures.lead_times)


def test_deploys_without_an_app_commit_time_have_no_lead_time() -> None:
    figures = compute([ev("u1", dora.UNTRAILERED, 5), ev("d1", dora.DEPLOY, 10, app_minute=9)])
    assert figures.deployments == 2 and figures.untrailered == 1
    assert figures.lead_times == (60.0,) and figures.no_lead_time == 1


def test_argocd_times_replace_git_times_and_give_the_duration() -> None:
    d1 = ev("d1", dora.DEPLOY, 0, app_minute=-10, live_at=at(2), sync_started_at=at(1.5))
    d2 = ev("d2", dora.DEPLOY, 10, app_minute=5)  # older than Argo CD's history: git time
    figures = compute([d1, d2], argocd=True)
    assert sorted(figures.lead_times) == [5 * 60.0, 12 * 60.0]
    assert figures.durations == (30.0,)
    out = figures.as_json()
    assert out["source"] == "argocd"
    assert out["sources"]["lead_time_seconds"] == "argocd+git"
    assert out["sources"]["deployment_duration_seconds"] == "argocd"
    assert out["deployment_duration_seconds"]["median"] == 30.0


def test_a_deploy_argocd_has_not_run_healthily_has_no_lead_time() -> None:
    figures = compute([ev("d1", dora.DEPLOY, 0, app_minute=-1, pending=True)], argocd=True)
    assert figures.deployments == 1 and figures.lead_times == () and figures.no_lead_time == 1


def test_naive_times_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Event("x", dora.DEPLOY, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown event kind"):
        Event("x", "redeploy", T0)
    with pytest.raises(ValueError, match="before it starts"):
        dora.compute([], env="dev", since=at(10), until=at(0))
