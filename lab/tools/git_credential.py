"""Git credentials: ask the user's git credential helpers for them (`git credential fill`), and hand the ones a
LAB_GITOPS_REMOTE URL carries to the lab's own git commands without any URL, file or argv holding them.

`git credential fill` asks the user's helpers (osxkeychain, manager, store, gh, ...) for the credentials of an
HTTPS URL, as git itself would before a push.

Protocol (git docs, git-credential "INPUT/OUTPUT FORMAT"): key=value lines on stdin (protocol, host, path) ended
by a blank line; the answer has the same form with username and password added. With GIT_TERMINAL_PROMPT=0 git
fails instead of prompting when no helper knows the URL. The question on stdin holds no secret; the answer is
parsed and never logged.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lab.core.runner import Runner
from lab.core.urls import Credential as Credential  # re-exported: the credential plumbing's own type
from lab.core.urls import split_url as split_url  # re-exported for the callers that strip URLs here
from lab.tools.git import GIT, NETWORK_ENV

# A printed command (dry run) shows the values of variables named ..._SECRET or ..._PASSWORD as <redacted>
# (lab/core/runner.py SECRET_ENV_SUFFIXES): the user name is one of them, a token often stands in it.
USERNAME_ENV = "LAB_GIT_USERNAME_SECRET"
PASSWORD_ENV = "LAB_GIT_PASSWORD"  # noqa: S105 (the variable's name)
# A credential helper for one command (git docs, gitcredentials "CUSTOM HELPERS": a value starting with "!" is a
# shell snippet, run with the action as its argument; only `get` is answered, so nothing is stored or erased).
# It names the variables, never their values: `git config`, argv and --debug output show no secret.
HELPER = f'!f() {{ test "$1" = get && printf "username=%s\\npassword=%s\\n" "${USERNAME_ENV}" "${PASSWORD_ENV}"; }}; f'


def helper_env(credential: Credential) -> dict[str, str]:
    """The environment for one git command to authenticate with CREDENTIAL: `credential.helper` set through git's
    GIT_CONFIG_COUNT / GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n> (git >= 2.31, git-config "ENVIRONMENT"), nothing
    written to any config file. The first, empty value clears the helper list, so the user's own helpers neither
    answer for this remote nor store its password (credential.helper=store would write it to ~/.git-credentials)."""
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": HELPER,
        USERNAME_ENV: credential.username,
        PASSWORD_ENV: credential.password,
    }


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
