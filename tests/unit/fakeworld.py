"""A stateful fake of the world outside the lab, for FakeRunner: Docker (containers, images, volumes, networks,
with labels and published ports), kind (clusters and their node containers), a Kubernetes API per cluster
(apply, get, rollout status), a registry's HTTP API and ECR, and Argo CD's Application status.

Two things run for real, because they are fast, offline and the point of the exercise: `git` (against a real
bare repository under the lab's state dir; the lab's git server container is modelled by rewriting its URL to
that directory, which is what the container serves) and `kubectl kustomize` (the venv's kubectl).

The world keeps a clock (``now``). Each faked command may advance it by a modelled duration (``cost``; zero by
default), and the probes and the Argo CD fake read it, so `bench/plan_up.py` can replay `up` on modelled time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import yaml
from fakes import FakeRunner
from fakes.docker import Container, DockerFake
from kubernetes.client.exceptions import ApiException

from lab.clients.argocd import ApplicationClient
from lab.components import argocd as argocd_component
from lab.components import services
from lab.core.config import ENVIRONMENTS, Settings, environment
from lab.core.runner import Result
from lab.gitops import repo as gitops
from lab.gitops.overlay import read_image
from lab.steps import doctor as doctor_steps
from lab.tools import argocd_install, registry
from lab.tools.probes import HttpAnswer

ROOT = Path(__file__).resolve().parents[2]
KIND_VERSION_OUTPUT = "kind v0.32.0 go1.25 linux/amd64\n"
DOCKER_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
CTR_DIGEST_NOT_FOUND = (
    'ERROR: failed to load image: command "docker exec --privileged -i gitops-lab-control-plane ctr '
    '--namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -" failed with error: '
    "exit status 1\nCommand Output: ctr: content digest sha256:b1addbe72465a718643cff9e60a58e6df1841e2"
    "9d6d7d60c9a85d8d72f08d1a7: not found"
)
KIND_LABEL = "io.x-k8s.kind.cluster"
EXCERPT = (ROOT / "tests" / "data" / "argocd" / "install-excerpt.yaml").read_bytes()
# The Argo CD install used by the fake world: the structural excerpt of v3.5.1's install.yaml, pinned by its own
# sha256 (the real manifest cannot be downloaded in unit tests).
TEST_PIN = argocd_install.ManifestPin(
    "v3.5.1", "https://example.invalid/argo-cd/v3.5.1/manifests/install.yaml", hashlib.sha256(EXCERPT).hexdigest()
)
GIB = 1024**3
BUILT_SIZE = 50_000_000  # bytes each image the world builds holds on its own
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the world's wall clock at world.now == 0
_RENDERED: dict[str, Result] = {}  # `kubectl kustomize` output by the digest of the files it read


class SimulatedCrash(Exception):
    """The process died here (raised by the world at a chosen command)."""


Cost = Callable[[tuple[str, ...]], float]


def tool(argv: tuple[str, ...]) -> str:
    return Path(argv[0]).name


def flag(args: tuple[str, ...], name: str, default: str = "") -> str:
    return args[args.index(name) + 1] if name in args else default


@dataclass
class Cluster:
    """A kind cluster: its node containers and the objects its API server holds."""

    name: str
    nodes: list[str]
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (kind, ns, name)
    api_up: bool = True

    def put(self, doc: dict[str, Any], default_ns: str = "") -> None:
        meta = doc.get("metadata") or {}
        key = (str(doc["kind"]).lower(), str(meta.get("namespace") or default_ns), str(meta["name"]))
        if doc["kind"] == "Namespace":
            key = ("namespace", "", str(meta["name"]))
        old = self.objects.get(key, {})
        self.objects[key] = {**doc, "status": old.get("status", doc.get("status", {}))}

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        if kind.lower() == "namespace":
            namespace = ""
        return self.objects.get((kind.lower(), namespace or "", name))

    def names(self, kind: str) -> list[str]:
        return [name for (k, _, name) in self.objects if k == kind.lower()]


@dataclass
class FakeECR:
    repositories: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)

    def create_repository(self, **kw: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        name = kw["repositoryName"]
        if name in self.repositories:
            raise ClientError({"Error": {"Code": "RepositoryAlreadyExistsException", "Message": "exists"}}, "Create")
        self.repositories[name] = dict(kw)
        return {"repository": kw}

    def describe_repositories(self, repositoryNames: list[str]) -> dict[str, Any]:
        return {"repositories": [self.repositories[n] for n in repositoryNames]}

    def put_lifecycle_policy(self, repositoryName: str, lifecyclePolicyText: str) -> dict[str, Any]:
        self.policies[repositoryName] = lifecyclePolicyText
        return {}


@dataclass
class FakeResponse:
    status_code: int
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class World(DockerFake):
    """Answers the lab's commands as the outside world would, and remembers what they did. Its Docker is the
    shared strict fake (tests/fakes/docker.py); this class adds kind nodes (crictl), the registries that answer
    when their container runs, and the rest of the world."""

    def __init__(self, settings: Settings, *, cost: Cost | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.cost = cost or (lambda argv: 0.0)
        # Executables not on PATH (`kind`, `kubectl`): ToolNotFound. trivy is not installed here (`invoke cache` then
        # skips the scanner database, lab/steps/scan.py cache_db); the scan gate has its own tests.
        self.missing_tools: set[str] = {"trivy"}
        self.pip_downloads: list[tuple[str, ...]] = []  # every `pip download` argv (its wheels are written for real)
        self.clusters: dict[str, Cluster] = {}
        self.ecr = FakeECR()
        self.boot_seconds: dict[str, float] = {}  # container name -> seconds until its ready URL answers
        self.sync_seconds = 0.5  # seconds from an Application's first read to Synced + Healthy (auto-sync)
        self.manual_sync_seconds = 0.5  # seconds from a sync operation to Synced + Healthy (manual sync)
        self.app_polls: dict[str, int] = {}  # Argo CD's side, shared by every client of this world
        self.app_first_seen: dict[str, float] = {}
        self.app_sync_requested: dict[str, float] = {}
        self.app_synced: set[str] = set()
        self.crashes: list[tuple[Callable[[tuple[str, ...]], bool], bool]] = []
        self.runner: FakeRunner | None = None
        self.git_config = settings.state_dir.parent / "world-gitconfig"
        self.git_config.parent.mkdir(parents=True, exist_ok=True)
        self.git_config.write_text("[init]\n\tdefaultBranch = main\n")

    # Wiring --------------------------------------------------------------------------------------------
    def runner_for(self, *, dry_run: bool = False) -> FakeRunner:
        runner = FakeRunner(dry_run=dry_run, missing=self.missing_tools)
        runner.responders.append(self)
        self.runner = runner
        return runner

    def remount(self) -> None:
        """Every container's bind mounts made afresh from their paths, as `docker restart` would (for a state dir
        restored from a copy: new directories at the same paths)."""
        for c in self.containers.values():
            c.binds = [b.remount() for b in c.binds]

    def crash_on(self, match: Callable[[tuple[str, ...]], bool], *, after: bool = False) -> None:
        """Die at the next command MATCH accepts: before it acts, or AFTER it has acted."""
        self.crashes.append((match, after))

    # The dispatcher ------------------------------------------------------------------------------------
    def __call__(self, argv: tuple[str, ...], stdin: str | None) -> Result | None:
        crash_after = False
        for i, (match, after) in enumerate(self.crashes):
            if match(argv):
                del self.crashes[i]
                if not after:
                    raise SimulatedCrash(" ".join(argv))
                crash_after = True
                break
        self.now += self.cost(argv)
        name = tool(argv)
        if name == "docker":
            res = self.docker(argv, stdin)
        elif name == "kind":
            res = self._kind(argv, argv[1:])
        elif name == "kubectl":
            res = self._kubectl(argv, argv[1:], stdin)
        elif name == "git":
            res = self._git(argv)
        elif argv[1:4] == ("-m", "pip", "download"):
            res = self._pip_download(argv)
        else:
            res = None
        if crash_after:
            raise SimulatedCrash(" ".join(argv) + " (after it ran)")
        return res

    def _pip_download(self, argv: tuple[str, ...]) -> Result:
        """A wheel file per pinned requirement in --dest (stand-ins, named as pip names them)."""
        if not self.online:
            return self.fail(argv, "ERROR: Could not find a version that satisfies the requirement (offline)")
        self.pip_downloads.append(argv)
        dest = Path(flag(argv, "--dest"))
        for line in Path(flag(argv, "--requirement")).read_text().splitlines():
            if "==" in line and not line.lstrip().startswith("#"):
                pkg, version = line.split("#")[0].strip().split("==")
                (dest / f"{pkg.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"wheel")
        return self.ok(argv)

    # Docker: what a kind node adds ------------------------------------------------------------------------
    def removed(self, names: list[str]) -> None:
        for name, cluster in list(self.clusters.items()):  # kind lists clusters by their node containers
            if not any(node in self.containers for node in cluster.nodes):
                del self.clusters[name]

    # The registry's HTTP API and the probes ------------------------------------------------------------
    def _container_on_port(self, port: int) -> Container | None:
        for c in self.containers.values():
            if c.running and any(host == port for _, host, _ in c.published()):
                return c
        return None

    def registry_answers(self, host: str) -> bool:
        port = int(host.rsplit(":", 1)[1]) if ":" in host else 80
        c = self._container_on_port(port)
        return c is not None and self.now >= c.started_at + self.boot_seconds.get(c.name, 0.0)

    @contextlib.contextmanager
    def registry_session(self, host: str) -> Iterator[Any]:
        """Stands in for lab.tools.registry._session: GET /v2/ and GET /v2/<name>/manifests/<tag>."""
        world = self

        class Session:
            def get(self, url: str, **_: Any) -> FakeResponse:
                if not world.registry_answers(host):
                    import requests

                    raise requests.ConnectionError(f"connection refused: {url}")
                path = url.split(host, 1)[1]
                if path == "/v2/":
                    return FakeResponse(200, "{}")
                repo_name, _sep, tag = path.removeprefix("/v2/").partition("/manifests/")
                digest = world.manifests.get((host, repo_name, tag))
                if digest is None:
                    return FakeResponse(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                return FakeResponse(200, "{}", {"Docker-Content-Digest": digest})

        yield Session()

    def port_free(self, port: int) -> bool:
        return not self.port_taken(port)

    def http_get(self, url: str) -> HttpAnswer | None:
        port = int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        c = self._container_on_port(port)
        if c is None or self.now < c.started_at + self.boot_seconds.get(c.name, 0.0):
            return None
        return HttpAnswer(200, '{"completed": true}')

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def service_probes(self) -> services.Probes:
        return services.Probes(
            port_free=self.port_free,
            http_get=self.http_get,
            sleep=self.sleep,
            clock=self.clock,
            ecr_client=lambda settings: self.ecr,
        )

    def doctor_probes(self) -> doctor_steps.Probes:
        return doctor_steps.Probes(
            port_is_free=self.port_free,
            docker_hub_reachable=lambda: True,
            disk_free=lambda path: 200 * GIB,
            which=lambda name: None,
            environ={},
        )

    # kind ----------------------------------------------------------------------------------------------
    def _kind(self, argv: tuple[str, ...], args: tuple[str, ...]) -> Result:
        if args[:1] == ("version",):
            return self.ok(argv, KIND_VERSION_OUTPUT)
        if not self.docker_up:
            return self.fail(argv, f'ERROR: failed to list clusters: command "docker ps" failed: {DOCKER_DOWN}')
        if args[:2] == ("get", "clusters"):
            return self.ok(argv, "".join(f"{c}\n" for c in sorted(self.clusters)))
        if args[:2] == ("get", "nodes"):
            cluster = self.clusters.get(flag(args, "--name", "kind"))
            return self.ok(argv, "".join(f"{n}\n" for n in (cluster.nodes if cluster else [])))
        if args[:2] == ("create", "cluster"):
            name = flag(args, "--name")
            config = Path(flag(args, "--config"))
            assert config.is_file(), f"kind create ran before {config} was written"
            if name in self.clusters:
                return self.fail(
                    argv, f'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "{name}"'
                )
            doc = yaml.safe_load(config.read_text())
            node_image = str((doc.get("nodes") or [{}])[0].get("image") or "kindest/node")
            # kind pulls the node image unless `docker inspect --type=image` finds it (kind
            # pkg/cluster/internal/providers/docker/images.go).
            if self.image(node_image) is None:
                if not self.online:
                    return self.fail(
                        argv,
                        f'ERROR: failed to create cluster: failed to pull image "{node_image}": '
                        "dial tcp: lookup registry-1.docker.io: no such host",
                    )
                self.images[node_image] = {"Id": "sha256:" + self.new_id(), "Config": {"Labels": {}}}
            self.add_cluster(name, doc)
            return self.ok(argv)
        if args[:2] == ("delete", "cluster"):
            cluster = self.clusters.pop(flag(args, "--name", "kind"), None)
            for node in cluster.nodes if cluster else []:
                self.containers.pop(node, None)
            return self.ok(argv)
        if args[:2] == ("load", "docker-image"):
            images = [a for a in args[2:] if not a.startswith("--") and a != flag(args, "--name")]
            cluster = self.clusters[flag(args, "--name", "kind")]
            for image in images:
                if image not in self.images:
                    return self.fail(argv, f'ERROR: image: "{image}" not present locally')
            if self.image_store == "containerd":  # kind saves without --platform (kubernetes-sigs/kind#3795)
                return self.fail(argv, CTR_DIGEST_NOT_FOUND)
            for node in cluster.nodes:
                self.containers[node].images.update(images)
                self.containers[node].image_ids.update({i: self.images[i]["Id"] for i in images})
            return self.ok(argv)
        if args[:2] == ("load", "image-archive"):
            cluster = self.clusters[flag(args, "--name", "kind")]
            path = Path(args[2])
            if not path.is_file():
                return self.fail(argv, f"ERROR: stat {path}: no such file or directory")
            if self.image_store == "containerd" and not self.archives.get(str(path), {}).get("platform"):
                return self.fail(argv, CTR_DIGEST_NOT_FOUND)  # the whole index, one platform's content
            manifest, _ = self.read_archive(path)
            for node in cluster.nodes:
                for item in manifest:
                    for tag in item.get("RepoTags") or []:
                        self.containers[node].images.add(tag)
                        # containerd in the node names the image by its config digest
                        self.containers[node].image_ids[tag] = "sha256:" + item["Config"].rsplit("/", 1)[-1]
            return self.ok(argv)
        raise AssertionError(f"the fake world does not know `{' '.join(argv)}`")

    def add_cluster(
        self, name: str, config: Mapping[str, Any] | None = None, *, created: datetime | None = None
    ) -> Cluster:
        """What `kind create cluster` leaves: node containers labelled with the cluster, on the `kind` network."""
        nodes_cfg = list((config or {}).get("nodes") or [{"role": "control-plane"}])
        workers = sum(1 for n in nodes_cfg if n.get("role") == "worker")
        names = [f"{name}-control-plane"] + [
            f"{name}-worker" + (str(i) if i > 1 else "") for i in range(1, workers + 1)
        ]
        self.networks.setdefault("kind", {})
        mappings = (nodes_cfg[0].get("extraPortMappings") or []) if nodes_cfg else []
        for i, node in enumerate(names):
            ports = [f"127.0.0.1:{40000 + len(self.clusters)}:6443"] if i == 0 else []
            if i == 0:
                ports += [f"{m.get('listenAddress', '0.0.0.0')}:{m['hostPort']}:{m['containerPort']}" for m in mappings]
            image = "kindest/node"
            self.images.setdefault(image, {"Id": "sha256:" + self.new_id(), "Config": {"Labels": {}}})
            c = Container(node, self.new_id(), image, self.images[image]["Id"], {KIND_LABEL: name}, ports, {"kind"})
            if created is not None:
                c.created = created
            self.containers[node] = c
        cluster = Cluster(name, names)
        self.clusters[name] = cluster
        return cluster

    # kubectl -------------------------------------------------------------------------------------------
    def _kubectl(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if args[:1] == ("kustomize",):
            return self._kustomize(argv, Path(args[1]))
        if args[:1] == ("version",):
            return self.ok(argv, json.dumps({"clientVersion": {"gitVersion": "v1.37.1"}}))
        assert args[0] == "--context", f"kubectl without --context: {argv}"
        context, rest = args[1], args[2:]
        cluster = self.clusters.get(context.removeprefix("kind-")) if context.startswith("kind-") else None
        if cluster is None:
            return self.fail(argv, f'error: context "{context}" does not exist')
        if not cluster.api_up or not self.docker_up:
            return self.fail(argv, "The connection to the server 127.0.0.1:40000 was refused")
        ns = flag(rest, "-n")
        if rest[:2] == ("get", "--raw"):
            return self.ok(argv, "ok")
        if rest[:1] == ("apply",):
            for doc in yaml.safe_load_all(stdin or ""):
                if doc:
                    cluster.put(doc, ns)
            return self.ok(argv)
        if rest[:2] == ("rollout", "status"):
            kind, _, name = rest[2].partition("/")
            obj = cluster.get(kind, ns, name)
            if obj is None:
                return self.fail(argv, f'Error from server (NotFound): {kind}s.apps "{name}" not found')
            replicas = int((obj.get("spec") or {}).get("replicas", 1))
            obj["status"] = {"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas}
            return self.ok(argv, f'{kind} "{name}" successfully rolled out\n')
        if rest[:1] == ("get",):
            kind, name = rest[1], rest[2]
            obj = cluster.get(kind, ns, name)
            return self.ok(argv, json.dumps(obj) if obj else "")
        if rest[:1] == ("diff",):
            return self.ok(argv)
        raise AssertionError(f"the fake world does not know `{' '.join(argv)}`")

    def _kustomize(self, argv: tuple[str, ...], directory: Path) -> Result:
        """The real `kubectl kustomize`, memoised on the files it reads (a pure function of them)."""
        text = (directory / "kustomization.yaml").read_text() if (directory / "kustomization.yaml").is_file() else ""
        root = directory.parent if "../" in text else directory
        digest = hashlib.sha256(str(directory.relative_to(root)).encode())
        for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
        key = digest.hexdigest()
        if key not in _RENDERED:
            _RENDERED[key] = self._real(argv)
        res = _RENDERED[key]
        return Result(argv, res.returncode, res.stdout, res.stderr)

    # git (real) ----------------------------------------------------------------------------------------
    def git_env(self, *, serve: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_CONFIG_GLOBAL=str(self.git_config), GIT_CONFIG_NOSYSTEM="1")
        if serve:
            # The lab's git server container serves <state_dir>/git over smart HTTP: the world serves that
            # directory. Only for the commands that talk to the remote: `git remote get-url` would expand
            # insteadOf too, and the lab compares that URL with its settings.
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0=f"url.{self.settings.state_dir / 'git'}/.insteadOf",
                GIT_CONFIG_VALUE_0=f"http://127.0.0.1:{self.settings.git_port}/",
            )
        return env

    def _git(self, argv: tuple[str, ...]) -> Result:
        args = list(argv[1:])
        while args[:1] == ["-C"]:
            args = args[2:]
        network = (args[0] if args else "") in ("clone", "fetch", "push", "ls-remote")
        if network and not self.settings.gitops_remote:
            git = self.containers.get("lab-git")
            url = f"http://127.0.0.1:{self.settings.git_port}/gitops.git/"
            if git is None or not git.running:
                return self.fail(argv, f"fatal: unable to access '{url}': Failed to connect to 127.0.0.1", 128)
            if not all(b.current() for b in git.binds):  # it serves a directory that is gone or elsewhere now
                return self.fail(argv, f"fatal: repository '{url}' not found", 128)
        return self._real(argv, env=self.git_env(serve=network))

    def _real(self, argv: tuple[str, ...], env: Mapping[str, str] | None = None) -> Result:
        call = self.runner.calls[-1] if self.runner and self.runner.calls else None
        merged = dict(env or os.environ)
        if call is not None and call.env:
            merged.update(call.env)
        stdin = call.input if call is not None else None
        cwd = call.cwd if call is not None else None
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=merged, cwd=cwd, check=False)
        return Result(argv, proc.returncode, proc.stdout, proc.stderr)

    def git_out(self, *args: str) -> str:
        """Read the real GitOps bare repository (for assertions)."""
        bare = self.settings.state_dir / "git" / "gitops.git"
        proc = subprocess.run(
            ["git", "-C", str(bare), *args], capture_output=True, text=True, env=self.git_env(), check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    # Argo CD ---------------------------------------------------------------------------------------------
    def deploy(self, cluster: Cluster, env_name: str, image: str) -> None:
        """What a sync leaves in the cluster: its namespace and the app's Deployment, rolled out."""
        env = environment(env_name)
        cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.namespace}})
        cluster.put(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "lab-app", "namespace": env.namespace},
                "spec": {
                    "replicas": env.replicas,
                    "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
                },
            }
        )
        obj = cluster.get("deployment", env.namespace, "lab-app")
        assert obj is not None
        obj["status"] = {"replicas": env.replicas, "readyReplicas": env.replicas}

    def applications(self) -> FakeApplications:
        return FakeApplications(self)

    def argocd_client(self) -> ApplicationClient:
        return ApplicationClient(self.applications(), clock=self.clock, sleep=self.sleep)

    # Patching the lab's network seams that take no argument --------------------------------------------
    def download(self, url: str, dest: Path) -> None:
        """The Argo CD install manifest from "the internet" (the excerpt; TEST_PIN is its sha256), written to DEST
        as lab/tools/download.py's fetch does."""
        self.now += self.cost(("download", url))
        dest.write_bytes(EXCERPT)

    def datetime_now(self, tz: tzinfo | None = None) -> datetime:
        """The wall clock of this world: EPOCH plus the world's seconds (so image tags are reproducible)."""
        return (EPOCH + timedelta(seconds=self.now)).astimezone(tz or UTC)

    @contextlib.contextmanager
    def patched(self) -> Iterator[World]:
        """The registry HTTP client, the Argo CD manifest download and the pipeline's UTC clock (image tags) answer
        from this world; restored after."""
        original_session = registry._session
        original_ensure = argocd_component.ensure_argocd
        namespace = vars(gitops)  # lab.gitops.repo reads `datetime` from here in utc_now(), the clock of the tags
        original_datetime = namespace["datetime"]
        world = self

        class WorldDatetime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
                return world.datetime_now(tz)

        def ensure_argocd(ctx: Any, **kw: Any) -> None:
            kw.setdefault("fetch", self.download)
            kw.setdefault("pin", TEST_PIN)
            original_ensure(ctx, **kw)

        registry._session = self.registry_session  # type: ignore[assignment]
        argocd_component.ensure_argocd = ensure_argocd
        namespace["datetime"] = WorldDatetime
        try:
            yield self
        finally:
            registry._session = original_session
            argocd_component.ensure_argocd = original_ensure
            namespace["datetime"] = original_datetime


@dataclass
class FakeApplications:
    """lab.clients.argocd.ApplicationsApi over the world: an Application exists once applied to the cluster; an
    auto-sync one becomes Synced + Healthy ``world.sync_seconds`` after it was first read, at the GitOps repo's
    head, and its Deployment appears; a manual one only ``world.manual_sync_seconds`` after a sync operation.
    This is the lab's view of Argo CD for orchestration tests, not a model of Argo CD's controller."""

    world: World
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _cluster(self) -> Cluster:
        cluster = self.world.clusters.get(self.world.settings.cluster_name)
        if cluster is None or not cluster.api_up:
            raise OSError("connection refused")
        return cluster

    def get(self, name: str) -> dict[str, Any]:
        cluster = self._cluster()
        app = cluster.get("application", "argocd", name)
        if app is None:
            raise ApiException(status=404, reason="Not Found")
        w = self.world
        w.app_polls[name] = w.app_polls.get(name, 0) + 1
        start = w.app_first_seen.setdefault(name, w.now)
        env = next(e for e in ENVIRONMENTS if e.namespace == app["spec"]["destination"]["namespace"])
        head = self.world.git_out("rev-parse", "main").strip()
        text = self.world.git_out("show", f"main:overlays/{env.name}/kustomization.yaml")
        spec = read_image(text)
        image = spec.reference if spec else ""
        if env.auto_sync:
            done = w.now >= start + w.sync_seconds
        else:
            asked = w.app_sync_requested.get(name)
            done = name in w.app_synced or (asked is not None and w.now >= asked + w.manual_sync_seconds)
        if not done:
            status = {"sync": {"status": "OutOfSync", "revision": head}, "health": {"status": "Missing"}}
            if name in w.app_sync_requested:
                return {"metadata": {"name": name}, "spec": app["spec"], "operation": {"sync": {}}, "status": status}
            return {"metadata": {"name": name}, "spec": app["spec"], "status": status}
        if name not in w.app_synced or env.auto_sync:
            w.deploy(cluster, env.name, image)
        w.app_synced.add(name)
        w.app_sync_requested.pop(name, None)
        return {
            "metadata": {"name": name},
            "spec": app["spec"],
            "status": {
                "sync": {"status": "Synced", "revision": head},
                "health": {"status": "Healthy"},
                "summary": {"images": [image]},
                "operationState": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z"},
            },
        }

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((name, body))
        if "operation" in body:
            self.world.app_sync_requested[name] = self.world.now
            self.world.app_synced.discard(name)
        return self.get(name)
