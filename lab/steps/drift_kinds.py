"""The drift kinds of `invoke demo-drift`: one ``DriftKind`` entry per hand-made change.

A kind says what it changes (a field of one object that git sets), how to read that field from an object (the
rendered overlay or the live one), and how to make the change: a generic Kubernetes request (lab.clients.kube.Patch or
Delete) plus the kubectl command a learner would type. Adding a kind is one entry in KINDS (and its test and doc
line: tests/unit/test_drift_kinds.py checks that docs/drift-and-rollback.md and the task help list every kind).

No Kubernetes client is imported here: tasks.py reads the names and help texts at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lab.clients import kube
from lab.clients.kube import Cluster, Obj
from lab.core import names
from lab.core.config import Environment
from lab.core.errors import ConfigError

APP = names.APP_NAME  # Deployment and Service of every overlay
CONTAINER = "app"  # the container in overlays/base/deployment.yaml
HAND_TAG = "hotfix-by-hand"  # a tag no pipeline ever pushes: its pods cannot pull it
ENV_VAR = "PORT"  # the one env var the base Deployment sets on the container (the rest come from a ConfigMap)
ENV_VALUE = "8001"  # git says 8000: the new pod listens where no probe looks, so it never becomes ready
GIT_PORT = "8000"  # PORT in overlays/base/deployment.yaml, when the rendered overlay is not at hand
SCALE_BY = 2


@dataclass(frozen=True)
class Sizing:
    """What a kind sizes its change from: the environment, the rendered overlay's object (None when git renders
    none), the kubeconfig context for the kubectl line and the image repository the cluster pulls from."""

    env: Environment
    desired: Obj | None
    context: str
    image_repo: str


class Made(NamedTuple):
    desired: str  # the field's value in git
    drifted: str  # its value after the change
    description: str
    kubectl: str
    request: kube.Request


@dataclass(frozen=True)
class Change:
    """One planned hand-made change: what it does, the request that does it, and the field it alters."""

    kind: str  # the DriftKind's name
    resource: str  # Deployment | Service
    namespace: str
    name: str
    description: str
    kubectl: str  # the same change as a kubectl command
    request: kube.Request  # what the demo sends
    path: str  # the field git sets that the change alters
    desired: str  # its value in git
    drifted: str  # its value after the change
    value_of: Callable[[Obj | None], str] = field(compare=False, repr=False)

    @property
    def api_call(self) -> str:
        """The Python client call the demo makes."""
        return self.request.api_call()

    def read(self, cluster: Cluster) -> str:
        """The field's live value now, rendered like ``desired`` / ``drifted``."""
        return self.value_of(cluster.get(self.resource, self.namespace, self.name))

    def apply(self, cluster: Cluster) -> None:
        self.request.send(cluster)


@dataclass(frozen=True)
class DriftKind:
    name: str
    help: str  # the change in a few words (task help, docs)
    happens: str  # what the learner sees happen (docs)
    resource: str  # the kind of object changed: Deployment | Service
    path: str  # the field git sets that the change alters
    value_of: Callable[[Obj | None], str]  # that field of an object (rendered or live), as text
    make: Callable[[Sizing], Made]  # the change, sized from the rendered object
    lesson: str = ""  # one more line for step 5, when the kind teaches something of its own

    def plan(self, sizing: Sizing) -> Change:
        made = self.make(sizing)
        return Change(
            kind=self.name,
            resource=self.resource,
            namespace=sizing.env.namespace,
            name=APP,
            description=made.description,
            kubectl=made.kubectl,
            request=made.request,
            path=self.path,
            desired=made.desired,
            drifted=made.drifted,
            value_of=self.value_of,
        )


# ---------------------------------------------------------------------------------------------- the fields


def _container(obj: Obj | None) -> Obj | None:
    return kube.container(obj, CONTAINER) if obj is not None else None


def replicas(obj: Obj | None) -> str:
    return "(no Deployment)" if obj is None else str((obj.get("spec") or {}).get("replicas", ""))


def image(obj: Obj | None) -> str:
    return "(no Deployment)" if obj is None else str((_container(obj) or {}).get("image", ""))


def env_var(obj: Obj | None) -> str:
    if obj is None:
        return "(no Deployment)"
    value = kube.env_value(_container(obj), ENV_VAR)
    return "(unset)" if value is None else value


def presence(obj: Obj | None) -> str:
    return "present" if obj is not None else "deleted"


# ---------------------------------------------------------------------------------------------- the changes
# Each takes the sizing and returns what git says (from the rendered object, or what the overlays set when git
# renders none, as in a dry run without the GitOps repo) and the change.


def _scale(s: Sizing) -> Made:
    spec = (s.desired or {}).get("spec") or {}
    current = int(spec.get("replicas", s.env.replicas))
    target = current + SCALE_BY
    request = kube.Patch("Deployment", s.env.namespace, APP, {"spec": {"replicas": target}}, kube.MERGE_PATCH, "scale")
    kubectl = kube.kubectl(s.context, s.env.namespace, "scale", f"deployment/{APP}", f"--replicas={target}")
    return Made(
        str(current), str(target), f"scale Deployment {APP} from {current} to {target} replicas", kubectl, request
    )


def repository(reference: str) -> str:
    """`host/name` of `host/name:tag@digest`."""
    rest = reference.split("@", 1)[0]
    head, _, last = rest.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _image(s: Sizing) -> Made:
    box = _container(s.desired)
    current = str((box or {}).get("image") or f"{s.image_repo}:TAG")
    new = f"{repository(current) if box else s.image_repo}:{HAND_TAG}"
    body = {"spec": {"template": {"spec": {"containers": [{"name": CONTAINER, "image": new}]}}}}
    request = kube.Patch("Deployment", s.env.namespace, APP, body, kube.STRATEGIC_MERGE_PATCH)
    kubectl = kube.kubectl(s.context, s.env.namespace, "set", "image", f"deployment/{APP}", f"{CONTAINER}={new}")
    return Made(
        current, new, f"set the image of container {CONTAINER} to {new} (a tag no pipeline pushed)", kubectl, request
    )


def _env(s: Sizing) -> Made:
    current = kube.env_value(_container(s.desired), ENV_VAR) or GIT_PORT
    box = {"name": CONTAINER, "env": [{"name": ENV_VAR, "value": ENV_VALUE}]}
    request = kube.Patch(
        "Deployment",
        s.env.namespace,
        APP,
        {"spec": {"template": {"spec": {"containers": [box]}}}},
        kube.STRATEGIC_MERGE_PATCH,
    )
    kubectl = kube.kubectl(
        s.context, s.env.namespace, "set", "env", f"deployment/{APP}", "-c", CONTAINER, f"{ENV_VAR}={ENV_VALUE}"
    )
    what = f"set env {ENV_VAR}={ENV_VALUE} on container {CONTAINER} (git says {current})"
    return Made(current, ENV_VALUE, what, kubectl, request)


def _delete(s: Sizing) -> Made:
    request = kube.Delete("Service", s.env.namespace, APP)
    kubectl = kube.kubectl(s.context, s.env.namespace, "delete", f"service/{APP}")
    what = f"delete Service {APP} (http://127.0.0.1:{s.env.host_port} stops answering)"
    return Made("present", "deleted", what, kubectl, request)


KINDS: tuple[DriftKind, ...] = (
    DriftKind(
        "scale",
        "scale the Deployment to git's replicas + 2",
        "extra pods start; dev scales back",
        "Deployment",
        "spec.replicas",
        replicas,
        _scale,
    ),
    DriftKind(
        "image",
        f"set the app container's image to the tag {HAND_TAG}",
        "the new pod cannot pull that tag; `maxUnavailable: 0` keeps the old pods serving",
        "Deployment",
        f"spec.template.spec.containers[name={CONTAINER}].image",
        image,
        _image,
        lesson="The new pod could not pull its image, yet nothing broke: maxUnavailable 0 kept the old pods serving.",
    ),
    DriftKind(
        "delete",
        "delete the Service",
        "`http://127.0.0.1:808x` stops answering until the Service is back",
        "Service",
        "(object)",
        presence,
        _delete,
    ),
    DriftKind(
        "env",
        f"set env {ENV_VAR}={ENV_VALUE} on the app container (git sets {GIT_PORT})",
        "the new pod listens where no probe looks and never becomes ready; the old pods keep serving",
        "Deployment",
        f"spec.template.spec.containers[name={CONTAINER}].env[name={ENV_VAR}].value",
        env_var,
        _env,
        lesson=f"Argo CD compares the fields git sets. {ENV_VAR} is one; an env var git does not set, added by hand,"
        " would not show as drift at all (argo-cd issue 4537).",
    ),
)
NAMES = tuple(k.name for k in KINDS)
DEFAULT = NAMES[0]


def kind(name: str) -> DriftKind:
    for entry in KINDS:
        if entry.name == name:
            return entry
    raise ConfigError(f"unknown change {name!r}", hint=f"valid changes: {', '.join(NAMES)}")


def next_kind(name: str) -> str:
    return NAMES[(NAMES.index(name) + 1) % len(NAMES)]


def task_help() -> str:
    """The `--change` help of `invoke demo-drift`."""
    return "what to change by hand: " + ", ".join(f"{k.name}{' (default)' if k.name == DEFAULT else ''}" for k in KINDS)


def find(docs: Sequence[Obj], kind_: str, name: str) -> Obj | None:
    return next((d for d in docs if d.get("kind") == kind_ and (d.get("metadata") or {}).get("name") == name), None)


def plan_change(env: Environment, change: str, desired: Sequence[Obj], *, context: str, image_repo: str) -> Change:
    """The hand-made change CHANGE, sized from the desired state (the rendered overlay)."""
    entry = kind(change)
    return entry.plan(Sizing(env, find(desired, entry.resource, APP), context, image_repo))


def docs_table(env: Environment) -> list[str]:
    """The `--change` table of docs/drift-and-rollback.md (tests/unit/test_drift_kinds.py keeps the two equal):
    each kind's help, its kubectl line in ENV as sized from nothing rendered (context and namespace left out)."""
    rows = ["| `--change` | what the demo does | the same in kubectl (dev) | what happens |", "|---|---|---|---|"]
    for entry in KINDS:
        plan = entry.plan(Sizing(env, None, "CONTEXT", "localhost:5001/lab-app"))
        command = plan.kubectl.replace(f" --context CONTEXT -n {env.namespace}", "")
        default = " (default)" if entry.name == DEFAULT else ""
        rows.append(f"| `{entry.name}`{default} | {entry.help} | `{command}` | {entry.happens} |")
    return rows
