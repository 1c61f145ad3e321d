"""ECR's own image scan (the repository's scan-on-push): wait for it, read its findings.

Field names from botocore's ECR model (botocore/data/ecr/2015-09-21/service-2.json): DescribeImageScanFindings
answers imageScanStatus{status, description} and imageScanFindings{findings[], enhancedFindings[]} with nextToken
paging. Basic scanning: ImageScanFinding{name (the CVE), severity, uri, attributes[{key, value}]}, the package in the
attributes `package_name` and `package_version` (AWS CLI reference, describe-image-scan-findings example); it
reports no fixed version. Enhanced scanning (Amazon Inspector): EnhancedImageScanFinding{severity, title,
packageVulnerabilityDetails{vulnerabilityId, vulnerablePackages[{name, version, fixedInVersion}]}}.
Severities: INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, UNDEFINED (FindingSeverity); ScanStatus COMPLETE is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lab.core.errors import LabError, NotReady
from lab.tools import aws_errors, ecr
from lab.tools.trivy import Finding

# ECR's severities as trivy's names (INFORMATIONAL and UNDEFINED rank lowest, as trivy's UNKNOWN/LOW).
SEVERITY = {"INFORMATIONAL": "LOW", "UNDEFINED": "UNKNOWN"}
DONE = "COMPLETE"
PENDING = ("IN_PROGRESS", "PENDING", "ACTIVE")


def _attr(finding: dict[str, Any], key: str) -> str:
    for item in finding.get("attributes") or ():
        if item.get("key") == key:
            return str(item.get("value", ""))
    return ""


def parse_findings(page: dict[str, Any]) -> list[Finding]:
    """The findings of one DescribeImageScanFindings answer (basic and enhanced), as trivy Findings."""
    found = page.get("imageScanFindings") or {}
    out: list[Finding] = []
    for item in found.get("findings") or ():
        severity = str(item.get("severity", "UNDEFINED"))
        out.append(
            Finding(
                id=str(item.get("name", "")),
                severity=SEVERITY.get(severity, severity),
                package=_attr(item, "package_name"),
                installed=_attr(item, "package_version"),
                fixed="",
                title=str(item.get("uri", "")),
                target="ECR basic scan",
            )
        )
    for item in found.get("enhancedFindings") or ():
        severity = str(item.get("severity", "UNDEFINED"))
        details = item.get("packageVulnerabilityDetails") or {}
        for pkg in details.get("vulnerablePackages") or [{}]:
            out.append(
                Finding(
                    id=str(details.get("vulnerabilityId", "")),
                    severity=SEVERITY.get(severity, severity),
                    package=str(pkg.get("name", "")),
                    installed=str(pkg.get("version", "")),
                    fixed=str(pkg.get("fixedInVersion", "")),
                    title=str(item.get("title", "")),
                    target="ECR enhanced scan",
                )
            )
    return out


def scan_findings(
    client: Any,
    repository: str,
    digest: str,
    *,
    timeout: float = 300.0,
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Finding]:
    """Wait (up to TIMEOUT seconds, every INTERVAL, as botocore's ImageScanComplete waiter: delay 5) until ECR's
    scan of REPOSITORY@DIGEST is COMPLETE, then every page of its findings. A scan ECR cannot do
    (UNSUPPORTED_IMAGE, FAILED, ...) is a LabError; one still running at the deadline is NotReady."""
    image_id = {"imageDigest": digest}
    deadline = clock() + timeout
    while True:
        try:
            page = client.describe_image_scan_findings(repositoryName=repository, imageId=image_id)
        except Exception as exc:
            if ecr.error_code(exc) != "ScanNotFoundException":  # not started yet right after the push
                raise ecr.wrap_error(exc, f"read ECR's scan of {repository}@{digest}") from exc
            status, description = "PENDING", aws_errors.error_message(exc)
        else:
            scan = page.get("imageScanStatus") or {}
            status, description = str(scan.get("status", "")), str(scan.get("description", ""))
        if status == DONE:
            break
        if status not in PENDING:
            raise LabError(
                f"ECR could not scan {repository}@{digest}: {status} {description}".strip(),
                hint=f"aws ecr describe-image-scan-findings --repository-name {repository} "
                f"--image-id imageDigest={digest}",
            )
        if clock() >= deadline:
            raise NotReady(f"ECR's scan of {repository}@{digest}", f"{status} {description}".strip(), timeout)
        sleep(interval)
    findings = parse_findings(page)
    while page.get("nextToken"):
        page = client.describe_image_scan_findings(
            repositoryName=repository, imageId=image_id, nextToken=page["nextToken"]
        )
        findings += parse_findings(page)
    return findings
