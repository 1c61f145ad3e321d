"""Finding, checking and installing kind: checksum before anything is kept or made executable."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import stat
import threading
from functools import partial
from pathlib import Path

import pytest
from fakes import FakeRunner

from lab.core import versions
from lab.core.config import Settings, load_settings
from lab.core.context import Context
from lab.core.errors import ChecksumMismatch, Refused, ToolNotFound
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.steps import kindbin
from lab.tools import kind as kind_tool

PLATFORM = "linux-amd64"
PAYLOAD = b"#!/bin/sh\necho 'kind v0.32.0 go1.25.5 linux/amd64'\n"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"state_dir": tmp_path / "state"}, config_file=tmp_path / "none.toml", environ={})


@pytest.fixture(autouse=True)
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with no kind on it, whatever the developer has installed."""
    bindir = tmp_path / "path-bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    return bindir


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(versions.KIND_SHA256, PLATFORM, SHA)
    return SHA


def make_ctx(settings: Settings, runner: FakeRunner | DryRunRunner | None = None) -> Context:
    return Context(settings, runner or FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def ui_text(ctx: Context) -> str:
    return ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def serve_bytes(payload: bytes) -> kindbin.Fetch:
    calls: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(payload)

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


def leftovers(settings: Settings) -> list[Path]:
    return [p for p in settings.state_dir.rglob("*") if p.is_file()] if settings.state_dir.exists() else []


def test_checksum_ok_installs_executable(settings: Settings, pinned: str) -> None:
    runner = FakeRunner()
    target = settings.state_dir / "bin" / "kind"
    runner.script([str(target), "version"], stdout="kind v0.32.0 go1.25.5 linux/amd64\n")
    fetch = serve_bytes(PAYLOAD)
    result = kindbin.ensure_kind(make_ctx(settings, runner), fix=True, fetch=fetch, platform=PLATFORM)
    assert result == kindbin.KindBinary(str(target), versions.KIND_VERSION, "installed")
    assert fetch.calls == [f"https://kind.sigs.k8s.io/dl/{versions.KIND_VERSION}/kind-linux-amd64"]  # type: ignore[attr-defined]
    assert target.read_bytes() == PAYLOAD
    assert os.access(target, os.X_OK)
    cached = settings.cache_dir / f"kind-{versions.KIND_VERSION}-{PLATFORM}"
    assert cached.read_bytes() == PAYLOAD
    assert not cached.stat().st_mode & stat.S_IXUSR  # the cache copy is never executable
    assert not list(settings.cache_dir.glob("*.part"))
    # the lab's binary is what the kind tool now runs
    assert kind_tool.binary(settings.state_dir) == str(target)


def test_checksum_mismatch_installs_nothing(settings: Settings, pinned: str) -> None:
    seen: list[Path] = []

    def fetch(url: str, dest: Path) -> None:
        seen.append(dest)
        dest.write_bytes(PAYLOAD + b"tampered")

    runner = FakeRunner()
    with pytest.raises(ChecksumMismatch) as exc:
        kindbin.ensure_kind(make_ctx(settings, runner), fix=True, fetch=fetch, platform=PLATFORM)
    assert exc.value.exit_code == 7
    assert SHA in exc.value.message and "nothing was installed" in exc.value.message
    assert seen and not seen[0].exists()  # the temporary download is gone
    assert leftovers(settings) == []
    assert not (settings.state_dir / "bin" / "kind").exists()
    assert runner.calls == []  # nothing was run


def test_missing_without_fix_names_the_fix(settings: Settings) -> None:
    with pytest.raises(ToolNotFound) as exc:
        kindbin.ensure_kind(make_ctx(settings), fix=False)
    assert exc.value.exit_code == 3
    assert exc.value.hint is not None and "\n" not in exc.value.hint
    assert "--fix" in exc.value.hint and versions.KIND_VERSION in exc.value.hint
    assert leftovers(settings) == []


def installed_kind_answers(settings: Settings) -> FakeRunner:
    """A runner where the kind the lab installs into <state_dir>/bin reports the pinned version."""
    runner = FakeRunner()
    runner.script(
        [str(settings.state_dir / "bin" / "kind"), "version"], f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64\n"
    )
    return runner


def test_download_over_local_http(settings: Settings, pinned: str, tmp_path: Path) -> None:
    """The default (urllib) fetch against a real HTTP server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "kind-linux-amd64").write_bytes(PAYLOAD)
    handler = partial(QuietHandler, directory=str(root))
    with serving(handler) as port:
        url = f"http://127.0.0.1:{port}/kind-linux-amd64"
        result = kindbin.ensure_kind(
            make_ctx(settings, installed_kind_answers(settings)), fix=True, platform=PLATFORM, url=url
        )
    assert Path(result.path).read_bytes() == PAYLOAD
    assert os.access(result.path, os.X_OK)


def test_non_https_remote_download_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Refused):
        kindbin.urllib_fetch("http://example.com/kind", tmp_path / "kind")
    assert not (tmp_path / "kind").exists()


def test_cached_copy_is_reused_offline(tmp_path: Path, pinned: str) -> None:
    settings = load_settings(
        {"state_dir": tmp_path / "state", "offline": True}, config_file=tmp_path / "none.toml", environ={}
    )
    cached = settings.cache_dir / f"kind-{versions.KIND_VERSION}-{PLATFORM}"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)

    def no_network(url: str, dest: Path) -> None:
        raise AssertionError("must not download")

    runner = installed_kind_answers(settings)
    result = kindbin.ensure_kind(make_ctx(settings, runner), fix=True, fetch=no_network, platform=PLATFORM)
    assert Path(result.path).read_bytes() == PAYLOAD


def test_corrupt_cache_is_discarded_and_offline_refuses(tmp_path: Path, pinned: str) -> None:
    settings = load_settings(
        {"state_dir": tmp_path / "state", "offline": True}, config_file=tmp_path / "none.toml", environ={}
    )
    cached = settings.cache_dir / f"kind-{versions.KIND_VERSION}-{PLATFORM}"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    with pytest.raises(ToolNotFound, match="kind"):
        kindbin.ensure_kind(make_ctx(settings), fix=True, fetch=serve_bytes(PAYLOAD), platform=PLATFORM)
    assert not cached.exists()
    assert not (settings.state_dir / "bin" / "kind").exists()


def test_unpinned_platform_is_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(versions.KIND_SHA256, "plan9-mips", None)
    fetch = serve_bytes(PAYLOAD)
    with pytest.raises(Refused, match="plan9-mips"):
        kindbin.ensure_kind(make_ctx(settings), fix=True, fetch=fetch, platform="plan9-mips")
    assert fetch.calls == []  # type: ignore[attr-defined]


def test_dry_run_downloads_nothing(settings: Settings, pinned: str) -> None:
    fetch = serve_bytes(PAYLOAD)
    ctx = make_ctx(settings, DryRunRunner(out=io.StringIO()))
    result = kindbin.ensure_kind(ctx, fix=True, fetch=fetch, platform=PLATFORM)
    assert result.source == "planned"
    assert fetch.calls == []  # type: ignore[attr-defined]
    assert leftovers(settings) == []
    assert SHA in ui_text(ctx)


def test_dry_run_reads_the_installed_kinds_version_and_plans_the_upgrade(settings: Settings, empty_path: Path) -> None:
    """`kind version` only reads: a dry run asks the kind on PATH for real, so a too old one shows the install the
    real run makes (instead of passing as "found")."""
    exe = fake_kind_on_path(empty_path)
    reads = FakeRunner()
    reads.script([str(exe), "version"], stdout="kind v0.20.0 go1.20 linux/amd64\n")
    runner = DryRunRunner(out=io.StringIO(), reads=reads)
    result = kindbin.ensure_kind(make_ctx(settings, runner), fix=True, fetch=serve_bytes(PAYLOAD), platform=PLATFORM)
    assert reads.commands == [f"{exe} version"] and runner.calls == []
    assert result.source == "planned" and result.path == str(kindbin.lab_binary_path(settings))
    assert leftovers(settings) == []


def fake_kind_on_path(bindir: Path) -> Path:
    exe = bindir / "kind"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return exe


def test_pinned_kind_on_path_is_used_quietly(settings: Settings, empty_path: Path) -> None:
    exe = fake_kind_on_path(empty_path)
    runner = FakeRunner()
    runner.script([str(exe), "version"], stdout=f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64\n")
    ctx = make_ctx(settings, runner)
    assert kindbin.ensure_kind(ctx) == kindbin.KindBinary(str(exe), versions.KIND_VERSION, "path")
    assert ui_text(ctx) == ""


def test_other_supported_version_warns(settings: Settings, empty_path: Path) -> None:
    exe = fake_kind_on_path(empty_path)
    runner = FakeRunner()
    runner.script([str(exe), "version"], stdout="kind v0.30.0 go1.24.0 darwin/arm64\n")
    ctx = make_ctx(settings, runner)
    assert kindbin.ensure_kind(ctx).version == "v0.30.0"
    assert "v0.30.0" in ui_text(ctx) and versions.KIND_VERSION in ui_text(ctx)


def test_too_old_kind_is_not_enough(settings: Settings, empty_path: Path, pinned: str) -> None:
    exe = fake_kind_on_path(empty_path)
    runner = FakeRunner()
    runner.script([str(exe), "version"], stdout="kind v0.20.0 go1.20.4 linux/amd64\n")
    with pytest.raises(ToolNotFound, match=r"v0\.20\.0"):
        kindbin.ensure_kind(make_ctx(settings, runner))
    # with fix, the pinned release goes into .lab/bin, which takes precedence over PATH
    target = settings.state_dir / "bin" / "kind"
    runner.script([str(target), "version"], stdout=f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64\n")
    result = kindbin.ensure_kind(make_ctx(settings, runner), fix=True, fetch=serve_bytes(PAYLOAD), platform=PLATFORM)
    assert result.path == str(target) and result.source == "installed"
    assert kindbin.find_kind(settings) == (str(target), "lab")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("kind v0.32.0 go1.25.5 linux/amd64\n", "v0.32.0"),
        ("kind v0.33.0-alpha.12+0123456789abcd go1.26 linux/arm64", "v0.33.0-alpha.12+0123456789abcd"),
        ("0.32.0\n", "v0.32.0"),  # `kind version -q`
        ("", ""),
    ],
)
def test_parse_kind_version(output: str, expected: str) -> None:
    assert kind_tool.parse_version(output) == expected


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("linux", "x86_64", "linux-amd64"),
        ("linux", "aarch64", "linux-arm64"),
        ("darwin", "arm64", "darwin-arm64"),
        ("darwin", "x86_64", "darwin-amd64"),
    ],
)
def test_platform_id(system: str, machine: str, expected: str) -> None:
    assert kindbin.platform_id(system, machine) == expected
    assert expected in versions.KIND_SHA256


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class serving:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> for the duration of a with block."""

    def __init__(self, handler: object) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.server.server_address[1])

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
