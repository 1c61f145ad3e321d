"""Credentials in LAB_GITOPS_REMOTE: taken out of the URL, given to git through a credential helper in the
environment, shown nowhere (the authenticated git server test is in tests/integration/test_gitops_git.py)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from lab.core.config import load_settings
from lab.core.runner import DryRunRunner
from lab.core.urls import Credential, split_url
from lab.tools import git_credential
from lab.tools.git_credential import helper_env


@pytest.mark.parametrize(
    ("url", "clean", "user", "password"),
    [
        (
            "https://ada:s3cret@git.example.test/team/gitops.git",
            "https://git.example.test/team/gitops.git",
            "ada",
            "s3cret",
        ),
        ("http://ada:p%40ss%3Aw@127.0.0.1:3000/gitops.git", "http://127.0.0.1:3000/gitops.git", "ada", "p@ss:w"),
        ("https://ghp_token@github.com/team/gitops.git", "https://github.com/team/gitops.git", "ghp_token", ""),
        ("http://u:p@ss@host:8080/r.git", "http://host:8080/r.git", "u", "p@ss"),  # an unencoded @ in the password
    ],
)
def test_split_url_takes_the_credentials_out(url: str, clean: str, user: str, password: str) -> None:
    got, credential = split_url(url)
    assert got == clean
    assert credential is not None and (credential.username, credential.password) == (user, password)
    assert user not in repr(credential)  # never in a repr (logs, tracebacks)
    if password:
        assert password not in repr(credential)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000/gitops.git",
        "ssh://git@github.com/team/gitops.git",  # the user name is the address, not a secret
        "git@github.com:team/gitops.git",
        "/srv/git/gitops.git",
    ],
)
def test_split_url_leaves_other_addresses_alone(url: str) -> None:
    assert split_url(url) == (url, None)


def test_settings_show_the_gitops_url_without_credentials(tmp_path: Path) -> None:
    settings = load_settings(
        {"gitops_remote": "https://ada:s3cret@git.example.test/gitops.git"},
        environ={},
        config_file=tmp_path / "none.toml",
    )
    assert settings.gitops_url == "https://git.example.test/gitops.git"


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_the_helper_answers_git_with_the_credential_and_names_no_secret(tmp_path: Path) -> None:
    """A real `git credential fill` with the helper's environment returns the credential; the config values git
    sees (GIT_CONFIG_VALUE_n) hold only the names of the variables."""
    env = helper_env(Credential("ada", "s3cr@t"))
    assert not any("s3cr@t" in value for key, value in env.items() if key.startswith("GIT_CONFIG"))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")  # the user's helper: cleared, never asked
    res = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.test\n\n",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", **env},
        check=False,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    assert "username=ada\n" in res.stdout and "password=s3cr@t\n" in res.stdout
    shown = subprocess.run(
        ["git", "config", "--show-origin", "--get-all", "credential.helper"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", **env},
        check=False,
    ).stdout
    assert "LAB_GIT_PASSWORD" in shown and "s3cr@t" not in shown


def test_a_dry_run_shows_that_a_password_is_passed_never_the_password() -> None:
    out = io.StringIO()
    DryRunRunner(out=out).run(["git", "fetch"], env={git_credential.PASSWORD_ENV: "s3cr@t", "GIT_TERMINAL_PROMPT": "0"})
    assert "LAB_GIT_PASSWORD='<redacted>'" in out.getvalue() and "s3cr@t" not in out.getvalue()
    assert "GIT_TERMINAL_PROMPT=0" in out.getvalue()


def test_a_dry_run_shows_neither_part_of_a_credential() -> None:
    """A token as the user name (https://TOKEN@host/...) is a credential too: the printed command names the
    variables, never their values."""
    out = io.StringIO()
    DryRunRunner(out=out).run(["git", "fetch"], env=helper_env(Credential("ghp_t0kenAsUser", "")))
    shown = out.getvalue()
    assert "ghp_t0kenAsUser" not in shown
    assert f"{git_credential.USERNAME_ENV}='<redacted>'" in shown


def test_a_token_as_the_user_name_is_in_no_printed_manifest(tmp_path: Path) -> None:
    """LAB_GITOPS_REMOTE=https://TOKEN@host/...: what `up` registers in Argo CD carries the token only in the
    repository Secret's username, and a dry run prints that Secret redacted, the URLs bare."""
    from lab.components import argocd as argocd_steps
    from lab.components import services
    from lab.core.context import Context
    from lab.core.ui import UI

    token = "ghp_t0kenAsUserName"
    settings = load_settings(
        {"state_dir": tmp_path / ".lab", "gitops_remote": f"https://{token}@git.example.test/team/gitops.git"},
        environ={},
        config_file=tmp_path / "none.toml",
    )
    out = io.StringIO()
    ctx = Context(settings, DryRunRunner(out=out), UI(err=out, out=out))
    credentials = argocd_steps.local_gitops_credentials(ctx)
    assert credentials is not None and credentials.username == token  # Argo CD gets it, in the Secret
    argocd_steps.ensure_gitops_apps(ctx, services.in_cluster_gitops_url(settings), credentials)
    shown = out.getvalue()
    assert token not in shown, shown
    assert "username: <redacted>" in shown and "url: https://git.example.test/team/gitops.git" in shown
