"""Trivy, the image scanner: argv and the JSON report.

Pinned in lab/core/versions.py (TRIVY_VERSION); CI builds it from its Go module (.ci/cluster/build-trivy). Its
vulnerability database is an OCI artifact (trivy v0.74.0 pkg/db/db.go: mirror.gcr.io/aquasec/trivy-db:2, then
ghcr.io/aquasecurity/trivy-db:2) that `invoke cache` downloads into settings.scanner_cache_dir
(`trivy image --download-db-only`); offline, a scan uses that copy as it is (--skip-db-update, --offline-scan).

The report is trivy's `--format json` (trivy v0.74.0 pkg/types/report.go: Report{SchemaVersion, Trivy{Version},
ArtifactName, Metadata, Results[]}, Result{Target, Class, Type, Vulnerabilities[]}; pkg/types/vulnerability.go:
DetectedVulnerability{VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Status, ...} with trivy-db's
types.Vulnerability embedded: Title, Severity, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.core.errors import LabError
from lab.core.runner import Runner

EXE = "trivy"
# Trivy's severity names, lowest first (trivy-db pkg/types/types.go SeverityNames).
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
REPORT_SCHEMA_VERSION = 2  # Report.SchemaVersion trivy v0.74.0 writes (pkg/report/writer.go: SchemaVersion = 2)


class ReportError(LabError):
    """Trivy's output is not the JSON report this module reads."""

    exit_code = 4  # as a command that failed: the scanner did not do its job


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package of the image."""

    id: str
    severity: str
    package: str
    installed: str
    fixed: str  # "" when there is no fix yet
    title: str = ""
    target: str = ""  # what trivy scanned: "<image> (debian 12.13)", "Python", ...

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity) if self.severity in SEVERITIES else 0

    def line(self) -> str:
        """One line for a listing: ID, severity, package, installed → fixed version."""
        fixed = f"fixed in {self.fixed}" if self.fixed else "no fix yet"
        return f"{self.id:<16} {self.severity:<8} {self.package} {self.installed} ({fixed})"


@dataclass(frozen=True)
class Report:
    artifact: str
    trivy_version: str
    findings: tuple[Finding, ...]
    os: str = ""  # e.g. "debian 12.13"


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def at_or_above(findings: Iterable[Finding], threshold: str) -> list[Finding]:
    """The findings whose severity is THRESHOLD or higher, most severe first (then by ID, package)."""
    floor = rank(threshold)
    return sorted((f for f in findings if f.rank >= floor), key=lambda f: (-f.rank, f.id, f.package))


def image_argv(
    image: str,
    *,
    cache_dir: Path,
    offline: bool,
    exe: str = EXE,
    timeout: str = "10m",
) -> list[str]:
    """Scan IMAGE from the local Docker engine (it is not pushed yet) for vulnerabilities, JSON on stdout.

    Every finding is reported (no --severity): the lab applies the threshold itself, so the listing can say what
    was below it. OFFLINE: use the database in CACHE_DIR as it is and look nothing up on the network."""
    argv = [
        exe,
        "image",
        "--format",
        "json",
        "--scanners",
        "vuln",
        "--image-src",
        "docker",
        "--cache-dir",
        str(cache_dir),
        "--timeout",
        timeout,
        "--quiet",
    ]
    if offline:
        argv += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
    return [*argv, image]


def download_db_argv(cache_dir: Path, *, exe: str = EXE) -> list[str]:
    """Download (or refresh) the vulnerability database into CACHE_DIR, for offline scans later."""
    return [exe, "image", "--download-db-only", "--cache-dir", str(cache_dir), "--quiet"]


def convert_argv(report: Path, *, exe: str = EXE) -> list[str]:
    """Show a saved JSON report as trivy's table (`trivy convert`)."""
    return [exe, "convert", "--format", "table", str(report)]


def db_present(cache_dir: Path) -> bool:
    """Is there a database trivy can use with --skip-db-update (trivy v0.74.0 pkg/db/db.go NeedsUpdate: both
    db/trivy.db and db/metadata.json must exist)?"""
    return (cache_dir / "db" / "trivy.db").is_file() and (cache_dir / "db" / "metadata.json").is_file()


_VERSION_RE = re.compile(r"^Version:\s*v?(\S+)", re.M)


def version(runner: Runner, *, exe: str = EXE) -> str:
    """The installed trivy's version, e.g. "0.74.0" (`trivy --version`: "Version: 0.74.0" on its first line)."""
    out = runner.run([exe, "--version"], timeout=30, hint="install trivy: see docs/security.md").stdout
    match = _VERSION_RE.search(out)
    return match.group(1) if match else ""


def parse_report(text: str) -> Report:
    """Trivy's JSON report (module docstring) as a Report. ReportError if it is not one."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ReportError(f"trivy printed no JSON report ({exc})") from None
    if not isinstance(data, dict) or "ArtifactName" not in data:
        raise ReportError("trivy's output is not a scan report (no ArtifactName)")
    if data.get("SchemaVersion") != REPORT_SCHEMA_VERSION:
        raise ReportError(
            f"trivy report schema {data.get('SchemaVersion')!r}, the lab reads {REPORT_SCHEMA_VERSION}",
            hint="install the pinned trivy (lab/core/versions.py TRIVY_VERSION)",
        )
    findings: list[Finding] = []
    for result in data.get("Results") or ():
        if not isinstance(result, dict):
            continue
        for vuln in result.get("Vulnerabilities") or ():
            if not isinstance(vuln, dict):
                continue
            findings.append(
                Finding(
                    id=str(vuln.get("VulnerabilityID", "")),
                    severity=str(vuln.get("Severity") or "UNKNOWN"),
                    package=str(vuln.get("PkgName", "")),
                    installed=str(vuln.get("InstalledVersion", "")),
                    fixed=str(vuln.get("FixedVersion", "")),
                    title=str(vuln.get("Title", "")),
                    target=str(result.get("Target", "")),
                )
            )
    meta = data.get("Metadata") or {}
    os_info = meta.get("OS") if isinstance(meta, dict) else None
    os_name = f"{os_info.get('Family', '')} {os_info.get('Name', '')}".strip() if isinstance(os_info, dict) else ""
    trivy_info = data.get("Trivy") or {}
    return Report(
        artifact=str(data["ArtifactName"]),
        trivy_version=str(trivy_info.get("Version", "")) if isinstance(trivy_info, dict) else "",
        findings=tuple(findings),
        os=os_name,
    )


def ids(findings: Sequence[Finding]) -> list[str]:
    return list(dict.fromkeys(f.id for f in findings))
