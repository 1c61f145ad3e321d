"""The image scan gate of `invoke ship` (lab/steps/scan.py, lab/tools/trivy.py, lab/tools/ecr_scan.py) against
trivy's own JSON report format and botocore's ECR model.

tests/data/trivy/*.json are reports the pinned trivy (v0.74.0, built from its Go module by .ci/cluster/build-trivy)
wrote, with their `Packages` lists removed to keep them small: critical.json scanning the app image built FROM
lab-base:bookworm with the synthetic database of .ci/trivy-testdb (one CRITICAL advisory for the source package
openssl: trivy reports it for both binary packages, libssl3 and openssl), clean.json scanning lab-base:bookworm with
a database that has nothing for it. tests/integration/test_scan_trivy.py runs that scan for real. The gate runs the
whole ship against a FakeRunner that answers `trivy image` with them: nothing is pushed or committed when it blocks."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from aws_stubs import Clients
from fakes import FakeRunner
from test_gitops_unit import GATE, NOW, StubRepo, after_push, happy_runner, make_ctx

from lab.core.config import ROOT, load_settings
from lab.core.context import Context
from lab.core.errors import ConfigError, NotReady, Refused, ScanBlocked, ToolNotFound
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.steps import scan
from lab.steps.ship import ship
from lab.tools import ecr_scan, registry, trivy

DATA = ROOT / "tests" / "data" / "trivy"
CLEAN = (DATA / "clean.json").read_text()
FINDING = (DATA / "critical.json").read_text()  # the synthetic CRITICAL advisory for openssl, in libssl3 and openssl
VULN_ID = "CVE-2099-0001"


@pytest.fixture(autouse=True)
def _registry_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ping", lambda host, timeout=5.0: None)


def runner_with(report: str, tmp_path: Path) -> FakeRunner:
    runner = happy_runner(tmp_path)
    runner.script(["trivy", "image"], stdout=report)
    script_ship(runner, tmp_path)
    return runner


def script_ship(runner: FakeRunner, app_root: Path) -> FakeRunner:
    """What else a ship runs, beyond happy_runner's (tests/unit/test_gitops_unit.py)."""
    runner.script(["git", "-C", str(app_root), "remote", "get-url", "origin"], stdout="")
    for argv in GATE:  # the gate passes
        runner.script(list(argv), stdout="ok\n")
    return runner


def run(tmp_path: Path, runner: FakeRunner, **kw: Any) -> tuple[Any, StubRepo, Context]:
    repo = StubRepo()
    ctx = make_ctx(tmp_path, runner, **kw.pop("settings", {}))
    kw.setdefault("no_wait", True)
    result = ship(
        ctx, app_root=tmp_path, gate=GATE, clock=lambda: NOW, lookup_digest=after_push(runner), repo=repo, **kw
    )
    return result, repo, ctx


# The report ------------------------------------------------------------------------------------------
def test_parse_report_reads_trivys_json_report() -> None:
    report = trivy.parse_report(FINDING)
    assert report.trivy_version == "0.74.0" and report.os.startswith("debian 12")
    serious = trivy.at_or_above(report.findings, "CRITICAL")
    assert [(f.id, f.severity, f.package, f.fixed) for f in serious] == [
        (VULN_ID, "CRITICAL", "libssl3", "3.0.99-1~deb12u1"),
        (VULN_ID, "CRITICAL", "openssl", "3.0.99-1~deb12u1"),
    ]
    assert all(f.installed.startswith("3.0.") and f.target.endswith(")") for f in serious)
    assert trivy.parse_report(CLEAN).findings == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "no JSON report"), ("[]", "not a scan report"), ('{"SchemaVersion": 1, "ArtifactName": "x"}', "schema 1")],
)
def test_parse_report_refuses_what_is_not_a_report(text: str, problem: str) -> None:
    with pytest.raises(trivy.ReportError, match=problem):
        trivy.parse_report(text)


def test_at_or_above_orders_by_severity_and_applies_the_threshold() -> None:
    def f(i: str, sev: str) -> trivy.Finding:
        return trivy.Finding(i, sev, "pkg", "1", "2")

    found = [f("A", "LOW"), f("B", "CRITICAL"), f("C", "HIGH"), f("D", "UNKNOWN")]
    assert [x.id for x in trivy.at_or_above(found, "HIGH")] == ["B", "C"]
    assert [x.id for x in trivy.at_or_above(found, "UNKNOWN")] == ["B", "C", "A", "D"]


def test_image_argv_scans_the_local_docker_image_offline_only_when_asked(tmp_path: Path) -> None:
    online = trivy.image_argv("r/app:t", cache_dir=tmp_path, offline=False)
    offline = trivy.image_argv("r/app:t", cache_dir=tmp_path, offline=True)
    assert online[:2] == ["trivy", "image"] and online[-1] == "r/app:t"
    assert online[online.index("--image-src") : online.index("--image-src") + 2] == ["--image-src", "docker"]
    assert "--skip-db-update" not in online and {"--skip-db-update", "--offline-scan"} <= set(offline)


# The gate in ship ------------------------------------------------------------------------------------
def test_a_critical_finding_stops_the_ship_before_the_push_and_lists_it(tmp_path: Path) -> None:
    runner = runner_with(FINDING, tmp_path)
    with pytest.raises(ScanBlocked) as info:
        run(tmp_path, runner)
    err = info.value
    assert err.exit_code == 16
    text = err.render()
    assert VULN_ID in text and "CRITICAL" in text and "3.0.99-1~deb12u1" in text and "nothing was pushed" in text
    assert not any(c.argv[:2] == ("docker", "push") for c in runner.calls), runner.dump()
    # The hint: a command that shows the saved report, and the ship that accepts the risk.
    report = tmp_path / "state" / "scans"
    assert [p.suffix for p in report.iterdir()] == [".json"]
    assert f"trivy convert --format table {next(report.iterdir())}" in (err.hint or "")
    assert f"`invoke ship --no-wait --allow-vulnerable {VULN_ID}`" in (err.hint or "")  # with this ship's flags


def test_nothing_is_committed_when_the_scan_blocks(tmp_path: Path) -> None:
    runner = runner_with(FINDING, tmp_path)
    repo = StubRepo()
    ctx = make_ctx(tmp_path, runner)
    with pytest.raises(ScanBlocked):
        ship(
            ctx,
            app_root=tmp_path,
            gate=GATE,
            clock=lambda: NOW,
            lookup_digest=after_push(runner),
            repo=repo,
            no_wait=True,
        )
    assert repo.bumps == []


def test_allow_vulnerable_ships_and_records_the_accepted_risk_in_the_trailers(tmp_path: Path) -> None:
    runner = runner_with(FINDING, tmp_path)
    _, repo, _ = run(tmp_path, runner, allow_vulnerable=[VULN_ID], no_wait=True)
    assert runner.index("trivy", "image") < runner.index("docker", "push"), runner.dump()
    risks = [value for key, value in repo.trailers[0] if key == "Accepted-Risk"]
    assert [r.split()[:2] for r in risks] == [[VULN_ID, "libssl3"], [VULN_ID, "openssl"]]
    assert all(r.endswith("(CRITICAL, fixed in 3.0.99-1~deb12u1)") for r in risks)
    scanned = dict(repo.trailers[0])["Image-Scan"]
    assert scanned == "trivy 0.74.0, threshold CRITICAL: 0 blocking, 2 accepted, 0 below"


def test_a_clean_scan_is_recorded_too(tmp_path: Path) -> None:
    _, repo, _ = run(tmp_path, script_ship(happy_runner(tmp_path), tmp_path), no_wait=True)
    assert repo.trailers[0] == [("Image-Scan", "trivy 0.74.0, threshold CRITICAL: 0 blocking, 0 accepted, 0 below")]


def test_allowing_another_id_does_not_let_the_finding_through(tmp_path: Path) -> None:
    runner = runner_with(FINDING, tmp_path)
    with pytest.raises(ScanBlocked) as info:
        run(tmp_path, runner, allow_vulnerable=["CVE-2000-0001"], allow_dirty=True, pin_digest=True)
    # The hint keeps the flags of this ship and what was already allowed.
    accept = "invoke ship --allow-dirty --no-wait --pin-digest --allow-vulnerable CVE-2000-0001 --allow-vulnerable"
    assert f"`{accept} CVE-2099-0001`" in (info.value.hint or "")


def test_the_threshold_decides(tmp_path: Path) -> None:
    report = json.loads(FINDING)
    for result in report["Results"]:
        for vuln in result.get("Vulnerabilities") or ():
            vuln["Severity"] = "HIGH"
    high = json.dumps(report)
    run(tmp_path, runner_with(high, tmp_path), no_wait=True)  # CRITICAL (the default) lets a HIGH through
    with pytest.raises(ScanBlocked, match="at or above HIGH"):
        run(tmp_path / "h", runner_with(high, tmp_path / "h"), settings={"scan_severity": "HIGH"})


def test_scan_severity_off_ships_unscanned_and_says_so(tmp_path: Path) -> None:
    runner = runner_with(FINDING, tmp_path)
    _, repo, ctx = run(tmp_path, runner, settings={"scan_severity": "off"}, no_wait=True)
    assert not any(c.argv[0] == "trivy" for c in runner.calls)
    [(key, value)] = repo.trailers[0]
    assert key == "Image-Scan" and value.startswith("not scanned (scan_severity=off from ")
    assert "image not scanned" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def test_a_bad_threshold_is_a_setting_error_naming_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"LAB_SCAN_SEVERITY": "critical"}, config_file=tmp_path / "none.toml")
    assert info.value.exit_code == 2
    assert "environment variable LAB_SCAN_SEVERITY" in info.value.message and "CRITICAL" in (info.value.hint or "")


def test_trivy_missing_is_tool_not_found_with_a_hint_that_works(tmp_path: Path) -> None:
    runner = script_ship(happy_runner(tmp_path), tmp_path)
    runner.missing.add("trivy")
    with pytest.raises(ToolNotFound) as info:
        run(tmp_path, runner)
    assert "LAB_SCAN_SEVERITY=off invoke ship" in (info.value.hint or "")
    assert not any(c.argv[:2] == ("docker", "push") for c in runner.calls)


def test_offline_without_a_database_is_refused_before_trivy_runs(tmp_path: Path) -> None:
    runner = script_ship(happy_runner(tmp_path), tmp_path)
    ctx = make_ctx(tmp_path, runner, offline=True)
    with pytest.raises(Refused, match="no trivy vulnerability database") as info:
        scan.scan_image(ctx, "localhost:5001/lab-app:t", tag="t")
    assert "invoke cache" in (info.value.hint or "") and not any(c.argv[0] == "trivy" for c in runner.calls)


def test_offline_with_the_cached_database_scans_without_updating_it(tmp_path: Path) -> None:
    runner = script_ship(happy_runner(tmp_path), tmp_path)
    ctx = make_ctx(tmp_path, runner, offline=True)
    db = ctx.settings.scanner_cache_dir / "db"
    db.mkdir(parents=True)
    (db / "trivy.db").write_bytes(b"")
    (db / "metadata.json").write_text("{}")
    scan.scan_image(ctx, "localhost:5001/lab-app:t", tag="t")
    argv = next(c.argv for c in runner.calls if c.argv[:2] == ("trivy", "image"))
    assert "--skip-db-update" in argv and argv[argv.index("--cache-dir") + 1] == str(db.parent)


def test_dry_run_prints_the_scan_and_scans_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    runner = DryRunRunner(out=out)
    ctx = Context(make_ctx(tmp_path, runner).settings, runner, UI(err=io.StringIO(), out=io.StringIO()))
    outcome = scan.scan_image(ctx, "localhost:5001/lab-app:t", tag="t")
    assert outcome.skipped == "dry run" and "trivy image --format json" in out.getvalue()


# ECR's own scan (aws target) -------------------------------------------------------------------------
DIGEST = "sha256:" + "cd" * 32


def ecr_page(status: str = "COMPLETE", **findings: Any) -> dict[str, Any]:
    page: dict[str, Any] = {"imageScanStatus": {"status": status}}
    if status == "COMPLETE":
        page["imageScanFindings"] = {"findings": [], **findings}
    return page


BASIC = {
    "name": "CVE-2023-0001",
    "severity": "CRITICAL",
    "uri": "https://security-tracker.debian.org/tracker/CVE-2023-0001",
    "attributes": [{"key": "package_name", "value": "openssl"}, {"key": "package_version", "value": "3.0.20-1"}],
}
ENHANCED = {
    "severity": "HIGH",
    "title": "CVE-2023-0002 - zlib",
    "packageVulnerabilityDetails": {
        "vulnerabilityId": "CVE-2023-0002",
        "vulnerablePackages": [{"name": "zlib1g", "version": "1.2.13", "fixedInVersion": "1.2.14"}],
    },
}


def test_ecr_scan_findings_waits_for_the_scan_and_reads_every_page() -> None:
    stubs = Clients()
    params = {"repositoryName": "lab-app", "imageId": {"imageDigest": DIGEST}}
    stubs["ecr"].add_client_error("describe_image_scan_findings", "ScanNotFoundException", expected_params=params)
    stubs["ecr"].add_response("describe_image_scan_findings", ecr_page("IN_PROGRESS"), params)
    stubs["ecr"].add_response(
        "describe_image_scan_findings", {**ecr_page(findings=[BASIC]), "nextToken": "page2"}, params
    )
    stubs["ecr"].add_response(
        "describe_image_scan_findings",
        ecr_page(enhancedFindings=[ENHANCED]),
        {**params, "nextToken": "page2"},
    )
    slept: list[float] = []
    found = ecr_scan.scan_findings(stubs("ecr"), "lab-app", DIGEST, sleep=slept.append, interval=5)
    stubs.assert_done()
    assert slept == [5, 5]
    assert [(f.id, f.severity, f.package, f.installed, f.fixed) for f in found] == [
        ("CVE-2023-0001", "CRITICAL", "openssl", "3.0.20-1", ""),
        ("CVE-2023-0002", "HIGH", "zlib1g", "1.2.13", "1.2.14"),
    ]


def test_ecr_scan_that_never_completes_is_not_ready() -> None:
    stubs = Clients()
    params = {"repositoryName": "lab-app", "imageId": {"imageDigest": DIGEST}}
    for _ in range(3):
        stubs["ecr"].add_response("describe_image_scan_findings", ecr_page("IN_PROGRESS"), params)
    now = iter([0.0, 0.0, 5.0, 10.0, 15.0])
    with pytest.raises(NotReady, match="IN_PROGRESS"):
        ecr_scan.scan_findings(
            stubs("ecr"), "lab-app", DIGEST, timeout=10, sleep=lambda s: None, clock=lambda: next(now)
        )


def test_ecr_findings_at_the_threshold_block_the_commit(tmp_path: Path) -> None:
    stubs = Clients()
    params = {"repositoryName": "lab-app", "imageId": {"imageDigest": DIGEST}}
    stubs["ecr"].add_response("describe_image_scan_findings", ecr_page(findings=[BASIC]), params)
    ctx = make_ctx(tmp_path, FakeRunner())
    with pytest.raises(ScanBlocked) as info:
        scan.ecr_scan(ctx, stubs("ecr"), "lab-app", DIGEST, sleep=lambda s: None)
    assert "CVE-2023-0001" in info.value.render() and "is in ECR, but nothing was committed" in info.value.message
    stubs["ecr"].add_response("describe_image_scan_findings", ecr_page(findings=[BASIC]), params)
    trailers = scan.ecr_scan(ctx, stubs("ecr"), "lab-app", DIGEST, allow=["CVE-2023-0001"], sleep=lambda s: None)
    assert ("Accepted-Risk", "CVE-2023-0001 openssl 3.0.20-1 (CRITICAL, no fix yet)") in trailers


# `invoke ship` flags and `invoke cache` -----------------------------------------------------------------
def test_ship_flags_reach_the_scan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from test_tasks import program  # tasks.py loaded as invoke loads it

    from lab.steps import ship as ship_steps

    for key in [k for k in os.environ if k.startswith("LAB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / ".lab"))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(ship_steps, "ship", lambda ctx, **kw: calls.append({"ctx": ctx, **kw}))
    argv = ["invoke", "ship", "--allow-vulnerable", "CVE-1", "--allow-vulnerable", "CVE-2", "--scan-severity", "HIGH"]
    program().run(argv, exit=False)
    [call] = calls
    assert list(call["allow_vulnerable"]) == ["CVE-1", "CVE-2"]
    assert call["ctx"].settings.scan_severity == "HIGH"
    assert call["ctx"].settings.sources["scan_severity"] == "flag --scan-severity"


def test_cache_downloads_the_scanner_database_into_the_lab_cache(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.script(["trivy", "--version"], stdout="Version: 0.74.0\n")
    runner.script(["trivy", "image", "--download-db-only"], stdout="")
    ctx = make_ctx(tmp_path, runner)
    assert scan.cache_db(ctx) == ctx.settings.scanner_cache_dir
    argv = runner.calls[-1].argv
    assert argv[:3] == ("trivy", "image", "--download-db-only")
    assert argv[argv.index("--cache-dir") + 1] == str(tmp_path / "state" / "cache" / "trivy")


def test_cache_without_trivy_warns_and_goes_on(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.missing.add("trivy")
    ctx = make_ctx(tmp_path, runner)
    assert scan.cache_db(ctx) is None
    assert "no scanner database cached" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def test_the_first_deploy_of_up_is_not_scanned_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.gitops.overlay import SEED_TAG, ImageSpec
    from lab.steps import release, up
    from lab.steps import ship as ship_steps

    class SeededRepo:
        created_by_up = False

        def open(self, *, seed: bool = True) -> None:
            pass

        def image(self, env: str) -> ImageSpec:
            return ImageSpec("lab-app", SEED_TAG)

    shipped: list[Context] = []

    class Shipped:
        tag = "t"

    def fake_ship(ctx: Context, **kw: Any) -> Shipped:
        shipped.append(ctx)
        return Shipped()

    monkeypatch.setattr(ship_steps, "gitops_repo", lambda ctx, app_root: SeededRepo())
    monkeypatch.setattr(ship_steps, "ship", fake_ship)
    monkeypatch.setattr(release, "promote", lambda *a, **kw: None)
    ctx = make_ctx(tmp_path, FakeRunner())
    assert up._first_deploy(ctx, tmp_path) == "t"
    [first] = shipped
    assert first.settings.scan_severity == "off" and ctx.settings.scan_severity == "CRITICAL"
    assert first.settings.sources["scan_severity"] == "invoke up's first deploy (set-up, not a release)"
    assert scan.ScanOutcome("", "off", skipped="x").trailers() == [("Image-Scan", "not scanned (x)")]
