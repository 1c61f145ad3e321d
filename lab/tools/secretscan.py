"""The secret scan of every commit the lab makes to the GitOps repo: a plaintext secret is refused (SecretFound).

Two kinds of rule, over the files the commit changes (their staged content, `git show :PATH`):

- Kubernetes: a `kind: Secret` (apiVersion v1) with non-empty `data` or `stringData` is a plaintext secret in git
  (`data` is base64, which is an encoding, not encryption), and so is a kustomize `secretGenerator` (it makes a
  Secret from literals or files that are in git). A SealedSecret's `encryptedData` is what belongs there.
- Token-shaped secrets, with the detectors of Yelp's detect-secrets (pinned in pyproject.toml) that match a key's
  own format: AWS access keys, private keys (PEM), GitHub/GitLab/Slack/Stripe/npm/PyPI/... tokens, JWTs, basic-auth
  URLs. Its entropy and keyword detectors are left out: a GitOps repo is full of image digests and hashes they
  would flag.

The detectors run in this process (detect-secrets is a library: detect_secrets.plugins.*.analyze_line); only git
runs as a process, through the runner. Findings name the file, line and rule, never the secret's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.core.runner import Runner


@dataclass(frozen=True)
class SecretFinding:
    path: str
    line: int  # 1-based; 0 when the rule is about a whole object
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}  {self.rule}" if self.line else f"{self.path}  {self.rule}"


def _detectors() -> list[Any]:
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    classes = (
        AWSKeyDetector,
        PrivateKeyDetector,
        ArtifactoryDetector,
        AzureStorageKeyDetector,
        BasicAuthDetector,
        DiscordBotTokenDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        JwtTokenDetector,
        MailchimpDetector,
        NpmDetector,
        OpenAIDetector,
        PypiTokenDetector,
        SendGridDetector,
        SlackDetector,
        SquareOAuthDetector,
        StripeDetector,
        TelegramBotTokenDetector,
        TwilioKeyDetector,
    )
    return [cls() for cls in classes]


def scan_tokens(path: str, text: str) -> list[SecretFinding]:
    """detect-secrets' token detectors over TEXT, line by line."""
    found: list[SecretFinding] = []
    detectors = _detectors()
    for number, line in enumerate(text.splitlines(), start=1):
        for detector in detectors:
            for secret in detector.analyze_line(filename=path, line=line, line_number=number):
                found.append(SecretFinding(path, number, f"{secret.type} (detect-secrets {type(detector).__name__})"))
    return found


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 0


def scan_kubernetes(path: str, text: str) -> list[SecretFinding]:
    """Secrets with data/stringData, and kustomize secretGenerators, in a YAML file (other files: nothing)."""
    if not path.endswith((".yaml", ".yml")):
        return []
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []  # not YAML after all; the overlay's own render + validate refuses what kustomize cannot read
    found: list[SecretFinding] = []
    for doc in docs:
        if doc.get("kind") == "Secret" and str(doc.get("apiVersion", "v1")) == "v1":
            name = (doc.get("metadata") or {}).get("name", "?")
            for field in ("data", "stringData"):
                values = doc.get(field)
                if isinstance(values, dict) and values:
                    keys = ", ".join(sorted(str(k) for k in values))
                    found.append(
                        SecretFinding(
                            path,
                            _line_of(text, f"{field}:"),
                            f"Kubernetes Secret/{name} with plaintext {field} (keys: {keys})",
                        )
                    )
        generators = doc.get("secretGenerator")
        if isinstance(generators, list) and generators:
            names = ", ".join(str((g or {}).get("name", "?")) for g in generators if isinstance(g, dict))
            found.append(
                SecretFinding(
                    path,
                    _line_of(text, "secretGenerator:"),
                    f"kustomize secretGenerator ({names}): makes a Secret from plaintext in git",
                )
            )
    return found


def scan_text(path: str, text: str) -> list[SecretFinding]:
    return [*scan_kubernetes(path, text), *scan_tokens(path, text)]


def staged_paths(runner: Runner, repo: Path) -> list[str]:
    """Files the next commit adds or changes (not deletions)."""
    out = runner.run(
        ["git", "-C", str(repo), "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], timeout=60
    ).stdout
    return [p for p in out.split("\0") if p]


def staged_text(runner: Runner, repo: Path, path: str) -> str | None:
    """The staged content of PATH, or None for a file that is not text."""
    res = runner.run(["git", "-C", str(repo), "show", f":{path}"], check=False, timeout=60)
    if res.returncode != 0 or "\0" in res.stdout:
        return None
    return res.stdout


def scan_staged(runner: Runner, repo: Path, *, paths: Iterable[str] | None = None) -> list[SecretFinding]:
    """Every finding in what is staged in REPO (or in PATHS of it)."""
    found: list[SecretFinding] = []
    for path in staged_paths(runner, repo) if paths is None else paths:
        text = staged_text(runner, repo, path)
        if text is not None:
            found += scan_text(path, text)
    return found


def describe(findings: Sequence[SecretFinding]) -> list[str]:
    return [str(f) for f in findings]
