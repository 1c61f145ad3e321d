"""argocd-notifications-cm as the lab renders it: the receiver as a webhook service, the catalog's three triggers
verbatim, a template per trigger posting JSON to the receiver, every Application subscribed, and no credential."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from argocd_schema import DATA
from test_argocd_manifests import kubectl, one, render  # noqa: F401 (kubectl: the fixture)

from lab.components import notify_receiver
from lab.core import names
from lab.core.config import Settings
from lab.manifests import argocd as argocd_manifests
from lab.manifests import argocd_notifications as m

CATALOG = yaml.safe_load((DATA / "notifications-catalog-triggers.yaml").read_text())
EXCERPT = DATA / "install-excerpt.yaml"


def parsed(data: dict[str, str]) -> dict[str, object]:
    # The controller reads each value as YAML (sigs.k8s.io/yaml); yaml.safe_load is the same for these values.
    return {key: yaml.safe_load(value) for key, value in data.items()}


def test_the_webhook_service_is_the_receiver_container_by_name_without_credentials() -> None:
    service = parsed(m.notifications_cm_data())[f"service.webhook.{m.SERVICE}"]
    assert service == {"url": f"http://{names.NOTIFY_CONTAINER}:8080", "retryMax": 3}
    # The component runs that container, listening on that port, on the cluster network.
    spec = notify_receiver.receiver_spec(Settings())
    assert (spec.name, spec.container_port) == (names.NOTIFY_CONTAINER, 8080)
    assert notify_receiver.in_cluster_url() == service["url"]
    assert spec.env["NOTIFY_PORT"] == "8080"


def test_the_triggers_are_the_upstream_catalogs_verbatim() -> None:
    data = parsed(m.notifications_cm_data())
    triggers = {key.removeprefix("trigger."): value for key, value in data.items() if key.startswith("trigger.")}
    assert triggers == CATALOG


def test_every_trigger_sends_a_template_that_posts_json_to_the_receiver() -> None:
    data = parsed(m.notifications_cm_data())
    for name, conditions in CATALOG.items():
        (template_name,) = conditions[0]["send"]
        template = data[f"template.{template_name}"]
        assert isinstance(template, dict), template_name
        webhook = template["webhook"][m.SERVICE]
        assert (webhook["method"], webhook["path"]) == ("POST", "/notifications")
        body = webhook["body"]
        assert body.startswith("{{ dict ") and body.endswith(" | toJson }}"), body
        assert f'"trigger" "{name}"' in body and '"app" .app.metadata.name' in body
        for field in ("sync", "health", "revision", "phase", "finishedAt", "message"):
            assert f'"{field}" (' in body, (name, field)
        # Fields that may be absent (no operation yet) are read with dig: a missing one cannot fail the template.
        assert ".app.status" not in body and ".app.status" not in template["message"]


def test_one_global_subscription_sends_the_three_triggers_of_every_application_to_the_receiver() -> None:
    subscriptions = parsed(m.notifications_cm_data())["subscriptions"]
    # No selector: every Application of this Argo CD (the environments' and the platform's).
    assert subscriptions == [
        {"recipients": [m.SERVICE], "triggers": ["on-sync-succeeded", "on-sync-failed", "on-health-degraded"]}
    ]


def test_the_config_holds_no_credential() -> None:
    text = json.dumps(m.notifications_cm_data()).lower()
    for word in ("password", "basicauth", "token", "headers", "$"):
        assert word not in text


@pytest.mark.integration  # real kubectl kustomize (tests/tiers.py)
def test_the_rendered_install_carries_the_notifications_config(kubectl: str, tmp_path: Path) -> None:  # noqa: F811
    docs = render(kubectl, tmp_path, EXCERPT.read_text())
    cm = one(docs, "ConfigMap", m.CONFIG_MAP)
    assert cm["data"] == m.notifications_cm_data()
    assert cm["metadata"]["namespace"] == argocd_manifests.NAMESPACE
    assert cm["metadata"]["labels"]["app.kubernetes.io/name"] == "argocd-notifications-controller"  # upstream's kept
    # argocd-notifications-secret is not patched: install.yaml's empty Secret is all the receiver needs.
    assert not any(path.endswith("argocd-notifications-secret.yaml") for path in argocd_manifests.install_patches())


def test_prometheus_scrapes_the_receiver_by_the_name_the_controller_posts_to() -> None:
    from lab.manifests import monitoring

    jobs = {job["job_name"]: job for job in monitoring.prometheus_config()["scrape_configs"]}
    (static,) = jobs["lab-notify"]["static_configs"]
    service = parsed(m.notifications_cm_data())[f"service.webhook.{m.SERVICE}"]
    assert static["targets"] == [service["url"].removeprefix("http://")]  # /metrics on the same host:port
