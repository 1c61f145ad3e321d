"""`git credential fill`: ask the user's git credential helpers (osxkeychain, manager, store, gh, ...) for the
credentials of an HTTPS URL, as git itself would before a push.

Protocol (git docs, git-credential "INPUT/OUTPUT FORMAT"): key=value lines on stdin (protocol, host, path) ended
by a blank line; the answer has the same form with username and password added. With GIT_TERMINAL_PROMPT=0 git
fails instead of prompting when no helper knows the URL. The question on stdin holds no secret; the answer is
parsed and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lab.runner import Runner
from lab.tools.git import GIT, NETWORK_ENV


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)


def fill_request(url: str) -> str:
    parts = urlsplit(url)
    lines = [f"protocol={parts.scheme}", f"host={parts.hostname or ''}"]
    if parts.port:
        lines[-1] += f":{parts.port}"
    path = parts.path.lstrip("/")
    if path:
        lines.append(f"path={path}")
    return "\n".join(lines) + "\n\n"


def parse_fill(output: str) -> Credential | None:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    if values.get("username") and values.get("password"):
        return Credential(values["username"], values["password"])
    return None


def fill(runner: Runner, url: str) -> Credential | None:
    """The credentials git's helpers hold for ``url``; None when there are none (or in a dry run)."""
    res = runner.run([GIT, "credential", "fill"], input=fill_request(url), env=NETWORK_ENV, check=False, timeout=60)
    if res.returncode != 0:
        return None
    return parse_fill(res.stdout)
