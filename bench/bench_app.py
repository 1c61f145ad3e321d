"""Benchmark the app against a trivial Flask + gunicorn app of the same shape, in containers of the app's image.

    .venv/bin/python bench/bench_app.py [--base-image IMG] [--rounds 3] [--seconds 5] [--connections 8]
                                        [--ref GIT_REF] [--builds]

Builds app/Dockerfile (docker CLI, legacy builder, as on the lab machines) and runs, on 127.0.0.1 only:
  baseline   bench/baseline_app.py in the same image (bind-mounted), `gunicorn --workers W --threads T
             --keep-alive 5`, W and T from overlays/base: no access log, no metrics, no validation
  prod       the app with the prod overlay's settings (overlays/base + overlays/prod configMapGenerator literals:
             LOG_LEVEL=ERROR, access log on, PROMETHEUS_MULTIPROC_DIR on a tmpfs), read-only root, /tmp tmpfs
  dev        the same with the dev overlay's settings (LOG_LEVEL=DEBUG): what the debug logging costs
  prod@REF, dev@REF   (--ref) the same two built from app/ at a git ref: before/after figures in one run
Containers log to the Docker daemon as usual (the daemon's share of the CPU is part of what is measured).
DRAIN_SECONDS=0 in every container so that stopping them is quick; it changes nothing while serving.

Load: `wrk` from this host (a second process; `apt-get install -y wrk`), GET /version and POST /api/v1/items,
``--connections`` keep-alive connections for ``--seconds`` each, in ``--rounds`` rounds whose target order
rotates, so that drift on the shared machine hits every target alike. Reported: medians of req/s and p99, and
the ratios to the baseline (with the spread of the per-round ratios: the noise). Then one 10 s POST load on each
app target counts answers that are not 2xx (wrk counts status >= 400 and socket errors). Everything created is
labelled gitops-lab.bench=1 and removed at the end. Numbers compare changes on one machine; they are not
capacity figures: wrk shares the CPUs with the server and the daemon.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
BENCH_DIR = ROOT / "bench"
LABEL = "gitops-lab.bench=1"
# A step only this Dockerfile's builder stage has: finds the untagged stage images the builds leave.
BUILDER_MARKER = "/opt/build-venv/bin/pip --python /opt/venv/bin/python install"
ENDPOINTS = (("GET", "/version"), ("POST", "/api/v1/items"))
ITEM = '{"name": "bolt", "quantity": 3}'
CHECK_SECONDS = 10


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def timed_build(context: Path, tag: str, base_image: str, *extra: str) -> float:
    started = time.perf_counter()
    docker(
        "build", *extra, "--quiet", "--label", LABEL, "--build-arg", f"BASE_IMAGE={base_image}",
        "--build-arg", "APP_IMAGE_TAG=bench", "-f", str(context / "Dockerfile"), "-t", tag, str(context),
    )  # fmt: skip
    return time.perf_counter() - started


def image_size_mb(ref: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip()) / 1e6


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the container on 127.0.0.1:{port} did not answer /health within {timeout:.0f}s")


def overlay_literals(*overlays: str) -> dict[str, str]:
    """The lab-app-config literals of overlays/base merged with each overlay's (what the pods get via envFrom)."""
    env: dict[str, str] = {}
    for name in ("base", *overlays):
        doc = yaml.safe_load((ROOT / "overlays" / name / "kustomization.yaml").read_text())
        for generator in doc.get("configMapGenerator", []):
            if generator.get("name") == "lab-app-config":
                env.update(literal.split("=", 1) for literal in generator.get("literals", []))
    return env


# --- wrk --------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Run:
    rps: float
    p99_ms: float
    requests: int
    bad: int  # answers with status >= 400, plus socket errors
    cpu_us: float = float("nan")  # the container's CPU time per request (its cgroup), microseconds


def wrk(port: int, method: str, path: str, seconds: int, connections: int, script_dir: Path) -> Run:
    argv = ["wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{seconds}s", "--latency"]
    argv += ["--timeout", "5s"]
    if method == "POST":
        script = script_dir / "post.lua"
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = \'{ITEM}\'\nwrk.headers["Content-Type"] = "application/json"\n'
        )
        argv += ["--script", str(script)]
    argv.append(f"http://127.0.0.1:{port}{path}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_wrk(result.stdout)


def parse_wrk(out: str) -> Run:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rps and p99 and total):
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        bad += sum(int(n) for n in socket_errors.groups())
    return Run(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], int(total.group(1)), bad)


# --- targets ----------------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    image: str
    env: dict[str, str]
    command: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    container: str = ""
    port: int = 0
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def start(self) -> None:
        self.port = free_port()
        argv = ["run", "--detach", "--label", LABEL, "--publish", f"127.0.0.1:{self.port}:8000", "--read-only"]
        # the pod's emptyDirs, as tmpfs inside the container
        argv += ["--tmpfs", "/tmp:mode=1777", "--tmpfs", "/run/prometheus:mode=1777"]  # noqa: S108
        for key, value in self.env.items():
            argv += ["--env", f"{key}={value}"]
        for mount in self.mounts:
            argv += ["--volume", mount]
        self.container = docker(*argv, self.image, *self.command).stdout.strip()

    def cpu_ns(self) -> int | None:
        """CPU time the container's processes used so far (cgroup v1 cpuacct or v2 cpu.stat), None if unknown."""
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{self.container}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{self.container}.scope/cpu.stat")
        try:
            if v1.exists():
                return int(v1.read_text())
            if v2.exists():
                usage = next(line for line in v2.read_text().splitlines() if line.startswith("usage_usec"))
                return int(usage.split()[1]) * 1000
        except (OSError, ValueError, StopIteration):
            pass
        return None

    def load(self, method: str, path: str, seconds: int, connections: int, script_dir: Path) -> Run:
        before = self.cpu_ns()
        run = wrk(self.port, method, path, seconds, connections, script_dir)
        after = self.cpu_ns()
        if before is not None and after is not None and run.requests:
            run.cpu_us = (after - before) / 1000 / run.requests
        return run

    def stop(self) -> None:
        if self.container:
            docker("rm", "--force", self.container, check=False)


def app_env(*overlays: str) -> dict[str, str]:
    return {**overlay_literals(*overlays), "DRAIN_SECONDS": "0"}


def git_app_dir(ref: str, dest: Path) -> Path:
    """app/ as it is at REF (git archive), for a before/after comparison in one run."""
    dest.mkdir(parents=True)
    archive = dest / "app.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "app"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "app"


def remove_stage_images(known_before: set[str]) -> None:
    """Remove the untagged builder-stage images that this run's builds created (and their untagged parents)."""
    for image_id in docker("images", "--all", "--quiet", "--no-trunc", "--filter", "dangling=true").stdout.split():
        if image_id in known_before:
            continue
        created_by = docker("image", "inspect", "--format", "{{json .ContainerConfig.Cmd}}", image_id, check=False)
        if BUILDER_MARKER in created_by.stdout:
            docker("rmi", image_id, check=False)


def fmt_ratio(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def bench(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench_app.py needs wrk on PATH: apt-get install -y wrk (Debian/Ubuntu), brew install wrk")
    run_id = uuid.uuid4().hex[:8]
    tag = f"gitops-lab-app-bench:{run_id}"
    tags = [tag]
    known_before = set(docker("images", "--all", "--quiet", "--no-trunc").stdout.split())
    targets: list[Target] = []
    prod_env, dev_env = app_env("prod"), app_env("dev")
    shape = ["--workers", prod_env["GUNICORN_WORKERS"], "--threads", prod_env["GUNICORN_THREADS"]]
    builds: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"building {tag} from {args.base_image} …", file=sys.stderr)
            if args.builds:
                builds["cold (--no-cache)"] = timed_build(APP_DIR, tag, args.base_image, "--no-cache")
            builds["cached, nothing changed"] = timed_build(APP_DIR, tag, args.base_image)
            if args.builds:
                context = Path(tmp) / "changed" / "app"
                shutil.copytree(APP_DIR, context, ignore=shutil.ignore_patterns("__pycache__"))
                with (context / "factory.py").open("a") as f:
                    f.write(f"# bench: a one-line change ({run_id})\n")
                tags.append(f"{tag}-changed")
                builds["cached, one-line app change"] = timed_build(context, tags[-1], args.base_image)
            command = ["gunicorn", *shape, "--keep-alive", "5", "--worker-tmp-dir", "/dev/shm"]  # noqa: S108
            command += ["--bind", "0.0.0.0:8000", "--chdir", "/bench", "baseline_app:app"]
            mounts = [f"{BENCH_DIR}:/bench:ro"]
            targets.append(Target("baseline", tag, {"DRAIN_SECONDS": "0"}, command=command, mounts=mounts))
            targets.append(Target("prod", tag, prod_env))
            targets.append(Target("dev", tag, dev_env))
            for ref in args.ref:
                ref_tag = f"{tag}-ref{len(tags)}"
                print(f"building {ref_tag} from app/ at {ref} …", file=sys.stderr)
                timed_build(git_app_dir(ref, Path(tmp) / f"ref{len(tags)}"), ref_tag, args.base_image)
                tags.append(ref_tag)
                targets.append(Target(f"prod@{ref}", ref_tag, prod_env))
                targets.append(Target(f"dev@{ref}", ref_tag, dev_env))
            for target in targets:
                target.start()
            for target in targets:
                wait_healthy(target.port)
            script_dir = Path(tmp)
            for target in targets:  # warm-up: connections, first-request paths (not recorded)
                for method, path in ENDPOINTS:
                    wrk(target.port, method, path, 1, args.connections, script_dir)
            for round_ in range(args.rounds):
                order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
                print(f"round {round_ + 1}/{args.rounds}: {', '.join(t.name for t in order)}", file=sys.stderr)
                for target in order:
                    for method, path in ENDPOINTS:
                        run = target.load(method, path, args.seconds, args.connections, script_dir)
                        target.runs.setdefault(f"{method} {path}", []).append(run)
            checks: dict[str, Run] = {}
            for target in targets[1:]:
                print(f"{CHECK_SECONDS} s POST load on {target.name} …", file=sys.stderr)
                checks[target.name] = target.load("POST", "/api/v1/items", CHECK_SECONDS, args.connections, script_dir)
            size, base_size = image_size_mb(tag), image_size_mb(args.base_image)
    finally:
        for target in targets:
            target.stop()
        docker("rmi", *tags, check=False)
        remove_stage_images(known_before)
    report(args, targets, checks, builds, size, base_size)


def report(
    args: argparse.Namespace,
    targets: list[Target],
    checks: dict[str, Run],
    builds: dict[str, float],
    size: float,
    base_size: float,
) -> None:
    baseline = targets[0]
    print(
        f"GitOps Lab app vs a trivial Flask app: base {args.base_image}, {args.rounds} rounds x {args.seconds} s "
        f"per endpoint, {args.connections} connections (wrk), medians; ratio = target / baseline "
        "(per-round range); bad = answers >= 400 + socket errors; cpu us = the container's CPU per request"
    )
    print()
    header = f"{'target':<16}{'endpoint':<22}{'req/s':>8}{'p99 ms':>9}{'bad':>7}{'cpu us':>8}"
    header += f"{'req/s ratio':>20}{'p99 ratio':>20}{'cpu ratio':>20}"
    print(header)
    for target in targets:
        for endpoint, runs in target.runs.items():
            base_runs = baseline.runs[endpoint]
            rps = statistics.median(r.rps for r in runs)
            p99 = statistics.median(r.p99_ms for r in runs)
            bad = sum(r.bad for r in runs)
            cpu = statistics.median(r.cpu_us for r in runs)
            ratios = ""
            if target is not baseline:
                pairs = list(zip(runs, base_runs, strict=True))
                ratios = f"{fmt_ratio([r.rps / b.rps for r, b in pairs]):>20}"
                ratios += f"{fmt_ratio([r.p99_ms / b.p99_ms for r, b in pairs]):>20}"
                ratios += f"{fmt_ratio([r.cpu_us / b.cpu_us for r, b in pairs]):>20}"
            print(f"{target.name:<16}{endpoint:<22}{rps:>8.0f}{p99:>9.2f}{bad:>7}{cpu:>8.0f}{ratios}")
    print()
    for name, run in checks.items():
        print(
            f"{CHECK_SECONDS} s POST load on {name}: {run.requests} requests, {run.bad} not 2xx, "
            f"{run.rps:.0f} req/s, p99 {run.p99_ms:.2f} ms"
        )
    prod = next(t for t in targets if t.name == "prod")
    dev = next(t for t in targets if t.name == "dev")
    print()
    for endpoint in prod.runs:
        pairs = list(zip(dev.runs[endpoint], prod.runs[endpoint], strict=True))
        print(
            f"dev (DEBUG logs) / prod, {endpoint}: req/s {fmt_ratio([d.rps / p.rps for d, p in pairs])}, "
            f"cpu per request {fmt_ratio([d.cpu_us / p.cpu_us for d, p in pairs])}"
        )
    print()
    for name, seconds in builds.items():
        print(f"build {name:<32}{seconds:>8.2f} s")
    print(f"image size {size:.1f} MB (base {base_size:.1f}, app layers {size - base_size:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=os.environ.get("LAB_BASE_IMAGE") or "python:3.12-slim")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all targets (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds of load per endpoint and round (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--ref", action="append", default=[], help="also run the prod target built at a git ref")
    parser.add_argument("--builds", action="store_true", help="also time a --no-cache and a one-line-change build")
    args = parser.parse_args()
    if args.rounds < 1 or args.connections < 1 or not 1 <= args.seconds <= 10:
        parser.error("--rounds and --connections must be >= 1, --seconds between 1 and 10")
    bench(args)


if __name__ == "__main__":
    main()
