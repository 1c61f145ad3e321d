"""Benchmark the app image: build times (cold, cached, after a one-line change), size, and HTTP throughput.

    .venv/bin/python bench/bench_app.py [--base-image IMG] [--requests N] [--concurrency C]

Builds app/Dockerfile with the docker CLI and the legacy builder (DOCKER_BUILDKIT=0, as on the lab machines),
runs the image on 127.0.0.1 with DRAIN_SECONDS=0, and loads ``GET /health`` and ``GET /api/v1/items`` from a
second process (this script with ``--load``: threads with keep-alive ``http.client`` connections, a fixed
number of requests, stopped by a deadline in any case). Everything it creates is labelled gitops-lab.bench=1
and removed at the end. Numbers are for comparing changes on one machine, not absolute capacity: the load
generator is Python and shares the CPUs with the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
LABEL = "gitops-lab.bench=1"
# A step only this Dockerfile's builder stage has: finds the untagged stage images a --no-cache build leaves.
BUILDER_MARKER = "/opt/build-venv/bin/pip --python /opt/venv/bin/python install"
LOAD_DEADLINE_SECONDS = 120.0


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


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/health", timeout=1.0) == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the container did not answer /health within {timeout:.0f}s")


# --- load generator (runs in its own process) -----------------------------------------------------------------


def load(port: int, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    """``requests`` GETs over ``concurrency`` keep-alive connections; latencies in ms."""
    per_thread = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    deadline = time.monotonic() + LOAD_DEADLINE_SECONDS

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for _ in range(per_thread[index]):
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                latencies[index].append((time.perf_counter() - started) * 1000)
                errors[index] += 0 if ok else 1
        finally:
            conn.close()

    for _ in range(min(100, requests)):  # warm-up: connections, imports, first-request paths
        request(port, "GET", path)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = sorted(value for values in latencies for value in values)
    return {
        "path": path,
        "requests": len(flat),
        "errors": sum(errors),
        "seconds": elapsed,
        "rps": len(flat) / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(flat) if flat else float("nan"),
        "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] if flat else float("nan"),
    }


def load_in_subprocess(port: int, path: str, requests: int, concurrency: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--load", "--port", str(port), "--path", path]
    argv += ["--requests", str(requests), "--concurrency", str(concurrency)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=LOAD_DEADLINE_SECONDS + 60, check=False)
    if result.returncode != 0:
        raise SystemExit(f"load generator failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --- the benchmark --------------------------------------------------------------------------------------------


def remove_stage_images(known_before: set[str]) -> None:
    """Remove the untagged builder-stage images that this run's builds created (and their untagged parents)."""
    for image_id in docker("images", "--all", "--quiet", "--no-trunc", "--filter", "dangling=true").stdout.split():
        if image_id in known_before:
            continue
        created_by = docker("image", "inspect", "--format", "{{json .ContainerConfig.Cmd}}", image_id, check=False)
        if BUILDER_MARKER in created_by.stdout:
            docker("rmi", image_id, check=False)


def bench(base_image: str, requests: int, concurrency: int) -> None:
    run_id = uuid.uuid4().hex[:8]
    tag, changed_tag = f"gitops-lab-app-bench:{run_id}", f"gitops-lab-app-bench:{run_id}-changed"
    known_before = set(docker("images", "--all", "--quiet", "--no-trunc").stdout.split())
    container = ""
    try:
        print(f"building {tag} from {base_image} …", file=sys.stderr)
        cold = timed_build(APP_DIR, tag, base_image, "--no-cache")
        cached = timed_build(APP_DIR, tag, base_image)
        with tempfile.TemporaryDirectory() as tmp:
            context = Path(tmp) / "app"
            shutil.copytree(APP_DIR, context, ignore=shutil.ignore_patterns("__pycache__"))
            with (context / "factory.py").open("a") as f:
                f.write(f"# bench: a one-line change ({run_id})\n")
            changed = timed_build(context, changed_tag, base_image)
        size, base_size = image_size_mb(tag), image_size_mb(base_image)

        port = free_port()
        tmpfs = "/tmp"  # noqa: S108 - a tmpfs inside the container, like the pod's emptyDir at /tmp
        container = docker(
            "run", "--detach", "--label", LABEL, "--publish", f"127.0.0.1:{port}:8000", "--read-only",
            "--tmpfs", tmpfs, "--env", "DRAIN_SECONDS=0", "--env", "LOG_LEVEL=WARNING", tag,
        ).stdout.strip()  # fmt: skip
        wait_healthy(port)
        for i in range(20):  # a few items per worker so the list is not empty
            request(port, "POST", "/api/v1/items", json.dumps({"name": f"item-{i}", "quantity": i}).encode())
        print(f"loading {requests} requests per endpoint, concurrency {concurrency} …", file=sys.stderr)
        results = [load_in_subprocess(port, path, requests, concurrency) for path in ("/health", "/api/v1/items")]
        started = time.perf_counter()
        docker("stop", "--time", "30", container)
        stop = time.perf_counter() - started
    finally:
        if container:
            docker("rm", "--force", container, check=False)
        docker("rmi", tag, changed_tag, check=False)
        remove_stage_images(known_before)

    health, items = results
    print(f"GitOps Lab app benchmark: base {base_image}, {requests} requests/endpoint, concurrency {concurrency}")
    print()
    print(f"{'build':<36}{'seconds':>10}")
    print(f"{'cold (--no-cache)':<36}{cold:>10.2f}")
    print(f"{'cached, nothing changed':<36}{cached:>10.2f}")
    print(f"{'cached, one-line app change':<36}{changed:>10.2f}")
    print(f"{'image size (MB)':<36}{size:>10.1f}   (base {base_size:.1f}, app layers {size - base_size:.1f})")
    print(f"{'docker stop (DRAIN_SECONDS=0)':<36}{stop:>10.2f}")
    print()
    print(f"{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'requests':>10}")
    for r in results:
        latency = f"{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
        print(f"GET {r['path']:<18}{r['rps']:>10.0f}{latency}{r['errors']:>8}{r['requests']:>10}")
    print()
    print(
        f"ratios: cached/cold build {cached / cold:.2f}, one-line change/cold {changed / cold:.2f}, "
        f"items/health throughput {items['rps'] / health['rps']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=os.environ.get("LAB_BASE_IMAGE") or "python:3.12-slim")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint (default 2000)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent connections (default 4)")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)  # the load-generator process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be >= 1")
    if args.load:
        print(json.dumps(load(args.port, args.path, args.requests, args.concurrency)))
    else:
        bench(args.base_image, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
