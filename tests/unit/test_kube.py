"""lab.clients.kube against a recording HTTP server on 127.0.0.1 that answers like the Kubernetes API: the real
`kubernetes` client builds every request, so what is checked is what goes over the wire (method, path, patch
content type, body) and how answers and errors come back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from kubernetes import client

from lab.clients import kube
from lab.core.errors import ClusterUnreachable, Conflict

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "lab-app", "namespace": "lab-dev"},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {"containers": [{"name": "app", "image": "x:1", "env": [{"name": "PORT", "value": "8000"}]}]}
        },
    },
}
VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.1",
    "gitCommit": "abc",
    "gitTreeState": "clean",
    "buildDate": "2026-04-01T00:00:00Z",
    "goVersion": "go1.26",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass
class Request:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class FakeApiServer:
    """Answers (method, path without query) from ``routes`` with (status, JSON); 404 Status otherwise."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                server.requests.append(
                    Request(
                        self.command, self.path, self.headers.get("Content-Type", ""), json.loads(raw) if raw else None
                    )
                )
                status, payload = server.routes.get(
                    (self.command, path),
                    (
                        404,
                        {"kind": "Status", "status": "Failure", "reason": "NotFound", "message": f"{path} not found"},
                    ),
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    fake = FakeApiServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def cluster_for(fake: FakeApiServer) -> kube.KubernetesCluster:
    config = client.Configuration(host=f"http://127.0.0.1:{fake.port}")
    config.retries = 0
    api_client = client.ApiClient(config)
    return kube.KubernetesCluster(
        "kind-gitops-lab", client.AppsV1Api(api_client), client.CoreV1Api(api_client), client.VersionApi(api_client)
    )


DEPLOY_PATH = "/apis/apps/v1/namespaces/lab-dev/deployments/lab-app"


def test_reads_return_the_object_as_served_and_none_when_absent(api: FakeApiServer) -> None:
    api.routes[("GET", DEPLOY_PATH)] = (200, DEPLOYMENT)
    api.routes[("GET", "/api/v1/namespaces/lab-dev/pods")] = (
        200,
        {"kind": "PodList", "items": [{"metadata": {"name": "p"}}]},
    )
    api.routes[("GET", "/version/")] = (200, VERSION)
    cluster = cluster_for(api)
    assert cluster.get("Deployment", "lab-dev", "lab-app") == DEPLOYMENT
    assert cluster.get("Service", "lab-dev", "lab-app") is None
    assert cluster.list("Pod", "lab-dev", "app.kubernetes.io/name=lab-app") == [
        {"metadata": {"name": "p"}, "kind": "Pod"}
    ]
    path, _, query = api.requests[-1].path.partition("?")
    assert (path, parse_qs(query)) == (
        "/api/v1/namespaces/lab-dev/pods",
        {"labelSelector": ["app.kubernetes.io/name=lab-app"]},
    )
    assert cluster.version() == "v1.36.1"


def test_changes_use_the_patch_types_kubectl_uses(api: FakeApiServer) -> None:
    api.routes[("PATCH", DEPLOY_PATH + "/scale")] = (200, {"kind": "Scale"})
    api.routes[("PATCH", DEPLOY_PATH)] = (200, DEPLOYMENT)
    api.routes[("DELETE", "/api/v1/namespaces/lab-dev/services/lab-app")] = (200, {"kind": "Status"})
    cluster = cluster_for(api)
    image = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": "localhost:5001/lab-app:hotfix-by-hand"}]}}
        }
    }
    env = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "PORT", "value": "8001"}]}]}}}
    }
    cluster.patch(
        "Deployment", "lab-dev", "lab-app", {"spec": {"replicas": 3}}, patch_type=kube.MERGE_PATCH, subresource="scale"
    )
    kube.Patch("Deployment", "lab-dev", "lab-app", image, kube.STRATEGIC_MERGE_PATCH).send(cluster)
    cluster.patch("Deployment", "lab-dev", "lab-app", env, patch_type=kube.STRATEGIC_MERGE_PATCH)
    kube.Delete("Service", "lab-dev", "lab-app").send(cluster)
    cluster.delete("Service", "lab-dev", "gone")  # absent: fine
    assert [(r.method, r.path.split("?")[0], r.content_type, r.body) for r in api.requests] == [
        ("PATCH", DEPLOY_PATH + "/scale", "application/merge-patch+json", {"spec": {"replicas": 3}}),
        (
            "PATCH",
            DEPLOY_PATH,
            "application/strategic-merge-patch+json",
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "image": "localhost:5001/lab-app:hotfix-by-hand"}]}
                    }
                }
            },
        ),
        (
            "PATCH",
            DEPLOY_PATH,
            "application/strategic-merge-patch+json",
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "env": [{"name": "PORT", "value": "8001"}]}]}}
                }
            },
        ),
        ("DELETE", "/api/v1/namespaces/lab-dev/services/lab-app", "", None),
        ("DELETE", "/api/v1/namespaces/lab-dev/services/gone", "", None),
    ]


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (403, ClusterUnreachable, "refused to scale Deployment lab-dev/lab-app (403"),
        (503, ClusterUnreachable, "failed to scale Deployment lab-dev/lab-app (503"),
        (422, Conflict, "rejected scale Deployment lab-dev/lab-app: 422"),
        (404, Conflict, "Deployment lab-dev/lab-app does not exist (scale)"),
    ],
)
def test_api_errors_become_lab_errors_with_the_cause_chained(
    api: FakeApiServer, status: int, error: type[Exception], text: str
) -> None:
    api.routes[("PATCH", DEPLOY_PATH + "/scale")] = (
        status,
        {"kind": "Status", "message": "spec.replicas: Invalid value"},
    )
    with pytest.raises(error) as err:
        cluster_for(api).patch(
            "Deployment",
            "lab-dev",
            "lab-app",
            {"spec": {"replicas": -1}},
            patch_type=kube.MERGE_PATCH,
            subresource="scale",
        )
    assert text in str(err.value)
    assert isinstance(err.value.__cause__, client.exceptions.ApiException)
    if status == 422:
        assert "spec.replicas: Invalid value" in str(err.value)


def test_nothing_listening_is_cluster_unreachable() -> None:
    config = client.Configuration(host="http://127.0.0.1:9")  # discard port: nothing answers
    config.retries = 0
    api_client = client.ApiClient(config)
    cluster = kube.KubernetesCluster(
        "c", client.AppsV1Api(api_client), client.CoreV1Api(api_client), client.VersionApi(api_client)
    )
    with pytest.raises(ClusterUnreachable, match="cannot reach the Kubernetes API to read Deployment lab-dev/lab-app"):
        cluster.get("Deployment", "lab-dev", "lab-app")


def test_from_kubeconfig_uses_the_named_context_and_refuses_a_missing_one(api: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": f"http://127.0.0.1:{api.port}"}}],
                "users": [{"name": "lab", "user": {"token": "t"}}],
                "contexts": [{"name": "kind-gitops-lab", "context": {"cluster": "lab", "user": "lab"}}],
                "current-context": "kind-gitops-lab",
            }
        )
    )
    api.routes[("GET", "/version/")] = (200, VERSION)
    assert kube.KubernetesCluster.from_kubeconfig("kind-gitops-lab", config_file=str(kubeconfig)).version() == "v1.36.1"
    with pytest.raises(ClusterUnreachable, match="no usable kubeconfig context 'kind-other'"):
        kube.KubernetesCluster.from_kubeconfig("kind-other", config_file=str(kubeconfig))


def test_object_helpers() -> None:
    box = kube.container(DEPLOYMENT, "app")
    assert box is not None and kube.env_value(box, "PORT") == "8000" and kube.env_value(box, "X") is None
    assert kube.container(DEPLOYMENT, "other") is None
    pod = {
        "spec": {"containers": [{"name": "app"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"imageID": "localhost:5001/lab-app@sha256:ab"}],
        },
    }
    assert kube.container(pod, "app") == {"name": "app"}
    assert kube.pod_ready(pod) and not kube.pod_ready(
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    assert kube.pod_image_ids(pod) == ["localhost:5001/lab-app@sha256:ab"]
    assert kube.selector({"b": "2", "a": "1"}) == "a=1,b=2"
    assert kube.matches({"metadata": {"labels": {"a": "1", "b": "2"}}}, "a=1") and not kube.matches({}, "a=1")
    assert kube.kubectl("kind-gitops-lab", "lab-dev", "scale", "deployment/lab-app", "--replicas=3") == (
        "kubectl --context kind-gitops-lab -n lab-dev scale deployment/lab-app --replicas=3"
    )


def test_a_kind_subresource_or_patch_type_the_client_does_not_handle_is_refused_before_any_request(
    api: FakeApiServer,
) -> None:
    cluster = cluster_for(api)
    with pytest.raises(ValueError, match="not Secret"):
        cluster.get("Secret", "lab-dev", "x")
    with pytest.raises(ValueError, match="not Service/scale"):
        cluster.patch("Service", "lab-dev", "lab-app", {}, patch_type=kube.MERGE_PATCH, subresource="scale")
    with pytest.raises(ValueError, match="not application/json-patch"):
        cluster.patch("Deployment", "lab-dev", "lab-app", {}, patch_type="application/json-patch+json")
    assert api.requests == []


def test_requests_show_the_client_call_they_make() -> None:
    patch = kube.Patch("Deployment", "lab-dev", "lab-app", {"spec": {"replicas": 3}}, kube.MERGE_PATCH, "scale")
    assert patch.api_call() == (
        "AppsV1Api.patch_namespaced_deployment_scale('lab-app', 'lab-dev', {\"spec\": {\"replicas\": 3}},"
        " _content_type='application/merge-patch+json')"
    )
    assert kube.Delete("Service", "lab-dev", "lab-app").api_call() == (
        "CoreV1Api.delete_namespaced_service('lab-app', 'lab-dev')"
    )


def test_the_recording_cluster_answers_from_its_objects_prints_every_call_and_sends_nothing() -> None:
    shown: list[str] = []
    cluster = kube.RecordingCluster("kind-gitops-lab", {("Deployment", "lab-dev", "lab-app"): DEPLOYMENT}, shown.append)
    assert cluster.get("Deployment", "lab-dev", "lab-app") == DEPLOYMENT
    assert cluster.get("Service", "lab-dev", "lab-app") is None
    assert cluster.list("Deployment", "lab-dev", "x=y") == []
    kube.Delete("Service", "lab-dev", "lab-app").send(cluster)
    assert cluster.get("Deployment", "lab-dev", "lab-app") == DEPLOYMENT
    assert (
        shown
        == cluster.calls
        == [
            "AppsV1Api.read_namespaced_deployment('lab-app', 'lab-dev')",
            "CoreV1Api.read_namespaced_service('lab-app', 'lab-dev')",
            "AppsV1Api.list_namespaced_deployment('lab-dev', label_selector='x=y')",
            "CoreV1Api.delete_namespaced_service('lab-app', 'lab-dev')",
            "AppsV1Api.read_namespaced_deployment('lab-app', 'lab-dev')",
        ]
    )
