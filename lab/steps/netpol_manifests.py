"""What `invoke demo-netpol` (lab/steps/netpol.py) creates and runs: the client pod, the NetworkPolicy it commits,
the kustomization edit, and the connection check run in the pod (with its parser)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from ruamel.yaml import YAML

from lab.core import names

DEMO_NAMESPACE = "lab-netpol-demo"
CLIENT_POD = "netpol-client"
POLICY_NAME = f"allow-from-{DEMO_NAMESPACE}"
POLICY_FILE = f"{POLICY_NAME}.yaml"
SERVICE_PORT = 80  # the Service's port (overlays/base/service.yaml)
CONNECT_TIMEOUT = 3.0  # seconds the client waits for an answer: a dropped SYN is never answered
ALLOWED, BLOCKED, ERROR = "allowed", "blocked", "error"
# Labels of the app's pods, as overlays/base/kustomization.yaml sets them (and the selector the policy uses).
APP_LABELS = {"app.kubernetes.io/name": names.APP_NAME, "app.kubernetes.io/part-of": "gitops-lab"}


@dataclass(frozen=True)
class Probe:
    outcome: str  # ALLOWED | BLOCKED | ERROR, or "" when not run (a dry run)
    detail: str


def client_manifest(image: str) -> str:
    """The demo's Namespace and client Pod. The pod satisfies what the app's own pods do (overlays/base/
    deployment.yaml): non-root (the image's user 10001), no privilege escalation, every capability dropped, a
    read-only root filesystem, the runtime's seccomp profile, no service account token; it only sleeps, and the
    checks run in it with `kubectl exec`. It ends by itself after activeDeadlineSeconds if nobody deletes it."""
    labels = {"app.kubernetes.io/name": CLIENT_POD, "app.kubernetes.io/part-of": "gitops-lab"}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE, "labels": labels}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": CLIENT_POD, "namespace": DEMO_NAMESPACE, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 1800,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "client",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-c", "import time; time.sleep(1800)"],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                    "securityContext": {
                        "runAsNonRoot": True,
                        "allowPrivilegeEscalation": False,
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            ],
        },
    }
    return json.dumps(namespace) + "\n---\n" + json.dumps(pod) + "\n"


def allow_policy() -> str:
    """The NetworkPolicy the demo commits: pods of DEMO_NAMESPACE may reach the app's port `http`."""
    return (
        f"# Committed by `invoke demo-netpol` (lab/steps/netpol.py), and reverted by it.\n"
        f"apiVersion: networking.k8s.io/v1\n"
        f"kind: NetworkPolicy\n"
        f"metadata:\n"
        f"  name: {POLICY_NAME}\n"
        f"spec:\n"
        f"  podSelector:\n"
        f"    matchLabels:\n" + "".join(f"      {k}: {v}\n" for k, v in APP_LABELS.items()) + "  policyTypes:\n"
        "    - Ingress\n"
        "  ingress:\n"
        "    - from:\n"
        "        - namespaceSelector:\n"
        "            matchLabels:\n"
        f"              kubernetes.io/metadata.name: {DEMO_NAMESPACE}\n"
        "      ports:\n"
        "        - port: http\n"
        "          protocol: TCP\n"
    )


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def with_resource(kustomization: str, filename: str, *, present: bool) -> str:
    """KUSTOMIZATION (text) with FILENAME listed in `resources` (PRESENT) or not, comments kept."""
    y = _yaml()
    data = y.load(kustomization)
    resources = data.get("resources")
    if resources is None:
        if not present:
            return kustomization
        data["resources"] = resources = []
    if present and filename not in resources:
        resources.append(filename)
    if not present:
        while filename in resources:
            resources.remove(filename)
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def probe_script(host: str, port: int = SERVICE_PORT, timeout: float = CONNECT_TIMEOUT) -> str:
    """Python the client runs: GET /health on HOST:PORT; prints one line `allowed|blocked|error <detail>`."""
    return (
        "import http.client, socket\n"
        f"c = http.client.HTTPConnection({host!r}, {port}, timeout={timeout})\n"
        "try:\n"
        "    c.request('GET', '/health')\n"
        "    print('allowed HTTP', c.getresponse().status)\n"
        "except (socket.timeout, TimeoutError):\n"
        f"    print('blocked no answer within {timeout:g} s (the packets were dropped)')\n"
        "except OSError as e:\n"
        "    print('error', type(e).__name__, e)\n"
    )


def parse_probe(stdout: str) -> Probe:
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    word, _, detail = line.partition(" ")
    if word in (ALLOWED, BLOCKED, ERROR):
        return Probe(word, detail)
    return Probe(ERROR, f"unexpected output: {line!r}" if line else "no output")
