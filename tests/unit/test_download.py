"""lab.tools.download: the one verified download (kind binary, Argo CD install manifest)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lab.core.errors import ChecksumMismatch, DownloadFailed, Refused
from lab.tools import download

BODY = b"pinned bytes"
SHA = hashlib.sha256(BODY).hexdigest()


def serve(body: bytes) -> download.Fetch:
    def fetch(url: str, dest: Path) -> None:
        dest.write_bytes(body)

    return fetch


def test_a_matching_download_replaces_the_destination_not_executable(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "file"
    download.download_verified("https://x.test/f", dest, SHA, fetch=serve(BODY), by_hand="copy it")
    assert dest.read_bytes() == BODY and dest.stat().st_mode & 0o777 == 0o644
    assert list(dest.parent.iterdir()) == [dest]


def test_a_mismatch_leaves_the_destination_as_it_was_and_no_temporary_file(tmp_path: Path) -> None:
    dest = tmp_path / "file"
    dest.write_bytes(b"the old, good copy")
    with pytest.raises(ChecksumMismatch, match="nothing was installed"):
        download.download_verified("https://x.test/f", dest, SHA, fetch=serve(b"tampered"), by_hand="copy it")
    assert dest.read_bytes() == b"the old, good copy"
    assert list(tmp_path.iterdir()) == [dest]


def test_a_failed_fetch_names_the_way_by_hand_and_cleans_up(tmp_path: Path) -> None:
    def broken(url: str, dest: Path) -> None:
        dest.write_bytes(b"half")
        raise ConnectionResetError("reset by peer")

    with pytest.raises(DownloadFailed, match="reset by peer") as info:
        download.download_verified("https://x.test/f", tmp_path / "file", SHA, fetch=broken, by_hand="copy it")
    assert info.value.hint is not None and info.value.hint.endswith("or copy it")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["http://example.com/f", "ftp://127.0.0.1/f", "file:///etc/passwd"])
def test_only_https_or_local_http_is_fetched(tmp_path: Path, url: str) -> None:
    with pytest.raises(Refused, match="only https"):
        download.urllib_fetch(url, tmp_path / "f")
    assert not (tmp_path / "f").exists()
