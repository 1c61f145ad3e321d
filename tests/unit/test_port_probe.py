"""One port probe (lab.tools.probes.port_free) for `invoke doctor` and for `up`, checked with real sockets on
127.0.0.1."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeRunner

from lab.core.config import Settings
from lab.core.context import Context
from lab.core.ui import UI
from lab.steps import doctor
from lab.tools import probes


@pytest.fixture
def listener() -> Iterator[int]:
    """A socket listening on 127.0.0.1; yields its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_doctor_uses_the_probe_that_up_uses() -> None:
    assert doctor.Probes().port_is_free is probes.port_free


def test_doctor_reports_a_port_with_a_listener_as_busy(listener: int, tmp_path: Path) -> None:
    """Docker could not publish 127.0.0.1:<port> beside that listener."""
    ctx = Context(Settings(state_dir=tmp_path, argocd_port=listener), FakeRunner(), UI(err=io.StringIO()))
    [check] = [c for c in doctor.check_ports(ctx, doctor.Probes(), owned=set()) if c.name == f"port {listener}"]
    assert not check.ok and "in use by another program" in check.detail
    assert probes.port_free(listener) is False


def test_a_closed_port_is_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert probes.port_free(port) is True


@pytest.mark.parametrize(("platform", "reuse"), [("linux", True), ("darwin", False), ("win32", False)])
def test_so_reuseaddr_only_on_linux(monkeypatch: pytest.MonkeyPatch, platform: str, reuse: bool) -> None:
    """On BSD/macOS SO_REUSEADDR lets 127.0.0.1 bind beside a 0.0.0.0 listener, so the probe would call a busy
    port free; on Linux it only forgives TIME_WAIT."""
    options: list[tuple[int, int, int]] = []

    class Recording(socket.socket):
        def setsockopt(self, level: int, option: int, value: int) -> None:  # type: ignore[override]
            options.append((level, option, value))
            super().setsockopt(level, option, value)

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(probes.socket, "socket", Recording)
    for probe in (probes.port_free, doctor.Probes().port_is_free):  # what `up` and `invoke doctor` call
        options.clear()
        assert probe(0) is True
        assert ((socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) in options) is reuse
