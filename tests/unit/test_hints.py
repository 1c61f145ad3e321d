"""Every hint is a command that can work in the situation that printed it: each `invoke ...` it names is a task
with those flags, a flag it names on its own belongs to the task that printed it, and doing what it says gets
past the failure. The situations: Docker Hub unreachable with nothing cached, offline with nothing cached, and
`invoke doctor --fix` when the kind download fails."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import shlex
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fakes import FakeRunner
from invoke.collection import Collection
from invoke.parser import Parser, ParserContext

from lab import components, image_cache
from lab.core import versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import DownloadFailed
from lab.core.ui import UI
from lab.steps import doctor, kindbin, lab
from lab.tools import download, kubectl

PAYLOAD = b"#!/bin/sh\necho 'kind v0.32.0 go1.25.5 linux/amd64'\n"


def _tasks() -> ModuleType:
    if "tasks" in sys.modules:
        return sys.modules["tasks"]
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tasks"] = module
    spec.loader.exec_module(module)
    return module


def parse(argv: list[str]) -> None:
    """Parse `invoke ARGV` as invoke would; ParseError (or KeyError for an unknown task) if it cannot."""
    task = Collection.from_module(_tasks())[argv[0]]
    Parser(contexts=[ParserContext(name=argv[0], args=task.get_arguments())]).parse_argv(argv)


def check_hint(hint: str, *, printed_by: str) -> list[list[str]]:
    """The `invoke` commands in HINT, each parsed; a flag outside them must be one of PRINTED_BY's own."""
    commands = [shlex.split(c)[1:] for c in re.findall(r"`(invoke [^`]*)`", hint)]
    for argv in commands:
        parse(argv)
    for flag in re.findall(r"(?<![\w`-])--[a-z][\w-]*", re.sub(r"`[^`]*`", "", hint)):
        parse([printed_by, flag])
    return commands


def make_ctx(tmp_path: Path, **values: object) -> Context:
    settings = Settings(state_dir=tmp_path / ".lab", **values)  # type: ignore[arg-type]
    return Context(settings, FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def no_hub() -> doctor.Probes:
    return doctor.Probes(
        port_is_free=lambda port: True,
        docker_hub_reachable=lambda: False,
        disk_free=lambda path: 100 * 1024**3,
        which=lambda name: None,
        environ={},
    )


def copy_a_cache_from_elsewhere(cache_dir: Path) -> None:
    """What the hint asks for: the .lab/cache an `invoke cache` wrote on another machine (its image index and
    archives, and the app's wheels)."""
    entries = {}
    for ref in components.pulled_images(Settings()):
        entry = image_cache.CachedImage(ref, f"{abs(hash(ref))}.tar", "sha256:" + "1" * 64)
        (image_cache.images_dir(cache_dir) / entry.file).parent.mkdir(parents=True, exist_ok=True)
        (image_cache.images_dir(cache_dir) / entry.file).write_bytes(b"archive")
        entries[ref] = entry
    image_cache.write_index(cache_dir, entries)
    wheels = image_cache.wheels_dir(cache_dir)
    wheels.mkdir(parents=True)
    (wheels / "flask-3.1.3-py3-none-any.whl").write_bytes(b"wheel")
    requirements = ROOT / "app" / "requirements.txt"
    image_cache.write_wheels(
        cache_dir,
        image_cache.WheelSet(
            download.sha256_file(requirements),
            Settings().base_image,
            "3.12",
            ("manylinux_2_36_x86_64",),
            ("flask-3.1.3-py3-none-any.whl",),
        ),
    )


def test_docker_hub_unreachable_and_nothing_cached(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    check = doctor.check_network(ctx, no_hub())
    assert not check.ok and check.required
    commands = check_hint(check.fix, printed_by="doctor")
    # Neither `invoke cache` nor `invoke up` can fetch anything here: the cache has to come from a machine that can.
    assert f"copy its .lab/cache to {ctx.settings.cache_dir}" in check.fix, check.fix
    assert ["up", "--offline"] in commands

    copy_a_cache_from_elsewhere(ctx.settings.cache_dir)
    online = doctor.check_network(ctx, no_hub())
    assert not online.required and check_hint(online.fix, printed_by="doctor") == [["up", "--offline"]]
    offline = doctor.check_network(make_ctx(tmp_path, offline=True), no_hub())
    assert offline.ok, offline  # `invoke up --offline`'s preflight passes


def test_offline_with_nothing_cached(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, offline=True)
    check = doctor.check_network(ctx, no_hub())
    assert not check.ok
    check_hint(check.fix, printed_by="up")
    assert f"copy its .lab/cache to {ctx.settings.cache_dir}" in check.fix, check.fix
    copy_a_cache_from_elsewhere(ctx.settings.cache_dir)
    assert doctor.check_network(ctx, no_hub()).ok


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_doctor_fix_with_the_kind_download_failing(
    tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "path-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path-bin"))  # no kind on PATH
    monkeypatch.setitem(versions.KIND_SHA256, kindbin.platform_id(), hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setattr(versions, "KIND_DOWNLOAD_URL", f"http://127.0.0.1:{closed_port}/{{version}}/kind-{{platform}}")
    ctx = make_ctx(tmp_path)
    ctx.runner.script(  # type: ignore[attr-defined]
        [str(ctx.settings.state_dir / "bin" / "kind"), "version"],
        f"kind {versions.KIND_VERSION} go1.25.5 linux/amd64\n",
    )
    # What doctor's read-only probes get from this machine's Docker: no container publishes a port yet.
    ctx.runner.script(["docker", "ps"], "")  # type: ignore[attr-defined]
    ctx.runner.script(["docker", "version", "--format", "{{.Server.Version}}"], "27.5.1\n")  # type: ignore[attr-defined]
    info = {"MemTotal": 8 * 1024**3, "CgroupVersion": "2", "Driver": "overlay2", "DockerRootDir": str(tmp_path)}
    ctx.runner.script(["docker", "info", "--format", "{{json .}}"], json.dumps(info))  # type: ignore[attr-defined]
    kubectl_version = {"clientVersion": {"gitVersion": "v1.36.1"}}
    ctx.runner.script([kubectl.kubectl_binary(), "version", "--client"], json.dumps(kubectl_version))  # type: ignore[attr-defined]

    with pytest.raises(DownloadFailed) as failed:
        lab.doctor(ctx, fix=True, probes=no_hub())
    assert failed.value.exit_code == 14  # lab/core/errors.py: a pinned download could not be fetched
    hint = failed.value.hint or ""
    assert check_hint(hint, printed_by="doctor") == [["doctor", "--fix"]], hint

    # Do what it says (the network is still down: any download would fail again).
    match = re.search(r"save it as (\S+) \(sha256 ([0-9a-f]{64})\)", hint)
    assert match, hint
    Path(match.group(1)).write_bytes(PAYLOAD)
    assert hashlib.sha256(PAYLOAD).hexdigest() == match.group(2)
    lab.doctor(ctx, fix=True, probes=no_hub())
    assert (ctx.settings.state_dir / "bin" / "kind").read_bytes() == PAYLOAD
