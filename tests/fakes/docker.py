"""One strict, stateful fake of the Docker CLI for unit tests (a FakeRunner responder).

It answers the docker commands lab/ issues (lab/tools/docker.py, lab/tools/docker_objects.py and the few argv built
elsewhere: lab/tools/pip.py's probe, lab/steps/preflight.py's `ps --format {{.Ports}}`, lab/steps/doctor.py's
`info --format {{json .}}`) as the daemon would, and keeps what they did: containers (labels, published ports,
networks, bind mounts, running or not), images (tags, IDs, labels), volumes, networks, archives written by
`docker save`, and what was pushed to registries.

Strict: every command it answers is listed in MODELLED (subcommand prefix and, where the tools pass one, the
exact --format). Any other docker argv, or an option it does not know, raises UnmodelledCommand naming the argv,
instead of succeeding silently. tests/contract/ replays every MODELLED entry against the real daemon and compares
what lab/tools parses from both answers; tests/contract/test_contract_coverage.py fails when an entry has no
contract case.

Not modelled (on purpose): `LABEL` instructions in a Dockerfile other than `key="${ARG}"` pairs with a build arg
the command sets (a build's image gets its base image's labels, those pairs, then the --label flags); image layers
(each build adds ``built_size`` bytes to `docker system df`); the programs a container runs (its logs are
``Container.logs``; `exec` knows `cat`, `cp /dev/stdin`, `mkdir -p` and a kind node's `crictl inspecti`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import shlex
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakes.binds import Bind, read_through
from lab.core.errors import RegistryError
from lab.core.runner import Result
from lab.tools import registry
from lab.tools.docker_objects import human_size

DOCKER_DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
GIB = 1024**3
ENGINE_FORMAT = "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}"
LABEL_PAIR = re.compile(r'([\w.-]+)="\$\{(\w+)\}"')


class UnmodelledCommand(AssertionError):
    """A docker argv the fake does not model: add it to MODELLED (and a contract case), or fix the caller."""

    def __init__(self, argv: Iterable[str], why: str = "") -> None:
        super().__init__(
            f"the Docker fake does not model `{shlex.join(argv)}`{': ' + why if why else ''} "
            "(tests/fakes/docker.py MODELLED)"
        )


@dataclass(frozen=True)
class Modelled:
    """One docker command the fake answers: argv[1:] starts with PREFIX and carries exactly FORMAT as --format
    (None: no --format). HANDLER is the DockerFake method that answers it."""

    prefix: tuple[str, ...]
    format: str | None
    handler: str

    @property
    def key(self) -> str:
        return " ".join(self.prefix) + (f" --format {self.format}" if self.format is not None else "")


_TABLE = [
    Modelled(("version",), "{{.Server.Version}}", "_version"),
    Modelled(("version",), ENGINE_FORMAT, "_version"),
    Modelled(("info",), "{{.CgroupVersion}}", "_info"),
    Modelled(("info",), "{{json .}}", "_info"),
    Modelled(("ps",), "{{.Names}}", "_ps"),
    Modelled(("ps",), "{{.Ports}}", "_ps"),
    Modelled(("container", "inspect"), None, "_container_inspect"),
    Modelled(("run", "--rm"), None, "_run_probe"),
    Modelled(("run", "-d"), None, "_run"),
    Modelled(("start",), None, "_start"),
    Modelled(("stop",), None, "_stop"),
    Modelled(("rm", "-f"), None, "_rm"),
    Modelled(("logs",), None, "_logs"),
    Modelled(("exec",), None, "_exec"),
    Modelled(("network", "inspect"), None, "_network_inspect"),
    Modelled(("network", "connect"), None, "_network_connect"),
    Modelled(("image", "inspect"), "{{.Id}}", "_image_inspect"),
    Modelled(("image", "inspect"), None, "_image_inspect"),
    Modelled(("image", "ls"), "{{.ID}}", "_image_ls"),
    Modelled(("image", "rm"), None, "_image_rm"),
    Modelled(("image", "save"), None, "_save"),
    Modelled(("save",), None, "_save"),
    Modelled(("load",), None, "_load"),
    Modelled(("system", "df"), "{{json .}}", "_system_df"),
    Modelled(("build",), None, "_build"),
    Modelled(("tag",), None, "_tag"),
    Modelled(("push",), None, "_push"),
    Modelled(("pull",), None, "_pull"),
    Modelled(("volume", "inspect"), None, "_volume_inspect"),
    Modelled(("volume", "create"), None, "_volume_create"),
    Modelled(("volume", "ls"), "{{.Name}}", "_volume_ls"),
    Modelled(("volume", "rm"), None, "_volume_rm"),
]
MODELLED: dict[str, Modelled] = {m.key: m for m in _TABLE}


def flag(args: tuple[str, ...], name: str, default: str = "") -> str:
    return args[args.index(name) + 1] if name in args else default


def _values(args: tuple[str, ...], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]


def _label_filters(argv: tuple[str, ...], args: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """`--filter label=K=V` / `--filter label=K` -> [(K, V or None)]; any other filter is not modelled."""
    out: list[tuple[str, str | None]] = []
    for value in _values(args, "--filter"):
        if not value.startswith("label="):
            raise UnmodelledCommand(argv, f"filter {value}")
        key, sep, wanted = value.removeprefix("label=").partition("=")
        out.append((key, wanted if sep else None))
    return out


def _matches(labels: dict[str, str], filters: list[tuple[str, str | None]]) -> bool:
    return all(k in labels and (v is None or labels[k] == v) for k, v in filters)


def _parse_options(
    argv: tuple[str, ...], args: tuple[str, ...], takes_value: set[str], switches: set[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Options up to the first positional argument; an option outside TAKES_VALUE/SWITCHES is not modelled."""
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in takes_value:
            opts.setdefault(args[i], []).append(args[i + 1])
            i += 2
        elif args[i] in switches:
            opts.setdefault(args[i], []).append("")
            i += 1
        else:
            raise UnmodelledCommand(argv, f"option {args[i]}")
    return opts, list(args[i:])


def normal_ref(ref: str) -> str:
    """'name' -> 'name:latest', as Docker names an image given without a tag or digest."""
    if ref.startswith("sha256:") or "@" in ref:
        return ref
    return ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"


@dataclass
class Container:
    name: str
    id: str
    image: str
    image_id: str
    labels: dict[str, str]
    ports: list[str] = field(default_factory=list)  # "127.0.0.1:5001:5000" as given to `docker run -p`
    networks: set[str] = field(default_factory=lambda: {"bridge"})
    running: bool = True
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: float = 0.0  # the fake's clock
    files: dict[str, str] = field(default_factory=dict)  # written with `docker exec -i ... cp /dev/stdin PATH`
    images: set[str] = field(default_factory=set)  # kind nodes: images loaded with `kind load ...`
    image_ids: dict[str, str] = field(default_factory=dict)  # kind nodes: image -> ID, as `crictl inspecti` says
    binds: list[Bind] = field(default_factory=list)  # `-v /host/dir:/path`: the directory held, not its path
    args: tuple[str, ...] = ()  # the `docker run` argv it was made with
    logs: str = ""  # what `docker logs` prints

    def published(self) -> list[tuple[str, int, int]]:
        out = []
        for spec in self.ports:
            ip, host, cport = spec.rsplit(":", 2)
            out.append((ip, int(host), int(cport)))
        return out

    def ports_text(self) -> str:
        """`docker ps --format {{.Ports}}` (only a running container shows its ports)."""
        if not self.running:
            return ""
        return ", ".join(f"{ip}:{host}->{cport}/tcp" for ip, host, cport in self.published())

    def inspect(self) -> dict[str, Any]:
        bindings: dict[str, list[dict[str, str]]] = {}
        for ip, host, cport in self.published():
            bindings.setdefault(f"{cport}/tcp", []).append({"HostIp": ip, "HostPort": str(host)})
        return {
            "Id": self.id,
            "Name": "/" + self.name,
            "Created": self.created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",  # Docker prints nanoseconds
            "Image": self.image_id,
            "Config": {"Labels": self.labels, "Image": self.image},
            "State": {"Running": self.running, "Status": "running" if self.running else "exited"},
            "HostConfig": {"PortBindings": bindings},
            "NetworkSettings": {"Networks": {n: {} for n in sorted(self.networks)}},
        }


class DockerFake:
    """The Docker daemon as the docker CLI reports it; call it with (argv, stdin) as a FakeRunner responder."""

    def __init__(self) -> None:
        self.docker_up = True
        self.online = True  # `docker pull` of an image no registry here holds works, as from Docker Hub
        self.server_version = "28.5.1"
        self.api_version = "1.51"  # the daemon's Engine API (`docker image save --platform` needs 1.48)
        self.arch = "amd64"
        self.cgroup = "2"  # `docker info` CgroupVersion
        self.mem_total = 8 * GIB
        self.insecure_registries = ["127.0.0.0/8"]
        # What `python3 -c ...` prints in a base image container (lab/tools/pip.py asks it which Python it has).
        self.image_python = {
            "python": "3.12",
            "implementation": "cpython",
            "machine": "x86_64",
            "libc": ["glibc", "2.36"],
        }
        # "overlay2": Docker's classic image store; "containerd": the containerd image store, where a save without
        # --platform writes a multi-platform index whose other platforms are missing, and an image loaded from a
        # single-platform archive gets the platform manifest's digest as its ID (moby/moby#44833).
        self.image_store = "overlay2"
        self.built_size = 50_000_000  # bytes each build adds to `docker system df`'s Images Size
        self.archives: dict[str, dict[str, Any]] = {}  # path -> {"refs", "platform"} of every `docker image save`
        self.configs: dict[str, dict[str, Any]] = {}  # image config (labels) by config digest, as archives carry it
        self.containers: dict[str, Container] = {}
        self.images: dict[str, dict[str, Any]] = {}  # reference (or ID) -> {"Id", "Config": {"Labels"}, "Size"}
        self.volumes: dict[str, dict[str, str]] = {}  # name -> labels
        self.networks: dict[str, dict[str, str]] = {"bridge": {}}
        self.manifests: dict[tuple[str, str, str], str] = {}  # (registry host, name, tag) -> digest pushed
        self.pushed: dict[str, dict[str, Any]] = {}  # digest -> the image pushed
        self.busy_ports: set[int] = set()  # held by programs that are not containers
        self.builds = 0
        self.counter = 0
        self.now = 0.0
        self.handled: list[str] = []  # the MODELLED key of every command answered, in order

    # Wiring ----------------------------------------------------------------------------------------------
    def __call__(self, argv: tuple[str, ...], stdin: str | None) -> Result | None:
        if not argv or Path(argv[0]).name != "docker":
            return None
        return self.docker(tuple(argv), stdin)

    def docker(self, argv: tuple[str, ...], stdin: str | None) -> Result:
        entry = self.lookup(argv)
        if not self.docker_up:
            return self.fail(argv, DOCKER_DOWN)
        self.handled.append(entry.key)
        handler: Callable[[tuple[str, ...], tuple[str, ...], str | None], Result] = getattr(self, entry.handler)
        return handler(argv, argv[1:], stdin)

    @staticmethod
    def lookup(argv: tuple[str, ...]) -> Modelled:
        """The MODELLED entry for ARGV (the longest prefix with this --format); UnmodelledCommand if none."""
        args = tuple(argv[1:])
        fmt = flag(args, "--format") if "--format" in args else None
        found = [m for m in _TABLE if args[: len(m.prefix)] == m.prefix and m.format == fmt]
        if not found:
            raise UnmodelledCommand(argv)
        return max(found, key=lambda m: len(m.prefix))

    @staticmethod
    def ok(argv: tuple[str, ...], out: str = "") -> Result:
        return Result(argv, 0, out, "")

    @staticmethod
    def fail(argv: tuple[str, ...], err: str, code: int = 1) -> Result:
        return Result(argv, code, "", err)

    def new_id(self) -> str:
        self.counter += 1
        return hashlib.sha256(f"world-{self.counter}".encode()).hexdigest()

    # State helpers for tests -----------------------------------------------------------------------------
    def add_image(self, ref: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
        image = {"Id": "sha256:" + self.new_id(), "Config": {"Labels": dict(labels or {})}, **extra}
        self.images[ref] = image
        return image

    def add_container(
        self,
        name: str,
        image: str = "registry:2",
        labels: dict[str, str] | None = None,
        ports: list[str] | None = None,
        *,
        networks: set[str] | None = None,
        running: bool = True,
        created: datetime | None = None,
    ) -> Container:
        """A container something else made (the image need not be present, as after `docker image rm -f`)."""
        found = self.images.get(image)
        c = Container(
            name,
            self.new_id(),
            image,
            found["Id"] if found else "sha256:" + self.new_id(),
            dict(labels or {}),
            list(ports or []),
            set(networks or {"bridge"}),
            running,
        )
        if created is not None:
            c.created = created
        c.started_at = self.now
        self.containers[name] = c
        return c

    def image(self, ref: str) -> dict[str, Any] | None:
        """The image REF names: a reference (name alone meaning name:latest), or an image ID (sha256:...)."""
        for candidate in (ref, normal_ref(ref)):
            if candidate in self.images:
                return self.images[candidate]
        if ref.startswith("sha256:"):
            return next((i for i in self.images.values() if i["Id"] == ref), None)
        return None

    def tags(self, image: dict[str, Any]) -> list[str]:
        return sorted(r for r, i in self.images.items() if i["Id"] == image["Id"] and not r.startswith("sha256:"))

    def port_taken(self, port: int, *, by: str = "") -> bool:
        if port in self.busy_ports:
            return True
        return any(
            c.running and c.name != by and any(host == port for _, host, _ in c.published())
            for c in self.containers.values()
        )

    def registry_answers(self, host: str) -> bool:
        """Whether the registry at HOST answers (a subclass knows which container serves it)."""
        return True

    def exec_program(self, argv: tuple[str, ...], c: Container, inner: tuple[str, ...], stdin: str | None) -> Result:
        """A program other than cat/cp/mkdir run by `docker exec`: `crictl inspecti IMAGE` in a kind node answers
        the ID its containerd knows the image by (``Container.image_ids``; lab/tools/kind.py). Not replayed by
        tests/contract/: that needs a kind node."""
        if inner[:2] == ("crictl", "inspecti") and len(inner) == 3:
            found = c.image_ids.get(inner[2])
            if found is None:
                return self.fail(argv, f'time="..." level=fatal msg="no such image \\"{inner[2]}\\" present"')
            return self.ok(argv, json.dumps({"status": {"id": found, "repoTags": [inner[2]]}}))
        raise UnmodelledCommand(argv, f"program {inner[0]!r} in a container")

    # The daemon ------------------------------------------------------------------------------------------
    def _version(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if flag(args, "--format") == ENGINE_FORMAT:
            return self.ok(argv, f"{self.api_version} linux/{self.arch}\n")
        return self.ok(argv, self.server_version + "\n")

    def _info(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if flag(args, "--format") == "{{.CgroupVersion}}":
            return self.ok(argv, self.cgroup + "\n")
        info = {
            "MemTotal": self.mem_total,
            "CgroupVersion": self.cgroup,
            "ServerVersion": self.server_version,
            "RegistryConfig": {"InsecureRegistryCIDRs": list(self.insecure_registries)},
        }
        return self.ok(argv, json.dumps(info) + "\n")

    def _ps(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        opts, rest = _parse_options(argv, args[1:], {"--format", "--filter"}, {"-a"})
        if rest:
            raise UnmodelledCommand(argv, "arguments")
        wanted = _label_filters(argv, args)
        rows = [c for c in self.containers.values() if ("-a" in opts or c.running) and _matches(c.labels, wanted)]
        rows.reverse()  # newest first, as `docker ps` lists them
        ports = opts["--format"][0] == "{{.Ports}}"
        return self.ok(argv, "".join((c.ports_text() if ports else c.name) + "\n" for c in rows))

    def _container_inspect(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        names = args[2:]
        if len(names) != 1 or names[0].startswith("-"):
            raise UnmodelledCommand(argv, "one container name")
        c = self.containers.get(names[0])
        if c is None:
            return Result(argv, 1, "[]\n", f"Error: No such container: {names[0]}")
        return self.ok(argv, json.dumps([c.inspect()]))

    _RUN_VALUES: frozenset[str] = frozenset(
        {
            "--name",
            "--restart",
            "--label",
            "-p",
            "--network",
            "-v",
            "-e",
            "--user",
            "--entrypoint",
            "--cap-drop",
            "--security-opt",
        }
    )

    def _run_probe(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker run --rm --network none --entrypoint python3 IMAGE -c ...` (lab/tools/pip.py)."""
        opts, rest = _parse_options(argv, args[1:], self._RUN_VALUES, {"--rm"})
        if opts.get("--entrypoint") != ["python3"] or rest[1:2] != ["-c"]:
            raise UnmodelledCommand(argv, "a one-off container other than the python3 probe")
        if self.image(rest[0]) is None:
            return self.fail(argv, f"Unable to find image '{rest[0]}' locally", 125)
        return self.ok(argv, json.dumps(self.image_python) + "\n")

    def _run(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker run -d --name N ...`: a port already published leaves the container created, not running (the
        daemon creates it, then fails to start it), as Docker does."""
        opts, rest = _parse_options(argv, args[1:], self._RUN_VALUES, {"-d", "--read-only"})
        if "--name" not in opts or not rest:
            raise UnmodelledCommand(argv, "a named container")
        image_ref, name = rest[0], opts["--name"][0]
        if name in self.containers:
            return self.fail(
                argv,
                f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use by '
                f'container "{self.containers[name].id}". You have to remove (or rename) that container to be able '
                "to reuse that name.",
                125,
            )
        image = self.image(image_ref)
        if image is None:
            return self.fail(argv, f"Unable to find image '{image_ref}' locally", 125)
        labels = {
            **((image.get("Config") or {}).get("Labels") or {}),
            **dict(v.split("=", 1) for v in opts.get("--label", [])),
        }
        networks = set(opts.get("--network", ["bridge"]))
        for net in networks:
            if net not in self.networks:
                return self.fail(argv, f"docker: Error response from daemon: network {net} not found.", 125)
        ports = opts.get("-p", [])
        c = Container(name, self.new_id(), image_ref, image["Id"], labels, ports, networks, args=argv)
        c.started_at = self.now
        c.binds = [b for b in map(Bind.mount, opts.get("-v", [])) if b is not None]
        for spec in opts.get("-v", []):  # a named volume that is not there yet is made (without labels)
            if not spec.startswith("/"):
                self.volumes.setdefault(spec.split(":", 1)[0], {})
        busy = next((spec for spec in ports if self.port_taken(int(spec.rsplit(":", 2)[1]))), None)
        self.containers[name] = c
        if busy is not None:
            c.running = False
            ip, host, _ = busy.rsplit(":", 2)
            return self.fail(
                argv,
                f"docker: Error response from daemon: Bind for {ip}:{host} failed: port is already allocated.",
                125,
            )
        return self.ok(argv, c.id + "\n")

    def _start(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 2:
            raise UnmodelledCommand(argv, "one container")
        c = self.containers.get(args[1])
        if c is None:
            return self.fail(argv, f"Error response from daemon: No such container: {args[1]}")
        for ip, host, _ in c.published():
            if self.port_taken(host, by=c.name):
                return self.fail(
                    argv, f"Error response from daemon: Bind for {ip}:{host} failed: port is already allocated"
                )
        if not c.running:
            c.running, c.started_at = True, self.now
            c.binds = [b.remount() for b in c.binds]
        return self.ok(argv, args[1] + "\n")

    def _stop(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        _opts, rest = _parse_options(argv, args[1:], {"--time"}, set())
        if len(rest) != 1:
            raise UnmodelledCommand(argv, "one container")
        c = self.containers.get(rest[0])
        if c is None:
            return self.fail(argv, f"Error response from daemon: No such container: {rest[0]}")
        c.running = False
        return self.ok(argv, rest[0] + "\n")

    def _rm(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker rm -f NAME...`: prints each name it removed; with -f a missing one is only a line on stderr, and
        the exit code stays 0 (as the daemon answers: checked by tests/contract/)."""
        _opts, names = _parse_options(argv, args[1:], set(), {"-f", "-v"})  # -v: anonymous volumes (not modelled)
        gone = [n for n in names if self.containers.pop(n, None) is not None]
        missing = [n for n in names if n not in gone]
        self.removed(gone)
        return Result(
            argv,
            0,
            "".join(n + "\n" for n in gone),
            "".join(f"Error response from daemon: No such container: {n}\n" for n in missing),
        )

    def removed(self, names: list[str]) -> None:
        """Called after `docker rm` removed NAMES (a subclass forgets what they carried)."""

    def _logs(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        _opts, rest = _parse_options(argv, args[1:], {"--tail"}, set())
        c = self.containers.get(rest[0]) if len(rest) == 1 else None
        if c is None:
            return self.fail(argv, f"Error response from daemon: No such container: {rest[0]}")
        return self.ok(argv, c.logs)

    def _exec(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        rest = args[1:]
        if rest[:1] == ("-i",):
            rest = rest[1:]
        elif rest[:1] == ("--privileged",) or (rest and rest[0].startswith("-")):
            raise UnmodelledCommand(argv, f"option {rest[0]}")
        c = self.containers.get(rest[0])
        if c is None:
            return self.fail(argv, f"Error response from daemon: No such container: {rest[0]}")
        if not c.running:
            return self.fail(argv, f"Error response from daemon: Container {c.id} is not running")
        inner = rest[1:]
        if inner[:1] == ("cat",) and len(inner) == 2:
            found = c.files.get(inner[1])
            found = found if found is not None else read_through(c.binds, inner[1])
            if found is None:
                return self.fail(argv, f"cat: {inner[1]}: No such file or directory")
            return self.ok(argv, found)
        if inner[:2] == ("cp", "/dev/stdin") and len(inner) == 3:
            c.files[inner[2]] = stdin or ""
            return self.ok(argv)
        if inner[:2] == ("mkdir", "-p"):
            return self.ok(argv)
        return self.exec_program(argv, c, inner, stdin)

    def _network_inspect(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 3:
            raise UnmodelledCommand(argv, "one network")
        if args[2] not in self.networks:
            return Result(argv, 1, "[]\n", f"Error response from daemon: network {args[2]} not found")
        return self.ok(argv, json.dumps([{"Name": args[2], "Labels": self.networks[args[2]]}]))

    def _network_connect(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 4:
            raise UnmodelledCommand(argv, "a network and a container")
        net, name = args[2], args[3]
        if net not in self.networks:
            return self.fail(argv, f"Error response from daemon: network {net} not found")
        c = self.containers.get(name)
        if c is None:
            return self.fail(argv, f"Error response from daemon: No such container: {name}")
        if net in c.networks:
            return self.fail(
                argv, f"Error response from daemon: endpoint with name {name} already exists in network {net}"
            )
        c.networks.add(net)
        return self.ok(argv)

    # Images ----------------------------------------------------------------------------------------------
    def _image_inspect(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        _opts, refs = _parse_options(argv, args[2:], {"--format"}, set())
        if len(refs) != 1:
            raise UnmodelledCommand(argv, "one image")
        image = self.image(refs[0])
        if image is None:
            return Result(argv, 1, "" if "--format" in args else "[]\n", f"Error: No such image: {refs[0]}")
        if "--format" in args:
            return self.ok(argv, image["Id"] + "\n")
        data = {k: v for k, v in image.items() if k != "Size"}
        return self.ok(argv, json.dumps([{**data, "RepoTags": self.tags(image)}]))

    def _image_ls(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        _opts, rest = _parse_options(argv, args[2:], {"--format", "--filter"}, {"--no-trunc"})
        if rest or "--no-trunc" not in args:
            raise UnmodelledCommand(argv, "`image ls --no-trunc` without arguments")
        wanted = _label_filters(argv, args)
        rows = [i["Id"] for i in self.images.values() if _matches((i.get("Config") or {}).get("Labels") or {}, wanted)]
        return self.ok(argv, "".join(r + "\n" for r in rows))

    def _image_rm(self, argv: tuple[str, ...], refs_: tuple[str, ...], stdin: str | None) -> Result:
        """`docker image rm REF...` without --force: an image a container was created from stays."""
        refs = refs_[2:]
        if any(r.startswith("-") for r in refs):
            raise UnmodelledCommand(argv, "options")
        out = []
        for ref in refs:
            image = self.image(ref)
            if image is None:
                return Result(argv, 1, "".join(out), f"Error response from daemon: No such image: {ref}")
            tags = self.tags(image)
            by_id = ref.startswith("sha256:")
            user = next((c for c in self.containers.values() if c.image_id == image["Id"]), None)
            if by_id and len(tags) > 1:
                return Result(
                    argv,
                    1,
                    "".join(out),
                    f"Error response from daemon: conflict: unable to delete {ref[7:19]} (must be forced) - image is "
                    "referenced in multiple repositories",
                )
            # Untagging one of several tags is allowed while a container uses the image; removing its last name is not.
            if user is not None and (by_id or len(tags) <= 1):
                return Result(
                    argv,
                    1,
                    "".join(out),
                    f'Error response from daemon: conflict: unable to remove repository reference "{ref}" (must '
                    f"force) - container {user.id[:12]} is using its referenced image {image['Id'][7:19]}",
                )
            if by_id:  # the image goes, with its one tag
                names = [r for r, i in self.images.items() if i["Id"] == image["Id"]]
            else:
                names = [r for r in (ref, normal_ref(ref)) if r in self.images][:1]
            for name in names:
                del self.images[name]
                out.append(f"Untagged: {name}\n" if not name.startswith("sha256:") else f"Deleted: {name}\n")
        return self.ok(argv, "".join(out))

    def _system_df(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        unique = {i["Id"]: i for i in self.images.values()}  # one image under several tags counts once
        total = human_size(sum(i.get("Size", 0) for i in unique.values()))
        rows = [{"Type": "Images", "TotalCount": str(len(unique)), "Size": total}, {"Type": "Containers"}]
        return self.ok(argv, "".join(json.dumps(r) + "\n" for r in rows))

    _BUILD_VALUES: frozenset[str] = frozenset({"-t", "-f", "--build-arg", "--label", "--network"})

    def _build(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker build --quiet -t T... [-f F] [--build-arg K=V] [--label K=V] [--no-cache] CONTEXT`: the image
        gets its base image's labels (the last FROM, build args substituted) and the --label flags."""
        opts, rest = _parse_options(argv, args[1:], self._BUILD_VALUES, {"--quiet", "--no-cache"})
        if len(rest) != 1 or "--quiet" not in opts:
            raise UnmodelledCommand(argv, "`build --quiet` of one context")
        context = Path(rest[0])
        dockerfile = Path(opts["-f"][0]) if "-f" in opts else context / "Dockerfile"
        if not dockerfile.is_file():
            return self.fail(
                argv, f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: {dockerfile}"
            )
        build_args = dict(v.split("=", 1) for v in opts.get("--build-arg", []))
        text = dockerfile.read_text().replace("\\\n", " ")
        base = self.base_image(text, build_args)
        base_labels = dict(((base or {}).get("Config") or {}).get("Labels") or {})
        # The Dockerfile's LABEL pairs `key="${ARG}"`, for the build args the command sets (app/Dockerfile's).
        from_file = {
            key: build_args[arg]
            for line in text.splitlines()
            if line.startswith("LABEL ")
            for key, arg in LABEL_PAIR.findall(line)
            if arg in build_args
        }
        self.builds += 1
        image_id = "sha256:" + self.new_id()
        labels = {**base_labels, **from_file, **dict(v.split("=", 1) for v in opts.get("--label", []))}
        image = {"Id": image_id, "Config": {"Labels": labels}, "Size": self.built_size}
        for tag in opts.get("-t", []):
            self.images[normal_ref(tag)] = image
        if not opts.get("-t"):
            self.images[image_id] = image
        return self.ok(argv, image_id + "\n")

    def base_image(self, text: str, build_args: dict[str, str]) -> dict[str, Any] | None:
        """The image the last stage of a Dockerfile builds FROM (None when it is not present: the real daemon
        would pull it; the fake builds as if it had)."""
        defaults: dict[str, str] = {}
        base = ""
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["ARG"] and len(words) > 1:
                key, _, value = words[1].partition("=")
                defaults[key] = build_args.get(key, value)
            elif words[:1] == ["FROM"] and len(words) > 1:
                base = re.sub(
                    r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), build_args.get(m.group(1), "")), words[1]
                )
        return self.image(base) if base else None

    def _tag(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 3:
            raise UnmodelledCommand(argv, "a source and a target")
        image = self.image(args[1])
        if image is None:
            return self.fail(argv, f"Error response from daemon: No such image: {args[1]}")
        self.images[normal_ref(args[2])] = image
        return self.ok(argv)

    def _push(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 2:
            raise UnmodelledCommand(argv, "one reference")
        ref = args[1]
        image = self.image(ref)
        if image is None or ref.startswith("sha256:"):
            return self.fail(argv, f"An image does not exist locally with the tag: {ref}")
        ref_obj = registry.parse_ref(normal_ref(ref))
        if not self.registry_answers(ref_obj.host):
            return self.fail(argv, f'Get "http://{ref_obj.host}/v2/": dial tcp {ref_obj.host}: connection refused')
        digest = "sha256:" + hashlib.sha256(image["Id"].encode()).hexdigest()
        self.manifests[(ref_obj.host, ref_obj.name, ref_obj.tag)] = digest
        self.pushed[digest] = image
        return self.ok(
            argv, f"The push refers to repository [{ref_obj.repository}]\n{ref_obj.tag}: digest: {digest} size: 1234\n"
        )

    def _pull(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 2:
            raise UnmodelledCommand(argv, "one reference")
        ref = normal_ref(args[1])
        try:
            parsed = registry.parse_ref(ref)
        except RegistryError:  # Docker Hub's (no registry host)
            digest = None
        else:
            digest = self.manifests.get((parsed.host, parsed.name, parsed.tag))
        held = self.pushed.get(digest) if digest else None
        if held is not None:
            self.images[ref] = held
        elif self.image(ref) is None:
            if not self.online:
                return self.fail(argv, f'Error response from daemon: Get "https://{ref}": dial tcp: no such host')
            self.add_image(ref)
        return self.ok(argv, f"Status: Downloaded newer image for {ref}\n{ref}\n")

    def _save(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker [image] save [--platform P] -o TAR REF...`: a real tar with Docker's manifest.json (Config is the
        image ID's blob, RepoTags only for references by tag: a save by digest or ID carries no name) and, for a
        single-platform save from the containerd store, an OCI index.json pointing at the platform manifest."""
        opts, refs = _parse_options(argv, args[2 if args[0] == "image" else 1 :], {"--platform", "-o"}, set())
        platform = opts.get("--platform", [None])[0]
        if platform and tuple(int(x) for x in self.api_version.split(".")) < (1, 48):
            return self.fail(
                argv, f'"--platform" requires API version 1.48, but the Docker daemon API version is {self.api_version}'
            )
        dest = Path(opts["-o"][0])
        manifest, index = [], []
        for ref in refs:
            image = self.image(ref)
            if image is None:
                return self.fail(argv, f"Error response from daemon: reference does not exist: {ref}")
            named = "@" not in ref and not ref.startswith("sha256:")
            self.configs[image["Id"]] = copy.deepcopy(image.get("Config") or {})
            manifest.append(
                {
                    "Config": "blobs/sha256/" + image["Id"].removeprefix("sha256:"),
                    "RepoTags": [normal_ref(ref)] if named else None,
                }
            )
            if self.image_store == "containerd" and platform:
                index.append({"digest": self.platform_manifest(image["Id"], platform)})
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, "w") as tar:
            for name, doc in (("manifest.json", manifest), ("index.json", {"manifests": index} if index else None)):
                if doc is not None:
                    data = json.dumps(doc).encode()
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        self.archives[str(dest)] = {"refs": refs, "platform": platform}
        return self.ok(argv)

    @staticmethod
    def platform_manifest(image_id: str, platform: str) -> str:
        return "sha256:" + hashlib.sha256(f"{image_id} {platform}".encode()).hexdigest()

    @staticmethod
    def read_archive(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with tarfile.open(path) as tar:
            docs = {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers()}  # type: ignore[arg-type]
        return docs["manifest.json"], (docs.get("index.json") or {}).get("manifests") or []

    def _load(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        """`docker load -i TAR`: the images come back under their tags, or by ID only (never by digest)."""
        _opts, rest = _parse_options(argv, args[1:], {"-i"}, set())
        if rest or "-i" not in args:
            raise UnmodelledCommand(argv, "`load -i TAR`")
        path = Path(flag(args, "-i"))
        if not path.is_file():
            return self.fail(argv, f"open {path}: no such file or directory")
        manifest, index = self.read_archive(path)
        out = []
        for i, item in enumerate(manifest):
            config = "sha256:" + item["Config"].rsplit("/", 1)[-1].removesuffix(".json")
            image_id = index[i]["digest"] if self.image_store == "containerd" and i < len(index) else config
            image = {"Id": image_id, "Config": copy.deepcopy(self.configs.get(config, {"Labels": {}}))}
            for tag in item.get("RepoTags") or []:
                self.images[tag] = image
                out.append(f"Loaded image: {tag}")
            if not item.get("RepoTags"):
                self.images.setdefault(image_id, image)
                out.append(f"Loaded image ID: {image_id}")
        return self.ok(argv, "".join(line + "\n" for line in out))

    # Volumes ---------------------------------------------------------------------------------------------
    def _volume_inspect(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 3:
            raise UnmodelledCommand(argv, "one volume")
        if args[2] not in self.volumes:
            return Result(argv, 1, "[]\n", f"Error response from daemon: get {args[2]}: no such volume")
        return self.ok(argv, json.dumps([{"Name": args[2], "Labels": self.volumes[args[2]]}]))

    def _volume_create(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        opts, rest = _parse_options(argv, args[2:], {"--label"}, set())
        if len(rest) != 1:
            raise UnmodelledCommand(argv, "one named volume")
        self.volumes.setdefault(rest[0], dict(v.split("=", 1) for v in opts.get("--label", [])))
        return self.ok(argv, rest[0] + "\n")

    def _volume_ls(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        _opts, rest = _parse_options(argv, args[2:], {"--format", "--filter"}, set())
        if rest:
            raise UnmodelledCommand(argv, "arguments")
        wanted = _label_filters(argv, args)
        return self.ok(argv, "".join(n + "\n" for n, lab in sorted(self.volumes.items()) if _matches(lab, wanted)))

    def _volume_rm(self, argv: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> Result:
        if len(args) != 3:
            raise UnmodelledCommand(argv, "one volume")
        name = args[2]
        if name not in self.volumes:
            return self.fail(argv, f"Error response from daemon: get {name}: no such volume")
        user = next(
            (c for c in self.containers.values() if any(v.split(":")[0] == name for v in _values(c.args, "-v"))), None
        )
        if user is not None:
            return self.fail(argv, f"Error response from daemon: remove {name}: volume is in use - [{user.id}]", 1)
        del self.volumes[name]
        return self.ok(argv, name + "\n")
