"""How much does `ship` cost over doing the same by hand?

On a temporary copy of the app repo (the real tree is never touched), with a registry this script starts itself
(Debian's docker-registry on a free 127.0.0.1 port) and a temporary bare GitOps remote:

  1. a warm-up ship (first build and first push of the base layers: not measured against anything);
  2. ROUNDS times (3), alternating: a one-line app change + commit, then
       - `ship --no-wait` (every stage timed), and
       - after another one-line change, the same work by hand: `docker build`, `docker push`, edit newTag,
         `git commit`, `git push` (in a plain clone of the GitOps remote);
  3. the ratio  ship ÷ by hand  of the medians (ship without its quality gate, which the manual baseline does not
     run, and with it), and where the difference goes, stage by stage.

Usage:  LAB_BASE_IMAGE=lab-base:bookworm .venv/bin/python bench/bench_ship.py [--rounds 2] [--json PATH]
Needs Docker, docker-registry (apt-get install docker-registry) and git. Aim: ratio < 1.3.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from localservers import serve_registry  # noqa: E402

from lab.core.config import load_settings  # noqa: E402
from lab.core.context import Context  # noqa: E402
from lab.core.runner import SubprocessRunner  # noqa: E402
from lab.core.ui import UI  # noqa: E402
from lab.steps.ship import default_gate, ship  # noqa: E402

GATE_PHASE = "Quality gate"


def sh(*argv: str | Path, cwd: Path | None = None, input: str | None = None) -> str:
    res = subprocess.run([str(a) for a in argv], cwd=cwd, input=input, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res.stdout


@contextmanager
def registry(workdir: Path) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    with serve_registry(binary, workdir) as host:
        yield host


def make_app_repo(dest: Path) -> None:
    """app/, overlays/ and what the default gate needs (the app's tests, pytest config, conftest), committed."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "app", dest / "app", ignore=ignore)
    shutil.copytree(ROOT / "overlays", dest / "overlays", ignore=ignore)
    (dest / "tests" / "unit").mkdir(parents=True)
    # tests/*.py: conftest.py and the helpers it loads (its pytest_plugins, fakes...).
    helpers = [p.relative_to(ROOT) for p in (ROOT / "tests").glob("*.py")]
    for rel in (Path("tests/unit/test_app.py"), Path("pyproject.toml"), *helpers):
        if (ROOT / rel).is_file():
            shutil.copy2(ROOT / rel, dest / rel)
    sh("git", "init", "--quiet", "-b", "main", dest)
    sh("git", "-C", dest, "config", "user.name", "Bench")
    sh("git", "-C", dest, "config", "user.email", "bench@example.test")
    commit_all(dest, "app")


def commit_all(repo: Path, message: str) -> None:
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "commit", "--quiet", "-m", message)


def one_line_change(app_repo: Path, n: int) -> None:
    path = app_repo / "app" / "items.py"
    with path.open("a") as f:
        f.write(f"# bench change {n}\n")
    commit_all(app_repo, f"bench change {n}")


@dataclass
class Run:
    kind: str  # ship | manual
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.stages.values())

    @property
    def without_gate(self) -> float:
        return sum(v for k, v in self.stages.items() if k != GATE_PHASE)


def timed(stages: dict[str, float], name: str, *argv: str | Path, cwd: Path | None = None) -> str:
    start = time.perf_counter()
    out = sh(*argv, cwd=cwd)
    stages[name] = time.perf_counter() - start
    return out


def run_ship(ctx: Context, app_repo: Path, when: datetime, gate: Sequence[Sequence[str]]) -> tuple[Run, str]:
    ctx.ui.phases.clear()
    result = ship(ctx, app_root=app_repo, gate=gate, no_wait=True, clock=lambda: when)
    stages = {}
    for phase in ctx.ui.phases:
        name = GATE_PHASE if phase.title == GATE_PHASE else phase.title.split(" ")[0]
        stages[name] = stages.get(name, 0.0) + phase.seconds
    return Run("ship", stages), result.image


def run_manual(app_repo: Path, clone: Path, registry_host: str, base_image: str, tag: str) -> tuple[Run, str]:
    """What a person would type for the same result."""
    stages: dict[str, float] = {}
    ref = f"{registry_host}/lab-app:{tag}"
    sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").strip()
    timed(
        stages,
        "docker build",
        "docker",
        "build",
        "--quiet",
        "-t",
        ref,
        "-f",
        app_repo / "app" / "Dockerfile",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--build-arg",
        f"APP_COMMIT={sha}",
        "--build-arg",
        f"APP_IMAGE_TAG={tag}",
        "--build-arg",
        f"APP_BUILD_TIME={datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        app_repo / "app",
    )
    timed(stages, "docker push", "docker", "push", ref)
    start = time.perf_counter()
    path = clone / "overlays" / "dev" / "kustomization.yaml"
    path.write_text(re.sub(r'newTag: "[^"]*"', f'newTag: "{tag}"', path.read_text()))
    sh("git", "-C", clone, "commit", "--quiet", "-am", f"deploy(dev): lab-app {tag}")
    stages["git commit"] = time.perf_counter() - start
    timed(stages, "git push", "git", "-C", clone, "push", "--quiet", "origin", "HEAD:main")
    return Run("manual", stages), ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "ship.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and images")
    args = parser.parse_args()
    base_image = os.environ.get("LAB_BASE_IMAGE", "")
    if not base_image:
        print("set LAB_BASE_IMAGE to a local base image (e.g. lab-base:bookworm, see .ci/base-image)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bench-ship-"))
    made: list[str] = []
    try:
        app_repo = tmp / "app-repo"
        make_app_repo(app_repo)
        remote = tmp / "gitops.git"
        sh("git", "init", "--quiet", "--bare", "-b", "main", remote)
        with registry(tmp) as reg:
            settings = load_settings(
                {"registry": reg, "base_image": base_image, "gitops_remote": str(remote), "state_dir": tmp / "state"},
                environ={},
                config_file=tmp / "none.toml",
            )
            ctx = Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO(), quiet=True))
            gate = default_gate()
            clock = datetime.now(UTC).replace(microsecond=0)

            print(f"warm-up ship (cold build and first push) into {reg} …", file=sys.stderr)
            warm, ref = run_ship(ctx, app_repo, clock, gate)
            made.append(ref)
            clone = tmp / "by-hand"
            sh("git", "clone", "--quiet", remote, clone)
            sh("git", "-C", clone, "config", "user.name", "Bench")
            sh("git", "-C", clone, "config", "user.email", "bench@example.test")

            runs: list[Run] = []
            for i in range(args.rounds):
                one_line_change(app_repo, 2 * i + 1)
                print(f"round {i + 1}: ship …", file=sys.stderr)
                run, ref = run_ship(ctx, app_repo, clock + timedelta(seconds=10 * i + 10), gate)
                made.append(ref)
                runs.append(run)
                one_line_change(app_repo, 2 * i + 2)
                sh("git", "-C", clone, "pull", "--quiet", "--ff-only")  # not timed: a person's clone is current
                print(f"round {i + 1}: by hand …", file=sys.stderr)
                run, ref = run_manual(app_repo, clone, reg, base_image, f"manual-{i}")
                made.append(ref)
                runs.append(run)
        report(warm, runs, args.json)
    finally:
        if not args.keep:
            for ref in made:
                subprocess.run(["docker", "rmi", ref], capture_output=True, check=False)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)
    return 0


def median(values: Sequence[float]) -> float:
    """The median (0 for none): docker build times vary by ±0.5 s from run to run here, one outlier must not decide."""
    return statistics.median(values) if values else 0.0


def report(warm: Run, runs: Sequence[Run], out: Path) -> None:
    ships = [r for r in runs if r.kind == "ship"]
    manual = [r for r in runs if r.kind == "manual"]
    print("\nwarm-up ship (cold):  " + "  ".join(f"{k} {v:.2f}s" for k, v in warm.stages.items()))
    for r in runs:
        print(f"{r.kind:7s} {r.total:6.2f}s   " + "  ".join(f"{k} {v:.2f}s" for k, v in r.stages.items()))
    ship_no_gate = median([r.without_gate for r in ships])
    ship_total = median([r.total for r in ships])
    by_hand = median([r.total for r in manual])
    ratio = ship_no_gate / by_hand if by_hand else float("nan")
    ratio_gate = ship_total / by_hand if by_hand else float("nan")
    stage_medians = {k: median([r.stages.get(k, 0.0) for r in ships]) for k in ships[0].stages} if ships else {}
    hand_medians = {k: median([r.stages.get(k, 0.0) for r in manual]) for k in manual[0].stages} if manual else {}
    print(f"\nship without gate {ship_no_gate:.2f}s, by hand {by_hand:.2f}s: ratio {ratio:.2f} (aim < 1.3)")
    print(f"ship with its quality gate {ship_total:.2f}s: ratio {ratio_gate:.2f}")
    print("where the difference goes (median per stage, ship vs by hand):")
    pairs = [
        ("Build", "docker build"),
        ("Push", "docker push"),
        ("Bump", "git commit + git push"),
        ("Check", "(none)"),
    ]
    for ship_stage, hand_stage in pairs:
        hand = sum(v for k, v in hand_medians.items() if k in hand_stage.split(" + "))
        print(f"  {ship_stage:6s} {stage_medians.get(ship_stage, 0.0):6.2f}s   vs {hand_stage:22s} {hand:6.2f}s")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "warmup": warm.stages,
                "runs": [{"kind": r.kind, "stages": r.stages, "total": r.total} for r in runs],
                "ship_without_gate_median": ship_no_gate,
                "ship_with_gate_median": ship_total,
                "by_hand_median": by_hand,
                "ratio": ratio,
                "ratio_with_gate": ratio_gate,
            },
            indent=2,
        )
    )
    print(f"\nresults: {out}")


if __name__ == "__main__":
    raise SystemExit(main())
