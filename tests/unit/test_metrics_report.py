"""How `invoke metrics` shows the figures: durations, the terminal chart, the HTML page, the Prometheus text."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.metrics import dora, report

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def figures(env: str = "dev") -> dora.Figures:
    events = [
        dora.Event("a", dora.DEPLOY, T0, image="x:a", app_commit="c1", app_committed_at=T0 - timedelta(minutes=3)),
        dora.Event("b", dora.DEPLOY, T0 + timedelta(days=1), image="x:b"),
        dora.Event("r", dora.ROLLBACK, T0 + timedelta(days=1, hours=1), image="x:a", undoes=("b",)),
    ]
    return dora.compute(events, env=env, since=T0, until=T0 + timedelta(days=3))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "0s"),
        (59.4, "59s"),
        (252, "4m 12s"),
        (3 * 3600 + 300, "3h 05m"),
        (2 * 86400 + 4 * 3600, "2d 04h"),
    ],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert report.duration(seconds) == text


def test_the_chart_has_one_column_per_day_and_marks_the_failure() -> None:
    text = report.chart(figures())
    lines = text.splitlines()
    assert lines[0].startswith("dev: 2026-11-02 … 2026-11-05")
    deploys = next(line for line in lines if line.strip().startswith("deploys"))
    failed = next(line for line in lines if line.strip().startswith("failed"))
    assert deploys.split("│")[1] == "██  "  # one deploy on each of the first two days, of four
    assert failed.split("│")[1] == " █  "
    assert (
        report.chart(dora.compute([], env="prod", since=T0, until=T0)) == "prod: no deploys or rollbacks in the window"
    )


def test_the_html_report_is_self_contained() -> None:
    page = report.html_report([figures(), figures("staging")], generated="now", notes_text=["a <note>"])
    assert page.count("<svg") == 2 and "<script" not in page and "<link" not in page
    assert "a &lt;note&gt;" in page and "Definitions" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_prometheus_text_parses_with_the_env_label_escaped() -> None:
    weird = 'qa "blue"\\\n2'
    text = report.prometheus([figures(), dora.compute([], env=weird, since=T0, until=T0)])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(name.startswith("lab_dora_") for name in families)
    rate = {s.labels["env"]: s.value for s in families["lab_dora_change_failure_rate"].samples}
    assert rate["dev"] == 0.5 and math.isnan(rate[weird])
    assert {s.labels["env"]: s.value for s in families["lab_dora_deployments"].samples} == {"dev": 2, weird: 0}
    restore = {
        (s.name, s.labels.get("quantile")): s.value
        for s in families["lab_dora_time_to_restore_seconds"].samples
        if s.labels["env"] == "dev"
    }
    assert restore[("lab_dora_time_to_restore_seconds", "0.5")] == 3600
    info = families["lab_dora_info"].samples
    assert {(s.labels["env"], s.labels["source"]) for s in info} == {("dev", "git"), (weird, "git")}
    # One HELP and one TYPE line per family, before its samples.
    assert text.count("# TYPE lab_dora_deployments gauge") == 1
    assert text.index("# TYPE lab_dora_deployments ") < text.index("lab_dora_deployments{")
