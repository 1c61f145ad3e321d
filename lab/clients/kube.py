"""The few Kubernetes objects the drift demo and the e2e suite read and change, through the official `kubernetes`
client: read a Deployment / ReplicaSet / Service / ConfigMap / Pod, scale a Deployment, set a container's image or
an env var, delete a Service.

Objects are returned as the API serves them (plain dicts with camelCase keys, exactly what `kubectl get -o json`
prints), so a comparison with the rendered overlay needs no model conversion. Callers depend on the ``Cluster``
protocol; tests inject an in-memory fake.

Patch content types are always explicit: the generated client of `kubernetes` 37 picks the first JSON type of its
list, `application/json-patch+json`, when none is given (kubernetes/client/api/apps_v1_api.py,
`_patch_namespaced_deployment_serialize`), and a JSON patch needs a list of operations. What `kubectl` sends:
- `kubectl scale`: a merge patch of the Deployment's `scale` subresource, `{"spec": {"replicas": N}}`;
- `kubectl set image` / `kubectl set env`: a strategic merge patch, which merges `containers` and `env` by their
  `name` key (the Kubernetes API's patchMergeKey), so only the named container and variable change.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

from lab.core.errors import ClusterUnreachable, Conflict, LabError

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
REQUEST_TIMEOUT = 10.0  # seconds per API request: the lab's API server is on localhost
KINDS = ("Deployment", "ReplicaSet", "Service", "ConfigMap", "Pod")


class Cluster(Protocol):
    """What the demo and the e2e suite need from a cluster. Errors are LabErrors (see ``wrap``)."""

    context: str

    def version(self) -> str:
        """The API server's version (`v1.36.1`): proves the cluster answers."""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        """Objects of KIND in NAMESPACE matching LABEL_SELECTOR (`key=value,...`)."""

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set a Deployment's replicas (as `kubectl scale`)."""

    def set_image(self, namespace: str, name: str, container: str, image: str) -> None:
        """Set one container's image in a Deployment's pod template (as `kubectl set image`)."""

    def set_env(self, namespace: str, name: str, container: str, var: str, value: str) -> None:
        """Set or replace one env var of a container in a Deployment's pod template (as `kubectl set env`)."""

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object; absent is fine."""


# ---------------------------------------------------------------------------------------------- patches


def scale_patch(replicas: int) -> Obj:
    return {"spec": {"replicas": replicas}}


def image_patch(container: str, image: str) -> Obj:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def env_patch(container: str, var: str, value: str) -> Obj:
    env = [{"name": var, "value": value}]
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "env": env}]}}}}


# ---------------------------------------------------------------------------------------------- the same, for humans


def kubectl(context: str, namespace: str, *args: str) -> str:
    """A pasteable kubectl command against the lab's cluster."""
    return shlex.join(["kubectl", "--context", context, "-n", namespace, *args])


def kubectl_scale(context: str, namespace: str, name: str, replicas: int) -> str:
    return kubectl(context, namespace, "scale", f"deployment/{name}", f"--replicas={replicas}")


def kubectl_set_image(context: str, namespace: str, name: str, container: str, image: str) -> str:
    return kubectl(context, namespace, "set", "image", f"deployment/{name}", f"{container}={image}")


def kubectl_set_env(context: str, namespace: str, name: str, container: str, var: str, value: str) -> str:
    return kubectl(context, namespace, "set", "env", f"deployment/{name}", "-c", container, f"{var}={value}")


def kubectl_delete(context: str, namespace: str, kind: str, name: str) -> str:
    return kubectl(context, namespace, "delete", f"{kind.lower()}/{name}")


# ---------------------------------------------------------------------------------------------- errors


def wrap(exc: Exception, verb: str, what: str) -> LabError:
    """A LabError for a failed API call (chain the original with `raise ... from exc`)."""
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


def _api_message(exc: ApiException) -> str:
    """The Status object's message, when the body carries one."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


CLIENT_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


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
        except CLIENT_ERRORS as exc:
            raise wrap(exc, verb, what) from exc

    def _json(self, verb: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """Call with `_preload_content=False` and decode the body: the object exactly as the API serves it."""
        response = self._call(verb, what, fn, *args, _preload_content=False, **kwargs)
        data = json.loads(response.data)
        if not isinstance(data, dict):
            raise Conflict(f"the Kubernetes API answered {verb} {what} with {type(data).__name__}, not an object")
        return data

    def version(self) -> str:
        info = self._call("read", "the server version", self.versions.get_code)
        return str(getattr(info, "git_version", "") or "")

    def _reader(self, kind: str) -> Callable[..., Any]:
        readers: Mapping[str, Callable[..., Any]] = {
            "Deployment": self.apps.read_namespaced_deployment,
            "ReplicaSet": self.apps.read_namespaced_replica_set,
            "Service": self.core.read_namespaced_service,
            "ConfigMap": self.core.read_namespaced_config_map,
            "Pod": self.core.read_namespaced_pod,
        }
        return readers[_known(kind)]

    def _lister(self, kind: str) -> Callable[..., Any]:
        listers: Mapping[str, Callable[..., Any]] = {
            "Deployment": self.apps.list_namespaced_deployment,
            "ReplicaSet": self.apps.list_namespaced_replica_set,
            "Service": self.core.list_namespaced_service,
            "ConfigMap": self.core.list_namespaced_config_map,
            "Pod": self.core.list_namespaced_pod,
        }
        return listers[_known(kind)]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        what = f"{kind} {namespace}/{name}"
        try:
            return self._json("read", what, self._reader(kind), name, namespace)
        except Conflict as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        body = self._json(
            "list", f"{kind}s in {namespace}", self._lister(kind), namespace, label_selector=label_selector
        )
        items = body.get("items") or []
        for item in items:  # list items carry no kind/apiVersion of their own
            item.setdefault("kind", kind)
        return list(items)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self._call(
            "scale",
            f"Deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            scale_patch(replicas),
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )

    def _patch_deployment(self, namespace: str, name: str, body: Obj) -> None:
        self._call(
            "patch",
            f"Deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,
            _content_type=STRATEGIC_MERGE_PATCH,
            _preload_content=False,
        )

    def set_image(self, namespace: str, name: str, container: str, image: str) -> None:
        self._patch_deployment(namespace, name, image_patch(container, image))

    def set_env(self, namespace: str, name: str, container: str, var: str, value: str) -> None:
        self._patch_deployment(namespace, name, env_patch(container, var, value))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        deleters: Mapping[str, Callable[..., Any]] = {
            "Service": self.core.delete_namespaced_service,
            "ConfigMap": self.core.delete_namespaced_config_map,
            "Pod": self.core.delete_namespaced_pod,
            "Deployment": self.apps.delete_namespaced_deployment,
            "ReplicaSet": self.apps.delete_namespaced_replica_set,
        }
        what = f"{kind} {namespace}/{name}"
        try:
            self._call("delete", what, deleters[_known(kind)], name, namespace, _preload_content=False)
        except Conflict as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
                return
            raise


def _known(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"lab.clients.kube handles {', '.join(KINDS)}, not {kind}")
    return kind


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


def selector(labels: Mapping[str, str]) -> str:
    """A label selector string from a mapping: `a=b,c=d`."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
