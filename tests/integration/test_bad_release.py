"""`invoke demo-bad-release` with real components (the set-up of tests/integration/test_ship.py: a real Docker
build, a real registry, a bare GitOps remote): a ship, then the bad release built from it, which is up and ready,
answers 500 on its route and refuses to start as prod; a second one is refused; `rollback dev` undoes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import free_port
from test_ship import PASSING_GATE, app_repo, cleanup, make_ctx, remote, remote_head, sh, trailers_of

from lab.core.errors import Refused
from lab.gitops.overlay import overlay_file, read_image
from lab.steps import bad_release, release
from lab.steps.ship import ship

pytestmark = pytest.mark.docker
__all__ = ["app_repo", "cleanup", "remote"]  # fixtures


def answers(port: int, path: str, container: str) -> requests.Response:
    deadline = time.monotonic() + 60
    last = ""
    while time.monotonic() < deadline:
        try:
            return requests.get(f"http://127.0.0.1:{port}{path}", timeout=2)
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        time.sleep(0.3)
    raise AssertionError(f"{path} never answered ({last}); logs:\n" + sh("docker", "logs", container).stderr)


def test_the_bad_release_serves_500_on_its_route_is_refused_twice_and_in_prod_and_rollback_undoes_it(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 12, 1, 15, 0, 0, tzinfo=UTC)
    good = ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)
    cleanup.append(good.image)

    bad = bad_release.demo_bad_release(ctx, no_wait=True)
    cleanup.append(f"{registry}/lab-app:{bad.tag}")
    assert (bad.good_tag, bad.tag) == (good.tag, f"{good.tag}-bad") and bad.digest.startswith("sha256:")
    assert bad.gitops_commit == remote_head(remote)
    dev = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}").stdout)
    assert dev is not None and dev.new_tag == bad.tag
    assert trailers_of(remote)["App-Commit"] == bad_release.APP_COMMIT
    assert trailers_of(remote)["Image-Digest"] == bad.digest

    with pytest.raises(Refused, match="already runs a bad release"):
        bad_release.demo_bad_release(ctx, no_wait=True)

    port = free_port()
    container = f"lab-bad-release-test-{port}"
    cleanup.insert(0, container)
    ref = f"{registry}/lab-app:{bad.tag}"
    sh("docker", "run", "-d", "--name", container, "-e", "APP_ENV=dev", "-p", f"127.0.0.1:{port}:8000", ref)
    assert answers(port, "/ready", container).status_code == 200
    assert answers(port, "/version", container).json()["image_tag"] == bad.tag
    broken = answers(port, bad_release.DEFAULT_ROUTE, container)
    assert broken.status_code == 500 and "APP_FAULT_ROUTES" in broken.json()["detail"]

    # As prod the same image does not start: the app refuses the setting (exit code, the setting named).
    prod = sh("docker", "run", "--rm", "-e", "APP_ENV=prod", ref, check=False)
    assert prod.returncode != 0 and "APP_FAULT_ROUTES" in prod.stdout + prod.stderr

    rolled = release.rollback(ctx, "dev", no_wait=True, app_root=app_repo)
    assert rolled.rolled_back == (bad.gitops_commit,)
    back = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}").stdout)
    assert back is not None and back.new_tag == good.tag
