"""Credentials in URLs: a git remote written `https://USER:TOKEN@host/repo.git` is split into the URL the lab
prints and stores, and the credential it hands to git (lab/tools/git_credential.py) and to Argo CD (its repository
Secret). Pure parsing, so the settings (lab/core/config.py gitops_url) can strip a URL without the tools layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

HTTP_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Credential:
    username: str = field(repr=False)  # a token often stands in the user name
    password: str = field(repr=False)


HTTP_SCHEMES = ("http", "https")


def split_url(url: str) -> tuple[str, Credential | None]:
    """An http(s) URL without its `user[:password]@`, and the credentials it carried (percent-decoded, as git reads
    them); None when it has none. Other addresses (ssh://, `git@host:path`, paths) are returned as they are: their
    user name is part of the address, and git never takes a password from them."""
    parts = urlsplit(url)
    if parts.scheme not in HTTP_SCHEMES or "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), Credential(unquote(user), unquote(password))
