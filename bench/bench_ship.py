"""How much does `invoke ship --no-wait`, the command a user runs, cost over doing the same work by hand?

Everything runs against the lab's own service images, built from lab/images/ on LAB_BASE_IMAGE and run on free
127.0.0.1 ports as `invoke up` runs them (tests/integration/servicekit.py): the registry (lab/images/registry) and
the git server (lab/images/gitserver, serving a bare GitOps repo from a temporary host directory). The project is a
temporary copy of this checkout (its tracked and untracked, not ignored, files; the real tree is never touched),
committed to a git repo of its own, so ship's dirty check sees a clean tree and `invoke` loads the copy's tasks.py.

  1. warm-up: one ship (first build, first push of the base layers) and one hand run, not measured;
  2. ROUNDS pairs (5), the order alternating from pair to pair, each run after a one-line app change + commit:
       - ship: `.venv/bin/invoke ship --no-wait` as a process (wall time, start-up included), with
         LAB_TIMINGS=<file> so that ship writes its own phase timings (lab/core/ui.py) for the breakdown;
       - by hand: the same gate (lab.steps.ship.default_gate: the app's tests and ruff), then `docker build`
         with the same build args, `docker push`, newTag edited in Python, `git commit`, `git push` (in a plain
         clone of the GitOps repo, pulled before the run, untimed: a person's clone is current);
  3. medians and ratios: ship ÷ by hand with the gate, and ship ÷ by hand without it (the hand run's total less its
     gate), the floor (build + push by hand), and where ship's time goes (start-up, each phase, exit).

Usage:  LAB_BASE_IMAGE=lab-base:bookworm .venv/bin/python bench/bench_ship.py [--rounds 5] [--json PATH] [--keep]
Needs Docker and git. Removes what it created (its containers and images, by name and by its run label, and
its temporary directory); --keep keeps the directory. Goal: ship ≤ 1.1 × the hand run with the gate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import servicekit  # noqa: E402
from localservers import free_port  # noqa: E402

from lab.core import versions  # noqa: E402
from lab.steps.ship import default_gate  # noqa: E402

INVOKE = Path(sys.executable).parent / "invoke"
MAX_ROUNDS = 20
RUN_TIMEOUT = 600.0  # seconds for any one command (a cold build)
# ship's phase titles → short names (the first words of each title, lab/steps/ship*.py)
PHASES = (
    ("Check the app tree", "check app tree"),
    ("Check the registry", "check registry+tag"),
    ("Check the GitOps repo", "check gitops"),
    ("Quality gate", "gate"),
    ("Build", "build"),
    ("Push", "push"),
    ("Bump", "bump+commit+push"),
    ("Refresh", "refresh dev"),
)


def sh(*argv: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    res = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT
    )
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def phase_name(title: str) -> str:
    for prefix, name in PHASES:
        if title.startswith(prefix):
            return name
    return title


@dataclass
class Run:
    kind: str  # ship | hand
    total: float  # wall seconds of the whole run
    stages: dict[str, float] = field(default_factory=dict)  # ship: its phases + start-up/exit; hand: each command

    @property
    def gate(self) -> float:
        return self.stages.get("gate", 0.0)


# The project copy and the services -----------------------------------------------------------------------------
def make_project_copy(dest: Path) -> None:
    """This checkout's tracked and untracked (not ignored) files, as they are on disk, committed to a new repo."""
    listed = sh("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in sorted({r for r in listed if r}):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    sh("git", "init", "--quiet", "-b", "main", dest)
    sh("git", "-C", dest, "config", "user.name", "Bench")
    sh("git", "-C", dest, "config", "user.email", "bench@example.test")
    commit_all(dest, "project copy")


def commit_all(repo: Path, message: str) -> None:
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "commit", "--quiet", "-m", message)


def one_line_change(project: Path, n: int) -> str:
    with (project / "app" / "items.py").open("a") as f:
        f.write(f"# bench change {n}\n")
    commit_all(project, f"bench change {n}")
    return sh("git", "-C", project, "rev-parse", "HEAD").strip()


@contextmanager
def services(tmp: Path, base_image: str) -> Iterator[tuple[str, str]]:
    """The lab's registry and git server images, built (layers cached) and run on free 127.0.0.1 ports; yields
    (registry host:port, GitOps repo URL). Everything is labelled with servicekit's run label and removed after."""
    with servicekit.cleaned_up():
        print("building the lab's registry and git server images (cached layers) …", file=sys.stderr)
        registry_image = servicekit.build(
            ROOT / "lab" / "images" / "registry",
            "bench-registry",
            base_image,
            build_args={"REGISTRY_SERIES": versions.REGISTRY_SERIES},
        )
        git_image = servicekit.build(ROOT / "lab" / "images" / "gitserver", "bench-gitserver", base_image)
        registry_port, git_port = free_port(), free_port()
        registry = servicekit.run(
            registry_image, f"bench-registry-{registry_port}", port=registry_port, container_port=5000
        )
        servicekit.wait_http(f"http://127.0.0.1:{registry_port}/v2/", container=registry, timeout=30)
        root = tmp / "git"
        bare = root / "gitops.git"
        sh("git", "init", "--quiet", "--bare", "-b", "main", bare)
        sh("git", "-C", bare, "config", "http.receivepack", "true")
        owner = (os.getuid(), os.getgid())
        if owner[0] == 0:  # as the lab runs it for a laptop user: an unprivileged uid that owns the repo
            owner = (1000, 1000)
            for path in [root, *root.rglob("*")]:
                os.chown(path, *owner)
        gitserver = servicekit.run(
            git_image,
            f"bench-git-{git_port}",
            port=git_port,
            container_port=8080,
            volumes=[(str(root), "/srv/git")],
            user=f"{owner[0]}:{owner[1]}",
        )
        url = f"http://127.0.0.1:{git_port}/gitops.git"
        servicekit.wait_http(f"{url}/info/refs?service=git-upload-pack", container=gitserver, timeout=30)
        yield f"localhost:{registry_port}", url


# One ship, one hand run ------------------------------------------------------------------------------------------
def ship_env(tmp: Path, registry: str, gitops_url: str, base_image: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return {
        **env,
        "LAB_REGISTRY": registry,
        "LAB_GITOPS_REMOTE": gitops_url,
        "LAB_BASE_IMAGE": base_image,
        "LAB_STATE_DIR": str(tmp / "state"),
        "LAB_CLUSTER_NAME": "bench-ship",
        "KUBECONFIG": str(tmp / "no-kubeconfig"),  # no cluster: ship --no-wait warns and stops after the push
    }


def run_ship(project: Path, env: dict[str, str], timings: Path) -> tuple[Run, str]:
    """`invoke ship --no-wait` as a process; its wall time, and its phases from LAB_TIMINGS."""
    timings.unlink(missing_ok=True)
    spawned = time.time()
    start = time.perf_counter()
    res = subprocess.run(
        [str(INVOKE), "ship", "--no-wait"],
        cwd=project,
        env={**env, "LAB_TIMINGS": str(timings)},
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )
    total = time.perf_counter() - start
    ended = time.time()
    if res.returncode != 0:
        raise SystemExit(f"invoke ship --no-wait exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    data = json.loads(timings.read_text())
    phases = data["phases"]
    stages: dict[str, float] = {"start-up": phases[0]["started"] - spawned if phases else 0.0}
    for p in phases:
        name = phase_name(p["title"])
        stages[name] = stages.get(name, 0.0) + p["seconds"]
    last_end = max((p["started"] + p["seconds"] for p in phases), default=spawned)
    stages["exit"] = max(0.0, ended - last_end)
    image = re.search(r"(localhost:\d+/lab-app:[\w.-]+)", res.stderr + res.stdout)
    return Run("ship", total, stages), image.group(1) if image else ""


def run_by_hand(
    project: Path, clone: Path, registry: str, base_image: str, tag: str, gate: Sequence[Sequence[str]]
) -> tuple[Run, str]:
    """What a person would type for the same result, the same gate first."""
    stages: dict[str, float] = {}

    def timed(name: str, *argv: str | Path, cwd: Path | None = None) -> None:
        t = time.perf_counter()
        sh(*argv, cwd=cwd)
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t

    ref = f"{registry}/lab-app:{tag}"
    start = time.perf_counter()
    for argv in gate:
        timed("gate", *argv, cwd=project)
    sha = sh("git", "-C", project, "rev-parse", "HEAD").strip()
    build_args = {
        "BASE_IMAGE": base_image,
        "APP_COMMIT": sha,
        "APP_IMAGE_TAG": tag,
        "APP_BUILD_TIME": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "APP_SOURCE": str(project),
    }
    args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    timed("docker build", "docker", "build", "--quiet", "-t", ref, "-f", project / "app" / "Dockerfile", *args,
          project / "app")  # fmt: skip
    timed("docker push", "docker", "push", ref)
    t = time.perf_counter()
    path = clone / "overlays" / "dev" / "kustomization.yaml"
    path.write_text(re.sub(r'newTag: "[^"]*"', f'newTag: "{tag}"', path.read_text()))
    sh("git", "-C", clone, "commit", "--quiet", "-am", f"deploy(dev): lab-app {tag}")
    stages["edit + git commit"] = time.perf_counter() - t
    timed("git push", "git", "-C", clone, "push", "--quiet", "origin", "HEAD:main")
    return Run("hand", time.perf_counter() - start, stages), ref


# Report ------------------------------------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    """The median (0 for none): docker build times vary by ±0.5 s from run to run here, one outlier must not decide."""
    return statistics.median(values) if values else 0.0


def summarize(ships: Sequence[Run], hands: Sequence[Run]) -> dict[str, object]:
    ship = median([r.total for r in ships])
    hand = median([r.total for r in hands])
    hand_no_gate = median([r.total - r.gate for r in hands])
    floor = median([r.stages["docker build"] + r.stages["docker push"] for r in hands])
    pairs = list(zip(ships, hands, strict=True))
    return {
        "ship_median": ship,
        "hand_with_gate_median": hand,
        "hand_without_gate_median": hand_no_gate,
        "floor_build_push_median": floor,
        "ratio_with_gate": ship / hand if hand else float("nan"),
        "ratio_without_gate": ship / hand_no_gate if hand_no_gate else float("nan"),
        "ratio_with_gate_pairs_median": median([s.total / h.total for s, h in pairs]),
        "ratio_with_gate_pairs_range": [
            min(s.total / h.total for s, h in pairs),
            max(s.total / h.total for s, h in pairs),
        ],
        "ratio_without_gate_pairs_median": median([s.total / (h.total - h.gate) for s, h in pairs]),
        "ship_floor_ratio": ship / floor if floor else float("nan"),
        "ship_stages_median": {k: median([r.stages.get(k, 0.0) for r in ships]) for k in ships[0].stages},
        "hand_stages_median": {k: median([r.stages.get(k, 0.0) for r in hands]) for k in hands[0].stages},
    }


def report(runs: Sequence[Run], out: Path) -> None:
    ships = [r for r in runs if r.kind == "ship"]
    hands = [r for r in runs if r.kind == "hand"]
    for r in runs:
        print(f"{r.kind:5s} {r.total:6.2f}s   " + "  ".join(f"{k} {v:.2f}s" for k, v in r.stages.items()))
    s = summarize(ships, hands)
    low, high = s["ratio_with_gate_pairs_range"]  # type: ignore[misc]
    load = os.getloadavg()[0]
    print(
        f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} at the end"
    )
    print(f"ship --no-wait (process)   {s['ship_median']:.2f}s")
    print(f"by hand, with the gate     {s['hand_with_gate_median']:.2f}s")
    print(f"by hand, without the gate  {s['hand_without_gate_median']:.2f}s")
    print(f"floor (build + push)       {s['floor_build_push_median']:.2f}s")
    print(
        f"ratio ship / by hand with the gate:    {s['ratio_with_gate']:.2f} (goal ≤ 1.1; median of pair ratios "
        f"{s['ratio_with_gate_pairs_median']:.2f}, range {low:.2f}-{high:.2f})"
    )
    print(
        f"ratio ship / by hand without the gate: {s['ratio_without_gate']:.2f} (median of pair ratios "
        f"{s['ratio_without_gate_pairs_median']:.2f}); ship / floor {s['ship_floor_ratio']:.2f}"
    )
    print("where ship's time goes (medians; the gate runs beside the build, so phases overlap):")
    for name, value in s["ship_stages_median"].items():  # type: ignore[attr-defined]
        print(f"  {name:20s} {value:6.2f}s")
    print("by hand (medians):")
    for name, value in s["hand_stages_median"].items():  # type: ignore[attr-defined]
        print(f"  {name:20s} {value:6.2f}s")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **s,
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": load, "platform": platform.platform()},
        "runs": [{"kind": r.kind, "total": r.total, "stages": r.stages} for r in runs],
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nresults: {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help=f"pairs of runs (1-{MAX_ROUNDS})")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "ship.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    base_image = os.environ.get("LAB_BASE_IMAGE", "")
    if not base_image:
        print("set LAB_BASE_IMAGE to a local base image (e.g. lab-base:bookworm, see .ci/base-image)", file=sys.stderr)
        return 2
    if not 1 <= args.rounds <= MAX_ROUNDS:
        print(f"--rounds must be 1-{MAX_ROUNDS}", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bench-ship-"))
    made: list[str] = []
    try:
        project = tmp / "project"
        make_project_copy(project)
        with services(tmp, base_image) as (registry, gitops_url):
            env = ship_env(tmp, registry, gitops_url, base_image)
            timings = tmp / "timings.json"
            gate = default_gate()
            print(f"warm-up (cold build, first push) into {registry}, GitOps repo {gitops_url} …", file=sys.stderr)
            one_line_change(project, 0)
            _, ref = run_ship(project, env, timings)  # seeds the GitOps repo, too
            made.append(ref)
            clone = tmp / "by-hand"
            sh("git", "clone", "--quiet", gitops_url, clone)
            sh("git", "-C", clone, "config", "user.name", "Bench")
            sh("git", "-C", clone, "config", "user.email", "bench@example.test")
            sha = one_line_change(project, 1)
            _, ref = run_by_hand(project, clone, registry, base_image, f"{sha[:7]}-hand-warm", gate)
            made.append(ref)

            runs: list[Run] = []
            for i in range(args.rounds):
                for kind in ("ship", "hand") if i % 2 == 0 else ("hand", "ship"):
                    sha = one_line_change(project, 2 * i + (2 if kind == "ship" else 3))
                    print(f"pair {i + 1}/{args.rounds}: {kind} …", file=sys.stderr)
                    if kind == "ship":
                        run, ref = run_ship(project, env, timings)
                    else:
                        sh("git", "-C", clone, "pull", "--quiet", "--ff-only")
                        run, ref = run_by_hand(project, clone, registry, base_image, f"{sha[:7]}-hand-{i}", gate)
                    made.append(ref)
                    runs.append(run)
            report(runs, args.json)
    finally:
        for ref in made:
            if ref:
                subprocess.run(["docker", "rmi", ref], capture_output=True, check=False)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
