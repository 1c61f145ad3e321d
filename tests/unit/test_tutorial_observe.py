"""docs/tutorial.md's observability chapter says what the lab ships: its queries are the lab's own (the dashboard's,
the alert's), its traffic loop is bounded and hits the route the bad release breaks, and the alert's threshold and
`for:` are the rule's. tests/e2e/test_monitoring.py runs every command of the chapter on the real cluster."""

from __future__ import annotations

import re
import shlex

from lab.core.config import ROOT, environment
from lab.manifests import monitoring as m
from lab.steps import bad_release

CHAPTER = "## 7. Observe"


def chapter() -> str:
    text = (ROOT / "docs" / "tutorial.md").read_text()
    begin = text.index(CHAPTER)
    return text[begin : text.index("\n## ", begin + 1)]


def commands() -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", chapter(), re.DOTALL) for line in block.splitlines()]


def lab_expressions() -> list[str]:
    exprs = [q for _, q in m.dashboard_queries()] + [a["expr"] for a in m.annotation_queries()]
    exprs += [r["expr"] for g in m.alert_rules()["groups"] for r in g["rules"]]
    return [e.replace(',namespace=~"$namespace"', "") for e in exprs]


def test_every_query_of_the_chapter_is_one_the_lab_ships() -> None:
    queries = [
        a.removeprefix("query=")
        for line in commands()
        if line.startswith("curl")
        for a in shlex.split(line, comments=True)
        if a.startswith("query=")
    ]
    assert len(queries) == 3, queries
    for q in queries:
        assert any(q in e for e in lab_expressions()), f"not a query of the lab's dashboard or alerts: {q}"


def test_the_traffic_loop_is_bounded_and_hits_the_route_the_bad_release_breaks() -> None:
    loop = next(line for line in commands() if line.startswith("for "))
    assert re.search(r"\$\(seq \d+\)", loop), loop
    assert f"http://127.0.0.1:{environment('dev').host_port}{bad_release.DEFAULT_ROUTE}" in loop


def test_the_alert_the_chapter_describes_is_the_rules_threshold_and_for() -> None:
    rule = next(r for g in m.alert_rules()["groups"] for r in g["rules"] if r["alert"] == "LabAppErrorRatioHigh")
    text = re.sub(r"\s+", " ", chapter())
    said = re.search(r"`LabAppErrorRatioHigh` \(5xx above (\d+) % of requests for (\d+) minute\)", text)
    assert said, "the chapter no longer states the alert's threshold and for:"
    assert float(said[1]) / 100 == m.ERROR_RATIO_THRESHOLD and f"{said[2]}m" == rule["for"]
    assert [c for c in commands() if c.startswith("invoke")] == ["invoke demo-bad-release", "invoke rollback dev"]
