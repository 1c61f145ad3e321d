"""The hosted GitOps repository of the aws target: its URL (credentials moved out of it) and the credentials
Argo CD reads it with (never written into git, never printed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from lab.core.aws_config import GITOPS_TOKEN_ENV, GITOPS_USERNAME_ENV, AwsSettings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.manifests import argocd as argocd_manifests
from lab.manifests.argocd import GitCredentials
from lab.tools import aws as aws_tool
from lab.tools import git_credential

DEFAULT_GIT_USERNAME = "git"  # token-based HTTPS auth (GitHub, GitLab) accepts any non-empty username


@dataclass(frozen=True)
class GitOpsRemote:
    url: str  # without credentials
    embedded: GitCredentials | None = None  # user:token@ found in LAB_GITOPS_REMOTE (moved out of the URL)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, f"{argocd_manifests.REDACTED}@{host}", parts.path, parts.query, parts.fragment))


def gitops_remote(settings: Settings) -> GitOpsRemote:
    """The hosted GitOps repository the cluster's Argo CD reads: an http(s) URL EKS can reach."""
    url = settings.gitops_remote
    if not url:
        raise ConfigError(
            "target aws needs a hosted GitOps repository: EKS cannot reach the lab's git server on this machine",
            hint="create an empty repository (GitHub, GitLab, CodeCommit, ...) and set LAB_GITOPS_REMOTE=https://...",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ConfigError(
            f"LAB_GITOPS_REMOTE must be an https:// URL on target aws, got {redact_url(url)!r}",
            hint="SSH remotes need a deploy key in Argo CD; the lab registers HTTPS with a token",
        )
    if aws_tool.is_loopback_url(url):
        raise ConfigError(
            f"LAB_GITOPS_REMOTE {redact_url(url)} is on this machine: pods in EKS cannot reach it",
            hint="use a hosted repository (GitHub, GitLab, CodeCommit, ...)",
        )
    embedded = None
    if parts.username or parts.password:
        embedded = GitCredentials(parts.username or DEFAULT_GIT_USERNAME, parts.password or "")
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return GitOpsRemote(url, embedded)


def gitops_credentials(
    ctx: Context, remote: GitOpsRemote, aws: AwsSettings, *, environ: Mapping[str, str] | None = None
) -> GitCredentials | None:
    """Credentials for the GitOps repository: LAB_GITOPS_USERNAME/LAB_GITOPS_TOKEN, else `git credential fill`.

    Never written into git, never printed: GitCredentials hides the password from repr, the Secret goes to
    kubectl on stdin, and dry runs print it redacted."""
    env = os.environ if environ is None else environ
    source = aws.gitops_credentials
    if source == "none":
        return None
    if remote.embedded is not None and remote.embedded.password:
        ctx.ui.warn("LAB_GITOPS_REMOTE carries credentials: prefer LAB_GITOPS_TOKEN (URLs end up in shell history)")
        return remote.embedded
    token = env.get(GITOPS_TOKEN_ENV, "")
    if source in ("auto", "env") and token:
        return GitCredentials(env.get(GITOPS_USERNAME_ENV) or DEFAULT_GIT_USERNAME, token)
    if source == "env":
        raise ConfigError(
            f"LAB_AWS_GITOPS_CREDENTIALS=env but {GITOPS_TOKEN_ENV} is not set",
            hint=f"export {GITOPS_TOKEN_ENV}=<a token with read access> (and {GITOPS_USERNAME_ENV} if needed)",
        )
    found = git_credential.fill(ctx.runner, remote.url)
    if found is not None:
        return GitCredentials(found.username, found.password)
    if source == "helper":
        raise ConfigError(
            f"no git credential helper holds credentials for {remote.url}",
            hint=f"log in once with git (e.g. `gh auth login`), or set {GITOPS_TOKEN_ENV}",
        )
    ctx.ui.warn(
        f"no credentials for {remote.url} ({GITOPS_TOKEN_ENV} unset, no answer from `git credential fill`): "
        "registering it without, which works for a public repository only"
    )
    return None
