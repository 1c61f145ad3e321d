"""What does `invoke up` wait on? The plan of `up`, phase by phase, on modelled time.

`up` runs for real against the fake world of the unit tests (tests/unit/fakeworld.py: Docker, kind, the Kubernetes
API, the registry, ECR and Argo CD are faked; git and `kubectl kustomize` run for real). The world keeps a clock:
every faked command advances it by what a real run would wait on (ESTIMATES below, a low and a high value, each with
its source or marked "assumption"), and the lab's own readiness polls and its wait for Argo CD advance it through the
sleep the lab is given, so its poll intervals and back-off count as they would. Each command and each wait is
charged to the `up` phase (ui.phase) that issued it.

Scenarios:
  cold    a machine with Docker and kind only: nothing pulled, nothing built (the first `invoke up` ever)
  primed  after `invoke cache`: node image, Argo CD images and the service images are in Docker
  rerun   a second `up` on the finished lab

Image moves are charged by bytes, not as queries: `docker image save` and `kind load image-archive` (which streams
the archive into each node's `ctr images import`) and `docker push` to the lab's registry cost the bytes they move
over a throughput (IMAGE_BYTES, MOVE_RATES). Sizes and throughputs were measured on the CI cluster's daemon; each
constant cites where (docs/ci.md, "What `invoke up` moves, and how long it takes").

--compare prints the primed scenario beside the per-phase times of `invoke up --offline` measured on the CI cluster
(CI_UP below, from docs/ci.md): CI's cold run is this model's primed scenario (every image already in Docker).

Usage:  .venv/bin/python bench/plan_up.py [--scenario cold|primed|rerun] [--json PATH] [--compare]
No Docker, no cluster, no network: the seconds are a model, not a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "unit")]

import yaml  # noqa: E402
from fakeworld import EXCERPT, TEST_PIN, World, tool  # noqa: E402

from lab.components import services  # noqa: E402
from lab.core import versions  # noqa: E402
from lab.core.config import load_settings  # noqa: E402
from lab.core.context import Context  # noqa: E402
from lab.core.ui import UI, Phase  # noqa: E402
from lab.steps import lab  # noqa: E402
from lab.tools import argocd_install  # noqa: E402

ASSUMPTION = "assumption"
CI_DOC = "docs/ci.md, What `invoke up` moves"
CI_UP_DOC = "docs/ci.md, `invoke up --offline` by phase (5 runs)"
HERE = "measured on the build machine (docker build --no-cache FROM lab-base:bookworm, Debian mirror close by)"
# Seconds of `docker build --quiet --no-cache --build-arg BASE_IMAGE=lab-base:bookworm` of lab/images/registry,
# lab/images/gitserver and app/ on the 2-core build machine (2026-11-28): the low end of a cold build.
MEASURED_BUILDS = {"registry": 4.5, "gitserver": 9.0, "app": 8.6}


@dataclass(frozen=True)
class Estimate:
    low: float
    high: float
    waits_on: str
    source: str = ASSUMPTION


MB = 1_000_000
# Bytes each image moves: its `docker image save` archive, which is also what `kind load image-archive` streams into
# a node and what a first `docker push` sends (the layers, uncompressed on Docker's classic store). Measured on the
# CI cluster's daemon (ls -l of the saved archives; CI_DOC); the CI images are stand-ins built from the same
# versions, so the upstream images a laptop pulls differ in size (assumption: the same order).
IMAGE_BYTES = {
    versions.ARGOCD_IMAGE: 353_786_880,
    versions.REDIS_IMAGE: 121_742_336,
    versions.KIND_NODE_IMAGE: 1_159_047_168,
    "app": 174_223_078,  # the lab's app image (lab-app:<tag>) FROM lab-base:bookworm: `docker image inspect` Size
}
BUILT_BYTES = 50 * MB  # the service images (registry, git server, MiniStack): assumption, not moved by `up`


@dataclass(frozen=True)
class Rate:
    """A throughput in bytes/s: LOW is the slow end (the high estimate of seconds), HIGH the fast end."""

    low: float
    high: float
    source: str
    fixed: tuple[float, float] = (0.0, 0.0)  # seconds each move costs whatever its size (low, high)

    def seconds(self, size: float, variant: str) -> float:
        if variant == "low":
            return self.fixed[0] + size / self.high
        return self.fixed[1] + size / self.low


MOVE_RATES = {
    # `docker image save` of an image that is in Docker (no pull): reads the layers, writes one tar.
    # ci-dockerd (overlay2): 354 MB in 2.6-5.8 s, 122 MB in 1.3-2.1 s at load ~15; 2.48 GB of archives in 16-17 s
    # ("prime .lab/cache") when the machine was quieter.
    "save": Rate(58 * MB, 150 * MB, CI_DOC),
    # `kind load image-archive`: docker exec -i <node> ctr images import --all-platforms --digests --snapshotter=...
    # (kind pkg/cluster/nodeutils/util.go LoadImageArchive): the archive streamed into containerd, then unpacked.
    # 354 MB in 6.7-8.1 s, 122 MB in 3.1-3.3 s into one node at load ~15 (~1 s of it whatever the size: kind's
    # `containerd config dump` and the docker exec); ~75 MB/s in the quieter runs' "Loading Argo CD images" phase.
    "import": Rate(40 * MB, 75 * MB, CI_DOC, fixed=(0.5, 1.0)),
    # `docker push` to the lab's registry on the same host, every layer new (the first push of `up`).
    # The 174 MB app image: 5.75-7.09 s (5 quiet runs), 9.9 s at load ~15.
    "push": Rate(17 * MB, 30 * MB, CI_DOC),
    # The node's first pull of the app from the lab's registry (the same host and link; assumption: as fast as a push).
    "pull": Rate(17 * MB, 30 * MB, ASSUMPTION),
    # A pull from the internet (Docker Hub, quay.io, public ECR) on a laptop's connection.
    "network": Rate(10 * MB, 100 * MB, ASSUMPTION),
}

# Readiness of the service containers after `docker run` (the lab polls GET <ready_url>).
BOOT = {
    "lab-registry": Estimate(0.1, 0.5, "registry answers GET /v2/", f"low: {CI_UP_DOC} (whole phase 0.29-0.43 s)"),
    "lab-ecr": Estimate(0.6, 3.0, "MiniStack answers /_ministack/ready", f"low: {CI_UP_DOC} (whole phase 1.0 s)"),
    "lab-git": Estimate(0.2, 2.0, "nginx + fcgiwrap answer info/refs", f"low: {CI_UP_DOC} (whole phase 0.36-0.58 s)"),
}
# From the Application's creation to dev Synced + Healthy, in parts: Argo CD compares and syncs (repo-server clones
# and renders; the sync dry-runs then applies every resource): 9.4-15.4 s from the push to the sync's end in the e2e
# breakdown (CI_DOC, commit-to-live); the kubelet pulls the app from the lab's registry (the node has none of its
# layers yet); gunicorn starts (~1 s), the startup probe (every 1 s) and at once the readiness probe pass: 2.0 s from
# container start to Ready in the breakdown; dev's minReadySeconds 2 (overlays/dev/rollout.yaml), then the
# ReplicaSet, the Deployment's status and Argo CD's health: 1-4 s more in the breakdown.
_PULL = MOVE_RATES["pull"]
FIRST_DEV_SYNC = Estimate(
    9.0 + _PULL.seconds(IMAGE_BYTES["app"], "low") + 2.0 + 2.0 + 1.0,
    16.0 + _PULL.seconds(IMAGE_BYTES["app"], "high") + 3.0 + 2.0 + 4.0,
    "Argo CD: first sync of dev, app pulled, pod Ready, minReadySeconds 2",
    f"{CI_DOC} (e2e breakdown); the pull: {ASSUMPTION}",
)
# Seconds from the server-side apply of Argo CD until each workload has rolled out, images already on the node.
# All pods start together, so `rollout status` waits on the slowest one only.
ROLLOUT = {
    "deployment/argocd-redis": (10.0, 30.0),
    "deployment/argocd-repo-server": (30.0, 75.0),
    "deployment/argocd-server": (30.0, 75.0),
    "statefulset/argocd-application-controller": (31.0, 120.0),  # low: CI_UP_DOC (Argo CD ready 33-45 s)
}
# Extra when the node must pull the Argo CD images from quay.io / public ECR (both in parallel: the larger one).
ROLLOUT_PULL = (
    max(IMAGE_BYTES[i] for i in versions.ARGOCD_IMAGES) / MOVE_RATES["network"].high,
    max(IMAGE_BYTES[i] for i in versions.ARGOCD_IMAGES) / MOVE_RATES["network"].low,
)
KIND_LOAD_SOURCE = "kind pkg/cmd/kind/load/docker-image/docker-image.go (skips nodes holding the image ID)"
ROLLOUT_SOURCE = f"low: {CI_UP_DOC} (33-45 s, images on the node); high and the pull of the images: {ASSUMPTION}"


def flag_value(argv: tuple[str, ...], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def short(argv: tuple[str, ...]) -> str:
    """`docker build`, `kind create`, `kubectl apply --server-side`, `git push`..."""
    name, args = tool(argv), list(argv[1:])
    if name == "git":
        while args[:1] == ["-C"]:
            args = args[2:]
    if name == "kubectl" and args[:1] == ["--context"]:
        args = args[2:]
    words = [a for a in args[:2] if not a.startswith("-") and "/" not in a and ":" not in a]
    if name == "kubectl" and "--server-side" in argv:
        words = ["apply --server-side"]
    return " ".join([name, *words[:2]])


class Model:
    """The estimates, by command; reads the world (is the node image there? are the images loaded?)."""

    def __init__(self, world: TimedWorld) -> None:
        self.world = world
        self.rollout_start: float | None = None
        self.restarts = True

    def _same_workloads(self, manifest: str) -> bool:
        """Whether every Deployment/StatefulSet in MANIFEST is already in the cluster with the same spec."""
        cluster = self.world.clusters.get(self.world.settings.cluster_name)
        docs = [d for d in yaml.safe_load_all(manifest) if d and d.get("kind") in ("Deployment", "StatefulSet")]
        if cluster is None or not docs:
            return False
        for doc in docs:
            live = cluster.get(doc["kind"], doc["metadata"].get("namespace", "argocd"), doc["metadata"]["name"])
            if live is None or live.get("spec") != doc.get("spec"):
                return False
        return True

    def size(self, ref: str) -> float:
        """Bytes image REF moves: IMAGE_BYTES for the pinned images and the app, else what the world's Docker says."""
        if ref in IMAGE_BYTES:
            return IMAGE_BYTES[ref]
        if ref.split("@", 1)[0].rsplit(":", 1)[0].endswith("/lab-app"):
            return IMAGE_BYTES["app"]
        image = self.world.images.get(ref) or {}
        return float(image.get("Size") or BUILT_BYTES)

    def moved(self, kind: str, size: float, what: str, times: int = 1) -> Estimate:
        """Seconds to move SIZE bytes at MOVE_RATES[KIND], TIMES over (one import per node), low and high."""
        rate = MOVE_RATES[kind]
        text = f"{what} ({size / MB:.0f} MB at {rate.low / MB:.0f}-{rate.high / MB:.0f} MB/s)"
        return Estimate(times * rate.seconds(size, "low"), times * rate.seconds(size, "high"), text, rate.source)

    def estimate(self, argv: tuple[str, ...]) -> Estimate:
        w, name, cmd = self.world, tool(argv), " ".join(argv)
        stdin = (w.runner.calls[-1].input or "") if w.runner and w.runner.calls else ""
        if name == "docker":
            sub = argv[1]
            if sub == "build":
                ref = argv[argv.index("-t") + 1]
                if ref.startswith(versions.REGISTRY_IMAGE):
                    low = w.measured.get("registry", 5.0)
                    return Estimate(low, 60.0, "apt-get install docker-registry in the build", f"low: {HERE}")
                if ref.startswith(versions.GITSERVER_IMAGE):
                    return Estimate(
                        w.measured.get("gitserver", 10.0), 60.0, "apt-get install nginx git fcgiwrap", f"low: {HERE}"
                    )
                if ref.startswith(versions.MINISTACK_IMAGE):
                    return Estimate(17.0, 45.0, "pip install ministack", f"low: {HERE} (~17 s)")
                return Estimate(
                    w.measured.get("app", 15.0),
                    60.0,
                    "app image: pip install in the build stage",
                    f"low: {HERE}; with a warm build cache 2.3-2.8 s ({CI_UP_DOC})",
                )
            if sub == "push":
                return self.moved("push", self.size(argv[-1]), "first push: every layer to the lab's registry")
            if sub == "save" or argv[1:3] == ("image", "save"):
                args = argv[2:] if sub == "save" else argv[3:]
                skip = {i + 1 for i, a in enumerate(args) if a in ("--platform", "-o")}
                refs = [a for i, a in enumerate(args) if i not in skip and not a.startswith("-")]
                return self.moved("save", sum(self.size(r) for r in refs), f"docker image save of {len(refs)} image(s)")
            if sub == "run":
                return Estimate(0.3, 1.0, "container create + start")
            if sub == "exec":
                return Estimate(0.1, 0.3, "docker exec in the node")
            if sub == "network" and argv[2] == "connect":
                return Estimate(0.1, 0.5, "attach to the kind network")
            if sub in ("stop",):
                return Estimate(0.5, 10.0, "graceful stop")
            return Estimate(0.02, 0.2, "docker API query")
        if name == "kind":
            if argv[1:3] == ("create", "cluster"):
                if versions.KIND_NODE_IMAGE in w.images:
                    return Estimate(20.0, 60.0, "kubeadm init + control plane Ready (--wait 120s)")
                pull = self.moved("network", IMAGE_BYTES[versions.KIND_NODE_IMAGE], "pull kindest/node")
                return Estimate(
                    20.0 + pull.low,
                    60.0 + pull.high,
                    f"{pull.waits_on} + kubeadm init + Ready",
                    f"size: {CI_DOC}; download rate: {ASSUMPTION}",
                )
            if argv[1:3] == ("load", "docker-image"):
                images = [a for a in argv[3:] if a in versions.ARGOCD_IMAGES]
                node = w.containers.get(f"{w.settings.cluster_name}-control-plane")
                if node is not None and set(images) <= node.images:
                    # kind compares image IDs first and skips nodes that have them: no docker save, no import
                    # (kind pkg/cmd/kind/load/docker-image/docker-image.go, "pick only the nodes that don't have")
                    return Estimate(0.3, 1.5, "kind checks the image IDs on the node", KIND_LOAD_SOURCE)
                high = 40.0 if versions.ARGOCD_IMAGE in images else 10.0
                return Estimate(3.0 * len(images), high, "docker save | ctr import into the node")
            if argv[1:3] == ("load", "image-archive"):
                refs = (w.archives.get(argv[3]) or {}).get("refs") or []
                cluster = w.clusters.get(flag_value(argv, "--name") or w.settings.cluster_name)
                nodes = len(cluster.nodes) if cluster is not None else 1
                size = sum(self.size(r) for r in refs)
                what = f"ctr images import of {len(refs)} image(s) into {nodes} node(s)"
                return self.moved("import", size, what, times=nodes)  # kind imports node by node
            if argv[1:2] == ("delete",):
                return Estimate(2.0, 10.0, "remove node containers")
            return Estimate(0.05, 0.3, "kind query (docker ps)")
        if name == "kubectl":
            if argv[1:2] == ("kustomize",):
                return Estimate(0.1, 0.2, "kustomize build (local)", "~0.13 s measured here")
            if "--server-side" in argv:
                if "argocd-server" in stdin:
                    # Unchanged workloads restart nothing (the config hash in their pod templates is the same).
                    self.restarts = not self._same_workloads(stdin)
                    self.rollout_start = w.now + 4.0
                    return Estimate(2.0, 8.0, "server-side apply of the Argo CD install (CRDs + ~60 objects)")
                return Estimate(0.3, 1.0, "apply repo Secret, AppProject, Applications")
            if "rollout" in argv:
                resource = argv[argv.index("status") + 1]
                if not self.restarts:
                    return Estimate(0.1, 0.5, "rollout status of an unchanged workload")
                low, high = ROLLOUT.get(resource, (5.0, 30.0))
                node = w.containers.get(f"{w.settings.cluster_name}-control-plane")
                loaded = node is not None and versions.ARGOCD_IMAGE in node.images
                pull_low, pull_high = (0.0, 0.0) if loaded else ROLLOUT_PULL
                offset = (low + pull_low) if w.variant == "low" else (high + pull_high)
                start = self.rollout_start if self.rollout_start is not None else w.now
                remaining = max(0.2, start + offset - w.now)
                what = "Argo CD pods Ready" + ("" if loaded else " (nodes pull the images)")
                return Estimate(remaining, remaining, what, ROLLOUT_SOURCE)
            if "apply" in argv:
                return Estimate(0.2, 1.0, "kubectl apply (small)")
            return Estimate(0.05, 0.3, "API request")
        if name == "download":
            return Estimate(0.5, 5.0, "download install.yaml (~2 MB) and check its sha256")
        if name == "git":
            if any(a in argv for a in ("clone", "fetch", "push")):
                return Estimate(0.05, 0.3, "git over smart HTTP to the lab's git server")
            return Estimate(0.005, 0.05, "local git")
        return Estimate(0.01, 0.1, cmd[:40])


@dataclass
class Entry:
    phase: str
    what: str  # a command (short form) or "wait: ..."
    seconds: float
    waits_on: str
    source: str


class TimedWorld(World):
    """The fake world on modelled time: each command advances the clock, and so does every sleep of the lab."""

    def __init__(self, *args: object, variant: str, ui: PhaseUI, measured: dict[str, float], **kw: object) -> None:
        super().__init__(*args, cost=self._cost, **kw)  # type: ignore[arg-type]
        self.variant = variant
        self.ui = ui
        self.measured = measured
        self.model = Model(self)
        self.entries: list[Entry] = []
        self.boot_seconds = {n: (e.low if variant == "low" else e.high) for n, e in BOOT.items()}
        self.sync_seconds = FIRST_DEV_SYNC.low if variant == "low" else FIRST_DEV_SYNC.high

    def mark(self, phase: str) -> None:
        self.entries.append(Entry(phase, "", 0.0, "", ""))

    def _cost(self, argv: tuple[str, ...]) -> float:
        est = self.model.estimate(argv)
        seconds = est.low if self.variant == "low" else est.high
        self.entries.append(Entry(self.ui.current, short(argv), seconds, est.waits_on, est.source))
        return seconds

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        phase = self.ui.current
        if phase.startswith("Waiting for lab-dev"):
            what, source = FIRST_DEV_SYNC.waits_on, FIRST_DEV_SYNC.source
        else:
            boot = next((BOOT[n] for n in BOOT if n in phase), None)
            what, source = (boot.waits_on, boot.source) if boot else ("poll", ASSUMPTION)
        self.entries.append(Entry(phase, "wait (poll)", seconds, what, source))


@dataclass
class PhaseUI(UI):
    """A UI that knows which phase is running (commands outside any phase go to "(between phases)")."""

    stack: list[str] = field(default_factory=list)

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else "(between phases)"

    on_enter: Callable[[str], None] | None = None  # told of every phase, also those that run no command

    @contextlib.contextmanager
    def phase(self, title: str) -> Iterator[Phase]:
        self.stack.append(title)
        if self.on_enter is not None:
            self.on_enter(title)
        try:
            with super().phase(title) as rec:
                yield rec
        finally:
            self.stack.pop()


def make_app_repo(dest: Path) -> Path:
    shutil.copytree(ROOT / "overlays", dest / "overlays", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "app").mkdir()
    (dest / "app" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    for argv in (
        ["init", "--quiet", "-b", "main"],
        ["config", "user.name", "Plan"],
        ["config", "user.email", "plan@example.test"],
        ["add", "-A"],
        ["commit", "--quiet", "-m", "app"],
    ):
        subprocess.run(["git", "-C", str(dest), *argv], check=True, capture_output=True)
    return dest


def prime(world: World) -> None:
    """What `invoke cache` leaves in Docker: the pinned images and the service images (with their build labels)."""
    for ref in (versions.KIND_NODE_IMAGE, *versions.ARGOCD_IMAGES):
        world.images[ref] = {"Id": "sha256:" + world.new_id(), "Config": {"Labels": {}}, "Size": IMAGE_BYTES[ref]}
    cache = argocd_install.cache_path(world.settings, TEST_PIN)  # the verified install manifest
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(EXCERPT)
    for image in services.service_images(world.settings):
        labels = {services.CONTEXT_LABEL: image.digest()}
        world.images[image.ref] = {"Id": "sha256:" + world.new_id(), "Config": {"Labels": labels}}


def simulate(scenario: str, variant: str, measured: dict[str, float]) -> list[Entry]:
    with tempfile.TemporaryDirectory(prefix="plan-up-") as tmp:
        base = Path(tmp)
        app_root = make_app_repo(base / "app")
        settings = load_settings({"state_dir": base / ".lab"}, config_file=base / "none.toml", environ={})
        kind = settings.state_dir / "bin" / "kind"
        kind.parent.mkdir(parents=True)
        kind.write_text("#!/bin/sh\nexit 99\n")
        kind.chmod(0o755)
        ui = PhaseUI(err=io.StringIO(), out=io.StringIO())
        world = TimedWorld(settings, variant=variant, ui=ui, measured=measured)
        if scenario in ("primed", "rerun"):
            prime(world)

        def run_up(ui_: PhaseUI) -> None:
            world.ui = ui_
            ui_.on_enter = world.mark
            ctx = Context(settings, world.runner_for(), ui_)
            lab.up(
                ctx,
                app_root=app_root,
                fix=True,
                probes=world.doctor_probes(),
                service_probes=world.service_probes(),
                client=world.argocd_client(),
            )

        with world.patched():
            if scenario == "rerun":
                run_up(PhaseUI(err=io.StringIO(), out=io.StringIO()))
                world.entries.clear()
            run_up(ui)
        return world.entries


@dataclass
class Row:
    phase: str
    commands: str
    waits_on: str
    low: float
    high: float
    source: str


def rows(low: list[Entry], high: list[Entry]) -> list[Row]:
    """One row per phase, in order; the two runs issue the same commands in the same phases."""
    order: list[str] = []
    for e in low:
        if not order or order[-1] != e.phase:
            order.append(e.phase)
    out = []
    for i, phase in enumerate(order):
        lo, hi = _segment(low, order, i), _segment(high, order, i)
        counts = Counter(e.what for e in lo if e.what and not e.what.startswith("wait"))
        cost: dict[str, float] = defaultdict(float)
        by_wait: dict[str, float] = defaultdict(float)
        for e in hi:
            cost[e.what] += e.seconds
            by_wait[e.waits_on] += e.seconds
        ranked = sorted(counts, key=lambda k: -cost[k])  # the costly commands first
        commands = ", ".join(f"{k} ×{counts[k]}" if counts[k] > 1 else k for k in ranked) or "-"
        polls = sum(1 for e in lo if e.what.startswith("wait"))
        if polls:
            commands += f" (+{polls} polls)"
        waits_on = max(by_wait, key=lambda k: by_wait[k]) if sum(by_wait.values()) > 0 else "-"
        top = [e for e in hi if e.waits_on == waits_on]
        source = max(top, key=lambda e: e.seconds).source if top else ""
        low_s, high_s = sum(e.seconds for e in lo), sum(e.seconds for e in hi)
        out.append(Row(_label(phase), commands, waits_on, low_s, high_s, source))
    return out


def _segment(entries: list[Entry], order: list[str], index: int) -> list[Entry]:
    """The entries of the index-th run of consecutive phases (a phase title may repeat, e.g. between phases)."""
    seen, current, out = -1, None, []
    for e in entries:
        if e.phase != current:
            seen += 1
            current = e.phase
        if seen == index:
            out.append(e)
    return out


def _label(phase: str) -> str:
    phase = re.sub(r"\b[0-9a-f]{7}-\d{14}\b", "<tag>", phase)  # the app's tag differs from run to run
    return phase if len(phase) <= 58 else phase[:55] + "..."


# `invoke up --offline` on the CI cluster, cold (no cluster, no lab containers; every image already in ci-dockerd, as
# in the primed scenario), seconds per phase: min and max of the 5 runs of 2026-12-01 (CI_UP_DOC). Labels as _label.
CI_UP: dict[str, tuple[float, float]] = {
    "Preflight checks (invoke doctor)": (0.11, 0.14),
    "Ensuring registry lab-registry (127.0.0.1:5001)": (0.29, 0.43),
    "Ensuring ECR emulator lab-ecr (ministack, 127.0.0.1:4566)": (1.00, 1.03),
    "Ensuring ECR repository lab-app": (0.11, 0.14),
    "Ensuring git server lab-git (127.0.0.1:3000)": (0.36, 0.58),
    'Ensuring cluster "gitops-lab" (kind)': (29.54, 32.26),
    "Wiring registries into the cluster": (1.51, 1.91),
    "Checking the GitOps repo": (0.14, 0.23),
    "Check the app tree and the registry": (0.01, 0.02),
    "Check the GitOps repo": (0.26, 0.35),
    "Build localhost:5001/lab-app:<tag>": (2.33, 2.76),
    "Push to localhost:5001": (5.75, 7.09),
    "Bump dev in the GitOps repo": (0.09, 0.10),
    "Read what dev deploys": (0.04, 0.05),
    "Loading Argo CD images into the cluster": (10.48, 11.12),
    "Installing Argo CD v3.5.1": (5.63, 6.43),
    "Waiting for Argo CD to be ready": (32.88, 45.30),
    "Registering the GitOps repository and Applications": (0.21, 0.25),
    "Waiting for lab-dev to be Synced and Healthy": (28.31, 30.39),
}
CI_UP_TOTAL = (121.95, 137.52)


def compare(data: list[Row]) -> str:
    """The model's primed rows beside CI_UP: where the measured range lies outside the estimate, by how much."""
    widths = (58, 14, 14, 36)
    head = ("phase", "model s", "CI measured s", "verdict")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "-" * (sum(widths) + 6)]
    for r in data:
        measured = CI_UP.get(r.phase)
        if measured is None:
            continue
        lo, hi = measured
        if lo < r.low:
            verdict = f"model too slow by {r.low - lo:.1f} s at the low end"
        elif hi > r.high:
            verdict = f"model too fast by {hi - r.high:.1f} s at the high end"
        else:
            verdict = "inside"
        cells = (r.phase, f"{r.low:.1f}-{r.high:.1f}", f"{lo:.1f}-{hi:.1f}", verdict)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    total_low, total_high = sum(r.low for r in data), sum(r.high for r in data)
    lines.append("-" * (sum(widths) + 6))
    lo, hi = CI_UP_TOTAL
    cells = ("total", f"{total_low:.0f}-{total_high:.0f}", f"{lo:.0f}-{hi:.0f}", "")
    lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def table(title: str, data: list[Row]) -> str:
    widths = (58, 52, 48, 13)
    head = ("phase", "commands", "a real run waits on", "est. seconds")
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "-" * (sum(widths) + 6)]
    for r in data:
        secs = f"{r.low:.1f}-{r.high:.1f}" if r.high - r.low >= 0.05 else f"{r.low:.1f}"
        cells = (r.phase, r.commands[:52], r.waits_on[:48], secs)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    total_low, total_high = sum(r.low for r in data), sum(r.high for r in data)
    lines.append("-" * (sum(widths) + 6))
    minutes = f"{total_low / 60:.1f}-{total_high / 60:.1f} min"
    lines.append(f"{'total':<{sum(widths[:3]) + 4}}  {total_low:.0f}-{total_high:.0f} s ({minutes})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("cold", "primed", "rerun"), action="append")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    parser.add_argument("--compare", action="store_true", help="the primed scenario beside CI's measured `up`")
    args = parser.parse_args()
    if args.compare:
        primed = rows(
            simulate("primed", "low", dict(MEASURED_BUILDS)), simulate("primed", "high", dict(MEASURED_BUILDS))
        )
        print("`invoke up` primed (model) vs `invoke up --offline` cold on the CI cluster (" + CI_UP_DOC + ")")
        print(compare(primed))
        return
    measured = dict(MEASURED_BUILDS)
    results: dict[str, list[Row]] = {}
    for scenario in args.scenario or ["cold", "primed", "rerun"]:
        data = rows(simulate(scenario, "low", measured), simulate(scenario, "high", measured))
        results[scenario] = data
        print(table(f"\n`invoke up`, scenario {scenario}", data))
    print("\nSource of the dominant estimate of each phase of 1 s or more:")
    seen: set[str] = set()
    for data in results.values():
        for r in data:
            if r.phase not in seen and r.high >= 1.0:
                seen.add(r.phase)
                print(f"  {r.phase[:52]:<52}  {r.source}")
    if args.json:
        args.json.write_text(json.dumps({k: [vars(r) for r in v] for k, v in results.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
