"""The lab's error types. Every failure a user can meet is a LabError with a distinct exit code.

tasks.py turns a LabError into a short message (what failed, the command, its exit code, the last lines of
stderr, one line of advice) and the exit code below; a traceback only with --debug.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class LabError(Exception):
    """Base class. ``hint`` is one line of advice on what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        lines = [f"✗ {self.message}"]
        lines.extend(self.details())
        if self.hint:
            lines.append(f"  → {self.hint}")
        return "\n".join(lines)

    def details(self) -> list[str]:
        return []


class ConfigError(LabError):
    """Unknown or invalid setting (target, provider, environment name, port...)."""

    exit_code = 2


class ToolNotFound(LabError):
    """A required executable is missing or at an unsupported version."""

    exit_code = 3

    def __init__(self, tool: str, *, hint: str | None = None) -> None:
        super().__init__(f"{tool} is not installed or not on PATH", hint=hint)
        self.tool = tool


class CommandFailed(LabError):
    """A process exited non-zero. Carries the pasteable command, exit code and the tail of stderr."""

    exit_code = 4
    TAIL_LINES = 12

    def __init__(
        self,
        argv: Sequence[str],
        code: int,
        stderr: str = "",
        *,
        hint: str | None = None,
        what: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.code = code
        self.stderr_tail = "\n".join(stderr.strip().splitlines()[-self.TAIL_LINES :])
        super().__init__(what or f"{self.argv[0]} failed", hint=hint)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def details(self) -> list[str]:
        out = [f"  $ {self.command}", f"  exit code {self.code}"]
        if self.stderr_tail:
            out.extend("  | " + line for line in self.stderr_tail.splitlines())
        return out


class NotReady(LabError):
    """Something did not reach the wanted state in time. Reports the last state seen."""

    exit_code = 5

    def __init__(self, what: str, last_state: str, timeout: float, *, hint: str | None = None) -> None:
        super().__init__(f"{what} not ready after {timeout:g}s; last state: {last_state}", hint=hint)
        self.what = what
        self.last_state = last_state
        self.timeout = timeout


class Conflict(LabError):
    """The world is not as the lab expects: a busy port, a cluster the lab did not create, a moved remote."""

    exit_code = 6


class ChecksumMismatch(LabError):
    """A download's sha256 differs from the pinned one. Nothing was installed."""

    exit_code = 7


class Refused(LabError):
    """A request the lab will not carry out as asked (dirty tree, promote downwards, revert a non-deploy)."""

    exit_code = 8


class QualityGateFailed(LabError):
    """The app's tests or lint failed: nothing was built, pushed or committed."""

    exit_code = 9


class RegistryError(LabError):
    """The registry is unreachable, refused a push, or does not hold the requested tag."""

    exit_code = 10


class GitOpsError(LabError):
    """The GitOps repository could not be updated (push rejected, overlay would not render)."""

    exit_code = 11


class ClusterUnreachable(LabError):
    """No Kubernetes API server answers with the lab's kubeconfig/context."""

    exit_code = 12


class SyncFailed(LabError):
    """Argo CD ran the sync and it failed, or the deployed revision stays Degraded."""

    exit_code = 13


class DownloadFailed(LabError):
    """A pinned download could not be fetched (network, proxy, HTTP error)."""

    exit_code = 14


class PreflightFailed(LabError):
    """A required `invoke doctor` check failed (Docker, memory, disk, network), so `up` changed nothing."""

    exit_code = 15


class Interrupted(LabError):
    """Ctrl-C (SIGINT) stopped the command: the message says what had happened by then (whether a commit reached the
    GitOps remote) and that nothing half-done was left behind. 130 = 128 + SIGINT, as a shell reports it."""

    exit_code = 130

    def __init__(self, message: str, *, hint: str | None = None, pushed: bool | None = False) -> None:
        super().__init__(message, hint=hint)
        self.pushed = pushed  # did the GitOps commit reach the remote? None: could not tell


class DockerUnreachable(PreflightFailed):
    """The Docker daemon does not answer: the command looked at nothing and changed nothing (exit code as for the
    Docker check of `up`'s preflight)."""


class ScanBlocked(LabError):
    """The image scan found vulnerabilities at or above the threshold (settings.scan_severity) that nobody accepted
    (`invoke ship --allow-vulnerable ID`): nothing was pushed or committed. FINDINGS are the lines that list them
    (ID, severity, package, installed and fixed version)."""

    exit_code = 16

    def __init__(self, message: str, findings: Sequence[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.findings = list(findings)

    def details(self) -> list[str]:
        return [f"  {line}" for line in self.findings]


class SecretFound(LabError):
    """A commit the lab was about to make to the GitOps repo holds a plaintext secret (a Kubernetes Secret with
    data/stringData, a private key, a cloud key): it was refused, nothing was committed or pushed. FINDINGS name
    the file, line and rule of each (never the secret itself)."""

    exit_code = 17

    def __init__(self, message: str, findings: Sequence[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.findings = list(findings)

    def details(self) -> list[str]:
        return [f"  {line}" for line in self.findings]


class ArgoCDDenied(LabError):
    """Argo CD's API server refused a request of a persona (HTTP 401: the login; 403: its RBAC, argocd-rbac-cm).
    STATUS is the HTTP status, ANSWER what Argo CD said (`HTTP 403 PermissionDenied: permission denied: ...`);
    DETAIL_LINES are shown under the message (e.g. the policy line that would allow the request)."""

    exit_code = 18

    def __init__(
        self,
        message: str,
        status: int,
        answer: str,
        *,
        detail_lines: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.answer = answer
        self.detail_lines = list(detail_lines)

    def details(self) -> list[str]:
        return [f"  Argo CD answered {self.answer}", *(f"  {line}" for line in self.detail_lines)]


class ServiceUnreachable(LabError):
    """One of the lab's service containers does not answer on its 127.0.0.1 port (absent, stopped, or failing): the
    message says which and how Docker sees it, the hint the command that brings it back."""

    exit_code = 19
