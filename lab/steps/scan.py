"""The image scan of `invoke ship`: between the build and the push, and (aws target) ECR's own after the push.

    docker build ─► trivy image (local Docker, not pushed yet) ─► findings ≥ scan_severity?
                       │                                              │ yes, not all accepted: ScanBlocked (exit 16),
                       │                                              │ nothing pushed, nothing committed
                       └─► report .lab/scans/<tag>.trivy.json          └ no / accepted (--allow-vulnerable ID): push,
                                                                         the deploy commit's trailers record it

Trailers of the deploy commit: `Image-Scan: trivy 0.74.0, threshold CRITICAL: 0 blocking, 1 accepted, 12 below`
and one `Accepted-Risk: <ID> <package> <installed> (<severity>, fixed in <version>)` per accepted finding.
A dry run prints the scan command and scans nothing (the image is not built). scan_severity=off ships unscanned
and the trailer says so.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core import versions
from lab.core.config import SCAN_OFF, Settings
from lab.core.context import Context
from lab.core.errors import Refused, ScanBlocked, ToolNotFound
from lab.tools import ecr_scan as ecr_findings
from lab.tools import trivy
from lab.tools.trivy import Finding

IMAGE_SCAN = "Image-Scan"
ACCEPTED_RISK = "Accepted-Risk"
SCANS_DIR = "scans"  # under state_dir: one JSON report per scanned tag
LISTED = 20  # findings listed in the error; the report has all of them
INSTALL_HINT = (
    f"install trivy {versions.TRIVY_VERSION} (docs/security.md), or ship unscanned: "
    "`LAB_SCAN_SEVERITY=off invoke ship` (the deploy commit records it)"
)


@dataclass(frozen=True)
class ScanOutcome:
    scanner: str  # "trivy 0.74.0", or "" when the scan was off / a dry run
    threshold: str
    findings: tuple[Finding, ...] = ()  # every finding, at any severity
    accepted: tuple[Finding, ...] = ()  # at or above the threshold, accepted by --allow-vulnerable
    report: Path | None = None
    skipped: str = ""  # why nothing was scanned
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # more trailers (ECR's scan)

    @property
    def below(self) -> int:
        return len(self.findings) - len(trivy.at_or_above(self.findings, self.threshold))

    def trailers(self) -> list[tuple[str, str]]:
        """The deploy commit's trailers for this scan."""
        if self.skipped:
            return [(IMAGE_SCAN, f"not scanned ({self.skipped})"), *self.extra]
        summary = (
            f"{self.scanner}, threshold {self.threshold}: 0 blocking, {len(self.accepted)} accepted, {self.below} below"
        )
        risks = [(ACCEPTED_RISK, _risk(f)) for f in self.accepted]
        return [(IMAGE_SCAN, summary), *risks, *self.extra]


def _risk(f: Finding) -> str:
    fixed = f"fixed in {f.fixed}" if f.fixed else "no fix yet"
    return f"{f.id} {f.package} {f.installed} ({f.severity}, {fixed})"


def normalize_ids(ids: Sequence[str]) -> tuple[str, ...]:
    """--allow-vulnerable values: each may hold several IDs separated by commas or spaces."""
    out = [part for raw in ids for part in raw.replace(",", " ").split()]
    return tuple(dict.fromkeys(out))


def rerun_command(allow: Sequence[str], *, flags: Sequence[str] = ()) -> str:
    """The `invoke ship` that ships this image's findings as accepted risks (with the flags this ship had)."""
    argv = ["invoke", "ship", *flags]
    for vuln_id in allow:
        argv += ["--allow-vulnerable", vuln_id]
    return shlex.join(argv)


def ship_flags(settings: Settings, *, allow_dirty: bool, no_wait: bool, pin_digest: bool) -> list[str]:
    """The flags of a ship, for a hint that runs it again."""
    flags = [
        flag
        for flag, on in (("--allow-dirty", allow_dirty), ("--no-wait", no_wait), ("--pin-digest", pin_digest))
        if on
    ]
    return flags + (["--registry", settings.push_registry] if settings.push_registry != "local" else [])


def keep_scan_setting(settings: Settings, ship: Settings) -> Settings:
    """SETTINGS (a registry's, which ship adopts) with SHIP's scan_severity and its source: `up`'s first deploy
    turns the scan off for its ship, whatever registry it ships to."""
    source = ship.sources.get("scan_severity", "default")
    return dataclasses.replace(
        settings, scan_severity=ship.scan_severity, sources={**settings.sources, "scan_severity": source}
    )


def ecr_scan_for_ship(
    ctx: Context, settings: Settings, repository: str, digest: str, *, allow: Sequence[str], rerun_flags: Sequence[str]
) -> list[tuple[str, str]]:
    """ecr_scan with a client for SETTINGS' region (lab/tools/ecr.py ecr_client)."""
    from lab.tools import ecr

    if settings.scan_severity == SCAN_OFF or ctx.dry_run:
        return []
    return ecr_scan(ctx, ecr.ecr_client(settings), repository, digest, allow=allow, rerun_flags=rerun_flags)


def report_path(ctx: Context, tag: str) -> Path:
    return ctx.settings.state_dir / SCANS_DIR / f"{tag}.trivy.json"


def scan_image(
    ctx: Context,
    image: str,
    *,
    tag: str,
    allow: Sequence[str] = (),
    rerun_flags: Sequence[str] = (),
    exe: str = trivy.EXE,
) -> ScanOutcome:
    """Scan the built IMAGE (in the local Docker engine) with trivy; ScanBlocked when findings at or above
    settings.scan_severity are not all in ALLOW. RERUN_FLAGS: the other flags of this ship, for the hint."""
    settings, ui = ctx.settings, ctx.ui
    threshold = settings.scan_severity
    allowed = normalize_ids(allow)
    if threshold == SCAN_OFF:
        where = settings.sources.get("scan_severity", "default")
        ui.warn(f"image not scanned: scan_severity=off (from {where}); the deploy commit records it")
        return ScanOutcome("", threshold, skipped=f"scan_severity=off from {where}")
    cache = settings.scanner_cache_dir
    if settings.offline and not ctx.dry_run and not trivy.db_present(cache):
        raise Refused(
            f"offline, and there is no trivy vulnerability database in {cache}",
            hint="run `invoke cache` while online (it downloads the database), or `LAB_SCAN_SEVERITY=off invoke ship`",
        )
    argv = trivy.image_argv(image, cache_dir=cache, offline=settings.offline, exe=exe)
    title = f"Scan {image} (trivy, blocks at {threshold})"
    if ctx.dry_run:
        ctx.runner.run(argv, timeout=900)  # printed
        ui.skipped(title, "dry run: the image is not built")
        return ScanOutcome("", threshold, skipped="dry run")
    with ui.phase(title) as ph:
        try:
            installed = trivy.version(ctx.runner, exe=exe)
        except ToolNotFound as exc:
            raise ToolNotFound(exe, hint=INSTALL_HINT) from exc
        if installed and installed != versions.TRIVY_VERSION.removeprefix("v"):
            ui.warn(f"trivy {installed} is installed; the lab pins {versions.TRIVY_VERSION} (lab/core/versions.py)")
        cache.mkdir(parents=True, exist_ok=True)
        result = ctx.runner.run(argv, timeout=900, hint="`invoke cache` downloads trivy's database for offline use")
        report = trivy.parse_report(result.stdout)
        path = report_path(ctx, tag)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.stdout)
        scanner = f"trivy {report.trivy_version or installed}"
        outcome = _judge(report.findings, threshold, allowed, scanner=scanner, report=path, rerun_flags=rerun_flags)
        ph.note = (
            f"{len(outcome.accepted)} accepted, " if outcome.accepted else ""
        ) + f"{outcome.below} below {threshold} ({report.os or report.artifact})"
    return outcome


def _judge(
    findings: Sequence[Finding],
    threshold: str,
    allowed: Sequence[str],
    *,
    scanner: str,
    report: Path | None,
    rerun_flags: Sequence[str] = (),
    what: str = "",
    left: str = "nothing was pushed or committed",
    accept_with: Callable[[Sequence[str]], str] | None = None,
) -> ScanOutcome:
    """ScanBlocked unless every finding at or above THRESHOLD is ALLOWED; else the outcome (with what was accepted)."""
    serious = trivy.at_or_above(findings, threshold)
    blocking = [f for f in serious if f.id not in allowed]
    if blocking:
        lines = [f.line() for f in blocking[:LISTED]]
        if len(blocking) > LISTED:
            lines.append(f"... and {len(blocking) - LISTED} more")
        ids = trivy.ids(blocking)
        wanted = [*dict.fromkeys([*allowed, *ids])]
        accept = accept_with(wanted) if accept_with else rerun_command(wanted, flags=rerun_flags)
        see = f"see the report: `{shlex.join(trivy.convert_argv(report))}`; " if report else ""
        raise ScanBlocked(
            f"{what or scanner}: {len(blocking)} finding(s) at or above {threshold}; {left}",
            lines,
            hint=f"{see}accept the risk (recorded in the deploy commit): `{accept}`",
        )
    accepted = tuple(f for f in serious if f.id in allowed)
    return ScanOutcome(scanner, threshold, tuple(findings), accepted, report)


def ecr_scan(
    ctx: Context,
    client: Any,
    repository: str,
    digest: str,
    *,
    allow: Sequence[str] = (),
    rerun_flags: Sequence[str] = (),
    timeout: float = 300.0,
    **wait: Any,
) -> list[tuple[str, str]]:
    """ECR's own scan-on-push findings for the pushed image (aws target): ScanBlocked at or above the threshold
    (the image is in ECR, nothing is committed: nothing deploys it). Returns the trailers that record it."""
    threshold = ctx.settings.scan_severity
    if threshold == SCAN_OFF or ctx.dry_run:
        return []
    with ctx.ui.phase(f"ECR scan of {repository}@{digest[:19]}") as ph:
        findings = ecr_findings.scan_findings(client, repository, digest, timeout=timeout, **wait)
        outcome = _judge(
            findings,
            threshold,
            normalize_ids(allow),
            scanner="ECR scan",
            report=None,
            rerun_flags=rerun_flags,
            what="ECR's scan on push",
            left=f"{repository}@{digest} is in ECR, but nothing was committed (nothing deploys it)",
        )
        ph.note = f"{len(outcome.accepted)} accepted, {outcome.below} below {threshold}"
    summary = f"ECR scan on push, threshold {threshold}: 0 blocking, {len(outcome.accepted)} accepted"
    return [(IMAGE_SCAN, summary), *[(ACCEPTED_RISK, _risk(f)) for f in outcome.accepted]]


def cache_db(ctx: Context, *, exe: str = trivy.EXE) -> Path | None:
    """`invoke cache`: download trivy's vulnerability database into settings.scanner_cache_dir (from trivy's own
    default repositories, mirror.gcr.io/aquasec/trivy-db:2 then ghcr.io/aquasecurity/trivy-db:2), so that an offline
    ship can scan. Without trivy installed: a warning, and the rest of the cache is still made."""
    cache = ctx.settings.scanner_cache_dir
    with ctx.ui.phase(f"trivy vulnerability database → {cache}") as ph:
        argv = trivy.download_db_argv(cache, exe=exe)
        if ctx.dry_run:
            ctx.runner.run(argv, timeout=900)
            ph.note = "dry run"
            return cache
        try:
            trivy.version(ctx.runner, exe=exe)
        except ToolNotFound:
            ph.skip("trivy is not installed")
            ctx.ui.warn(
                f"no scanner database cached: install trivy {versions.TRIVY_VERSION} (docs/security.md), "
                "then run `invoke cache` again"
            )
            return None
        cache.mkdir(parents=True, exist_ok=True)
        ctx.runner.run(argv, timeout=900, hint="trivy downloads its database from mirror.gcr.io and ghcr.io")
        ph.note = str(cache / "db")
    return cache


def gate_report(report: Path, threshold: str, allow: Sequence[str]) -> ScanOutcome:
    """The gate on a saved trivy JSON report (the GitHub workflow's scan step: `python -m lab.steps.scan`)."""
    parsed = trivy.parse_report(report.read_text())
    return _judge(
        parsed.findings,
        threshold,
        normalize_ids(allow),
        scanner=f"trivy {parsed.trivy_version}",
        report=report,
        left="nothing was pushed",
        accept_with=lambda ids: shlex.join(["gh", "variable", "set", "ALLOW_VULNERABLE", "--body", " ".join(ids)]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lab.steps.scan REPORT [--threshold S] [--allow IDS] [--github-output FILE]`: the ship's gate on a
    trivy report; exit 16 (ScanBlocked) with the findings listed, else 0, and the deploy commit's trailers as JSON
    (to FILE as `trailers=<json>`, the GitHub Actions step-output format, or on stdout)."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m lab.steps.scan", description=main.__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--threshold", default="CRITICAL", choices=trivy.SEVERITIES)
    parser.add_argument("--allow", action="append", default=[], help="IDs accepted as risks (comma/space separated)")
    parser.add_argument("--github-output", type=Path)
    args = parser.parse_args(argv)
    try:
        outcome = gate_report(args.report, args.threshold, args.allow)
    except ScanBlocked as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except trivy.ReportError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    trailers = json.dumps(outcome.trailers())
    if args.github_output:
        with args.github_output.open("a") as out:
            out.write(f"trailers={trailers}\n")
    else:
        print(trailers)
    for key, value in outcome.trailers():
        print(f"{key}: {value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
