"""The Kubernetes objects the drift demo and the e2e suite read and change, through the official `kubernetes`
client: read and list objects of a few kinds (Deployment, ReplicaSet, Service, ConfigMap, Pod), patch one (or its
`scale` subresource), delete one. One generic ``patch`` serves every change, so a new drift kind needs no new method.

Objects are returned as the API serves them (plain dicts with camelCase keys, exactly what `kubectl get -o json`
prints), so a comparison with the rendered overlay needs no model conversion. Callers depend on the ``Cluster``
protocol; tests inject a fake of it (tests/fakes/kube.py).

Patch content types are always explicit: the generated client of `kubernetes` 37 picks the first JSON type of its
list, `application/json-patch+json`, when none is given (kubernetes/client/api/apps_v1_api.py,
`_patch_namespaced_deployment_serialize`), and a JSON patch needs a list of operations. What `kubectl` sends:
- `kubectl scale`: a merge patch of the Deployment's `scale` subresource, `{"spec": {"replicas": N}}`;
- `kubectl set image` / `kubectl set env`: a strategic merge patch, which merges `containers` and `env` by their
  `name` key (the Kubernetes API's patchMergeKey), so only the named container and variable change.

The `kubernetes` package is imported only when a client is made or an error is mapped: `invoke --list` and the
task help (which lists the drift kinds) load this module without it.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lab.core.errors import ClusterUnreachable, Conflict, LabError

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH)
REQUEST_TIMEOUT = 10.0  # seconds per API request: the lab's API server is on localhost

# kind -> (the generated API class, the snake_case name in its method names). A method is
# `<verb>_namespaced_<name>[_<subresource>]` on that class, e.g. AppsV1Api.patch_namespaced_deployment_scale.
APIS: Mapping[str, tuple[str, str]] = {
    "Deployment": ("AppsV1Api", "deployment"),
    "ReplicaSet": ("AppsV1Api", "replica_set"),
    "Service": ("CoreV1Api", "service"),
    "ConfigMap": ("CoreV1Api", "config_map"),
    "Pod": ("CoreV1Api", "pod"),
}
KINDS = tuple(APIS)
SUBRESOURCES: Mapping[str, tuple[str, ...]] = {"Deployment": ("scale",)}


class Cluster(Protocol):
    """What the demo and the e2e suite need from a cluster. Errors are LabErrors (see ``wrap``)."""

    context: str

    def version(self) -> str:
        """The API server's version (`v1.36.1`): proves the cluster answers."""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        """Objects of KIND in NAMESPACE matching LABEL_SELECTOR (`key=value,...`)."""

    def patch(self, kind: str, namespace: str, name: str, body: Obj, *, patch_type: str, subresource: str = "") -> None:
        """Patch an object (or its SUBRESOURCE, e.g. a Deployment's `scale`) with BODY, sent as PATCH_TYPE
        (MERGE_PATCH or STRATEGIC_MERGE_PATCH). Conflict when it does not exist."""

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object; absent is fine."""


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Patch:
    """A patch, as data: sent with ``send``, shown with ``api_call``."""

    kind: str
    namespace: str
    name: str
    body: Obj
    patch_type: str
    subresource: str = ""

    def send(self, cluster: Cluster) -> None:
        cluster.patch(
            self.kind, self.namespace, self.name, self.body, patch_type=self.patch_type, subresource=self.subresource
        )

    def api_call(self) -> str:
        """The Python client call, e.g. `AppsV1Api.patch_namespaced_deployment_scale('lab-app', 'lab-dev', {...},
        _content_type='application/merge-patch+json')`."""
        return (
            f"{method_name('patch', self.kind, self.subresource)}({self.name!r}, {self.namespace!r},"
            f" {json.dumps(self.body)}, _content_type={self.patch_type!r})"
        )


@dataclass(frozen=True)
class Delete:
    """A delete, as data."""

    kind: str
    namespace: str
    name: str

    def send(self, cluster: Cluster) -> None:
        cluster.delete(self.kind, self.namespace, self.name)

    def api_call(self) -> str:
        return f"{method_name('delete', self.kind)}({self.name!r}, {self.namespace!r})"


Request = Patch | Delete


def method_name(verb: str, kind: str, subresource: str = "") -> str:
    """`AppsV1Api.patch_namespaced_deployment_scale`: the generated client's method for VERB on KIND."""
    api, snake = APIS[known(kind)]
    if subresource and subresource not in SUBRESOURCES.get(kind, ()):
        raise ValueError(f"lab.clients.kube handles the subresources {dict(SUBRESOURCES)}, not {kind}/{subresource}")
    return f"{api}.{verb}_namespaced_{snake}" + (f"_{subresource}" if subresource else "")


def known(kind: str) -> str:
    if kind not in APIS:
        raise ValueError(f"lab.clients.kube handles {', '.join(KINDS)}, not {kind}")
    return kind


# ---------------------------------------------------------------------------------------------- the same, for humans


def kubectl(context: str, namespace: str, *args: str) -> str:
    """A pasteable kubectl command against the lab's cluster."""
    return shlex.join(["kubectl", "--context", context, "-n", namespace, *args])


# ---------------------------------------------------------------------------------------------- errors


def wrap(exc: Exception, verb: str, what: str) -> LabError:
    """A LabError for a failed API call (chain the original with `raise ... from exc`)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = exc.status or 0
        reason = f"{status} {exc.reason or ''}".strip()
        if status == 404:
            return Conflict(
                f"{what} does not exist ({verb})", hint="is the lab up and the app deployed? `invoke status`"
            )
        if status in (401, 403):
            return ClusterUnreachable(
                f"the Kubernetes API refused to {verb} {what} ({reason})",
                hint="check the kubeconfig context the lab uses (`kubectl config get-contexts`)",
            )
        if status == 0 or status >= 500:
            return ClusterUnreachable(
                f"the Kubernetes API failed to {verb} {what} ({reason})", hint="is the cluster running? `invoke status`"
            )
        return Conflict(f"the Kubernetes API rejected {verb} {what}: {reason} {_api_message(exc)}".rstrip())
    return ClusterUnreachable(
        f"cannot reach the Kubernetes API to {verb} {what}: {exc}", hint="is the cluster running? `invoke up` starts it"
    )


def _api_message(exc: Any) -> str:
    """The Status object's message, when the body carries one."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def client_errors() -> tuple[type[Exception], ...]:
    """What the `kubernetes` client raises: API errors, transport errors, socket errors."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return (ApiException, urllib3.exceptions.HTTPError, OSError)


def _status(exc: LabError) -> int:
    """The HTTP status of the API error behind a wrapped LabError (0 for anything else)."""
    return int(getattr(exc.__cause__, "status", 0) or 0)


# ---------------------------------------------------------------------------------------------- the real cluster


@dataclass
class KubernetesCluster:
    """``Cluster`` over kubernetes.client (AppsV1Api, CoreV1Api, VersionApi) for one kubeconfig context."""

    context: str
    apps: Any  # kubernetes.client.AppsV1Api
    core: Any  # kubernetes.client.CoreV1Api
    versions: Any  # kubernetes.client.VersionApi

    @classmethod
    def from_kubeconfig(cls, context: str, *, config_file: str | None = None) -> KubernetesCluster:
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(config_file=config_file, context=context)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise ClusterUnreachable(
                f"no usable kubeconfig context {context!r}: {exc}", hint="run `invoke up` to create the cluster"
            ) from exc
        return cls(context, client.AppsV1Api(api_client), client.CoreV1Api(api_client), client.VersionApi(api_client))

    def _call(self, verb: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except client_errors() as exc:
            raise wrap(exc, verb, what) from exc

    def _json(self, verb: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """Call with `_preload_content=False` and decode the body: the object exactly as the API serves it."""
        response = self._call(verb, what, fn, *args, _preload_content=False, **kwargs)
        data = json.loads(response.data)
        if not isinstance(data, dict):
            raise Conflict(f"the Kubernetes API answered {verb} {what} with {type(data).__name__}, not an object")
        return data

    def _method(self, verb: str, kind: str, subresource: str = "") -> Callable[..., Any]:
        api, name = method_name(verb, kind, subresource).split(".")
        return getattr(self.apps if api == "AppsV1Api" else self.core, name)  # type: ignore[no-any-return]

    def version(self) -> str:
        info = self._call("read", "the server version", self.versions.get_code)
        return str(getattr(info, "git_version", "") or "")

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        what = f"{kind} {namespace}/{name}"
        try:
            return self._json("read", what, self._method("read", kind), name, namespace)
        except Conflict as exc:
            if _status(exc) == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        lister = self._method("list", kind)
        body = self._json("list", f"{kind}s in {namespace}", lister, namespace, label_selector=label_selector)
        items = body.get("items") or []
        for item in items:  # list items carry no kind/apiVersion of their own
            item.setdefault("kind", kind)
        return list(items)

    def patch(self, kind: str, namespace: str, name: str, body: Obj, *, patch_type: str, subresource: str = "") -> None:
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"lab.clients.kube sends {', '.join(PATCH_TYPES)}, not {patch_type}")
        self._call(
            subresource or "patch",
            f"{kind} {namespace}/{name}",
            self._method("patch", kind, subresource),
            name,
            namespace,
            body,
            _content_type=patch_type,
            _preload_content=False,
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        what = f"{kind} {namespace}/{name}"
        try:
            self._call("delete", what, self._method("delete", kind), name, namespace, _preload_content=False)
        except Conflict as exc:
            if _status(exc) == 404:
                return
            raise


# ---------------------------------------------------------------------------------------------- a dry run's cluster


@dataclass
class RecordingCluster:
    """``Cluster`` for a dry run: reads are answered from ``objects`` (what the caller assumes runs), every request
    is recorded in ``calls`` and handed to ``show`` as the client call; nothing is sent, nothing changes."""

    context: str
    objects: Mapping[tuple[str, str, str], Obj]  # (kind, namespace, name) -> object
    show: Callable[[str], None]
    calls: list[str] = field(default_factory=list)

    def _record(self, call: str) -> None:
        self.calls.append(call)
        self.show(call)

    def version(self) -> str:
        self._record("VersionApi.get_code()")
        return ""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self._record(f"{method_name('read', kind)}({name!r}, {namespace!r})")
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        self._record(f"{method_name('list', kind)}({namespace!r}, label_selector={label_selector!r})")
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if (k, ns) == (kind, namespace) and matches(obj, label_selector)
        ]

    def patch(self, kind: str, namespace: str, name: str, body: Obj, *, patch_type: str, subresource: str = "") -> None:
        self._record(Patch(kind, namespace, name, body, patch_type, subresource).api_call())

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._record(Delete(kind, namespace, name).api_call())


# ---------------------------------------------------------------------------------------------- reading objects


def container(deployment: Obj, name: str) -> Obj | None:
    """A container of a Deployment's (or ReplicaSet's, or Pod template's) pod spec, by name."""
    spec = deployment.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or spec  # a Pod has the containers right in spec
    return next((c for c in pod.get("containers") or [] if c.get("name") == name), None)


def env_value(container_obj: Obj | None, var: str) -> str | None:
    """The literal value of env var VAR of a container (None if unset or not a literal)."""
    if container_obj is None:
        return None
    entry = next((e for e in container_obj.get("env") or [] if e.get("name") == var), None)
    return None if entry is None or "value" not in entry else str(entry["value"])


def pod_ready(pod: Obj) -> bool:
    """True when the Pod's Ready condition is True (the kubelet's readiness verdict)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_image_ids(pod: Obj) -> list[str]:
    """`status.containerStatuses[].imageID` of a Pod: the image the node actually runs, by digest
    (containerd reports `<repository>@sha256:...` for images pulled from a registry)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return [str(s.get("imageID", "")) for s in statuses if s.get("imageID")]


def matches(obj: Obj, label_selector: str) -> bool:
    """Whether OBJ's labels satisfy an equality-based LABEL_SELECTOR (`a=b,c=d`; empty matches everything)."""
    wanted = dict(pair.split("=", 1) for pair in label_selector.split(",") if pair)
    return wanted.items() <= ((obj.get("metadata") or {}).get("labels") or {}).items()


def selector(labels: Mapping[str, str]) -> str:
    """A label selector string from a mapping: `a=b,c=d`."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
