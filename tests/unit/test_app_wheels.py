"""The app's wheels for building without a package index (lab/steps/app_image.py): `invoke cache` downloads them
for the base image's Python and platform, and `ship` builds from a copy of app/ with them, or refuses offline
without them. The real `docker build --network none` is in tests/integration/test_app_image.py."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fakes import FakeRunner

from lab import image_cache
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import LabError, Refused
from lab.core.runner import Result
from lab.core.ui import UI
from lab.steps import app_image, ship
from lab.tools import pip

BASE = "lab-base:bookworm"
BOOKWORM = {"python": "3.11", "implementation": "cpython", "machine": "x86_64", "libc": ["glibc", "2.36"]}
PINNED = [line for line in (ROOT / "app" / "requirements.txt").read_text().splitlines() if "==" in line]


def fake_pip(runner: FakeRunner) -> list[tuple[str, ...]]:
    """`pip download` writes one wheel per pinned requirement into --dest; returns the recorded argv."""
    seen: list[tuple[str, ...]] = []

    def respond(argv: tuple[str, ...], stdin: str | None) -> Result | None:
        if argv[1:4] != ("-m", "pip", "download"):
            return None
        seen.append(argv)
        dest = Path(argv[argv.index("--dest") + 1])
        for line in Path(argv[argv.index("--requirement") + 1]).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.strip().split("==")
                (dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"wheel")
        return Result(argv, 0, "", "")

    runner.responders.append(respond)
    return seen


def make_ctx(tmp_path: Path, runner: FakeRunner, **values: object) -> Context:
    remote = tmp_path / "gitops.git"  # a dry-run ship reads the GitOps repo (a scratch copy of it): an empty one
    if not remote.exists():
        subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True, capture_output=True)
    values.setdefault("gitops_remote", str(remote))
    settings = Settings(state_dir=tmp_path / ".lab", base_image=BASE, **values)  # type: ignore[arg-type]
    return Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO()))


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    """A committed app repo: the real app/ and overlays/."""
    root = tmp_path / "app-repo"
    shutil.copytree(ROOT / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__", "*.whl"))
    shutil.copytree(ROOT / "overlays", root / "overlays")
    identity = ["-c", "user.name=T", "-c", "user.email=t@x"]
    for argv in (["init", "--quiet", "-b", "main"], ["add", "-A"], [*identity, "commit", "--quiet", "-m", "app"]):
        subprocess.run(["git", "-C", str(root), *argv], check=True, capture_output=True)
    return root


def test_manylinux_platforms_cover_every_older_glibc() -> None:
    tags = pip.manylinux_platforms("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in tags and "manylinux_2_5_x86_64" in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    arm = pip.manylinux_platforms("aarch64", "2.36")
    assert arm[-1] == "manylinux2014_aarch64" and "manylinux_2_17_aarch64" in arm
    assert not [t for t in arm if t.startswith(("manylinux_2_16", "manylinux1", "manylinux2010"))]


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_cache_downloads_wheels_for_the_base_images_python(tmp_path: Path, app_root: Path) -> None:
    runner = FakeRunner()
    runner.script(pip.probe_argv(BASE), stdout=json.dumps(BOOKWORM) + "\n")
    downloads = fake_pip(runner)
    ctx = make_ctx(tmp_path, runner)

    where = app_image.cache_wheels(ctx, app_root)
    probe = runner.assert_called("docker", "run", "--rm", "--network", "none")
    assert BASE in probe.argv
    [argv] = downloads
    assert "--only-binary=:all:" in argv
    assert argv[argv.index("--python-version") + 1] == "3.11" and argv[argv.index("--abi") + 1] == "cp311"
    platforms = [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]
    assert platforms == list(pip.manylinux_platforms("x86_64", "2.36"))
    requirements = app_root / "app" / "requirements.txt"
    assert argv[argv.index("--requirement") + 1] == str(requirements)

    wheels = image_cache.wheels_for(ctx.settings.cache_dir, requirements, BASE)
    assert wheels is not None and where == image_cache.wheels_dir(ctx.settings.cache_dir)
    assert sorted(w.name for w in wheels) == sorted(p.name for p in where.glob("*.whl"))
    assert len(wheels) == len(PINNED)  # one per pinned line of app/requirements.txt
    assert not (ctx.settings.cache_dir / "wheels.partial").exists()

    app_image.cache_wheels(ctx, app_root)  # a second cache: nothing to do
    assert len(downloads) == 1 and ctx.ui.phases[-1].note == "already cached"


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_cached_wheels_are_for_one_requirements_file_and_one_base(tmp_path: Path, app_root: Path) -> None:
    runner = FakeRunner()
    runner.script(pip.probe_argv(BASE), stdout=json.dumps(BOOKWORM) + "\n")
    fake_pip(runner)
    ctx = make_ctx(tmp_path, runner)
    app_image.cache_wheels(ctx, app_root)
    requirements = app_root / "app" / "requirements.txt"
    cache = ctx.settings.cache_dir
    assert image_cache.wheels_for(cache, requirements, "python:3.12-slim") is None
    requirements.write_text(requirements.read_text() + "requests==2.32.5\n")
    assert image_cache.wheels_for(cache, requirements, BASE) is None


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_a_base_image_without_glibc_is_refused_with_its_name(tmp_path: Path, app_root: Path) -> None:
    runner = FakeRunner()
    musl = {**BOOKWORM, "libc": ["", ""]}
    runner.script(pip.probe_argv(BASE), stdout=json.dumps(musl) + "\n")
    with pytest.raises(LabError, match="glibc") as info:
        app_image.cache_wheels(make_ctx(tmp_path, runner), app_root)
    assert BASE in str(info.value)


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_ship_builds_from_a_copy_of_app_with_the_cached_wheels(tmp_path: Path, app_root: Path) -> None:
    runner = FakeRunner()
    runner.script(pip.probe_argv(BASE), stdout=json.dumps(BOOKWORM) + "\n")
    fake_pip(runner)
    ctx = make_ctx(tmp_path, runner)
    app_image.cache_wheels(ctx, app_root)

    context = app_image.build_context(ctx, app_root, name="app-t1")
    assert context.path == ctx.settings.state_dir / "build" / "app-t1" and context.wheels == len(PINNED)
    with app_image.stage(ctx, context):
        assert context.dockerfile.read_text() == (app_root / "app" / "Dockerfile").read_text()
        staged = sorted(p.name for p in (context.path / "wheels").glob("*.whl"))
        assert staged == sorted(p.name for p in image_cache.wheels_dir(ctx.settings.cache_dir).glob("*.whl"))
        assert (context.path / "factory.py").read_text() == (app_root / "app" / "factory.py").read_text()
    assert not context.path.exists(), "the copy is removed after the build"

    dry = FakeRunner(dry_run=True)
    result = ship.ship(make_ctx(tmp_path, dry), app_root=app_root, gate=(), no_wait=True)
    build = dry.assert_called("docker", "build")
    planned = ctx.settings.state_dir / "build" / f"app-{result.tag}"
    assert build.argv[-1] == str(planned) and str(planned / "Dockerfile") in build.argv, dry.dump()
    assert result.image.startswith("localhost:5001/lab-app:")


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_two_builds_at_once_each_build_from_a_copy_of_their_own(tmp_path: Path, app_root: Path) -> None:
    """Two ships at the same time (same .lab): one build's context is never replaced or removed by the other's
    (they used to share .lab/build/app: one's rmtree + copytree ran while the other copied or built from it)."""
    runner = FakeRunner()
    runner.script(pip.probe_argv(BASE), stdout=json.dumps(BOOKWORM) + "\n")
    fake_pip(runner)
    ctx = make_ctx(tmp_path, runner)
    app_image.cache_wheels(ctx, app_root)

    first = app_image.build_context(ctx, app_root, name="app-0123456-20261128101500")
    second = app_image.build_context(ctx, app_root, name="app-0123456-20261128101500-2")
    assert first.path != second.path
    with app_image.stage(ctx, first):
        (first.path / "marker").write_text("first build's own file\n")
        with app_image.stage(ctx, second):
            assert (second.path / "Dockerfile").is_file() and not (second.path / "marker").exists()
        assert not second.path.exists()
        assert (first.path / "marker").read_text() == "first build's own file\n", "the other build left it alone"
        assert len(list((first.path / "wheels").glob("*.whl"))) == len(PINNED)
    assert not first.path.exists()


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_without_cached_wheels_ship_builds_from_app_itself(tmp_path: Path, app_root: Path) -> None:
    dry = FakeRunner(dry_run=True)
    ship.ship(make_ctx(tmp_path, dry), app_root=app_root, gate=(), no_wait=True)
    assert dry.assert_called("docker", "build").argv[-1] == str(app_root / "app")


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_offline_without_cached_wheels_ship_refuses_before_the_gate(tmp_path: Path, app_root: Path) -> None:
    runner = FakeRunner(dry_run=True)
    with pytest.raises(Refused) as info:
        ship.ship(make_ctx(tmp_path, runner, offline=True), app_root=app_root, gate=(("false-gate",),), no_wait=True)
    assert "holds no wheels" in info.value.message and "invoke cache" in (info.value.hint or "")
    runner.assert_not_called("false-gate")
    runner.assert_not_called("docker", "build")
