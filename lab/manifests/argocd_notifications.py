"""argocd-notifications-cm as the lab configures it: Argo CD's notifications controller posts "sync succeeded",
"sync failed" and "health degraded" for every Application to the lab's receiver (lab/images/notify), by name on
the `kind` network. The receiver needs no credential, so argocd-notifications-secret stays as install.yaml ships it.

Upstream facts (Argo CD v3.5.1; notifications-engine v0.5.1-0.20260503100631-0cff13b8a717, its go.mod pin):
- keys `service.webhook.<name>` (fields `url`, `headers`, `retryMax` ...: notifications-engine
  pkg/services/webhook.go WebhookOptions), `template.<name>` (`message`, `webhook.<name>.{method,path,body}`:
  WebhookNotification), `trigger.<name>` (`when`, `send`, `oncePer`, `description`), `subscriptions` (`recipients`,
  `triggers`, `selector`: pkg/subscriptions/global.go; a recipient without ":" names the service:
  pkg/api/config.go GetGlobalDestinations): argo-cd docs/operator-manual/notifications/{services/webhook.md,
  subscriptions.md, templates.md, triggers.md};
- the three triggers are the catalog's, verbatim: argo-cd notifications_catalog/triggers/on-sync-succeeded.yaml,
  on-sync-failed.yaml, on-health-degraded.yaml, each sending the catalog's template name;
- templates are Go text/template with sprig's functions but env/expandenv (notifications-engine
  pkg/templates/service.go); `app` is the Application as a map (argo-cd util/notification/settings/settings.go),
  so `dig` reads fields that may be absent (operationState before the first sync) without failing the template;
- the webhook sends the template's `body` with its `method` to `url` + `path` (webhook.go request.applyOverridesFrom),
  retrying on network errors and 5xx (`retryMax`, default 3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lab.core import names

SERVICE = "lab-receiver"  # the webhook service's name: service.webhook.<SERVICE>, template webhook.<SERVICE>
RECEIVER_PORT = 8080  # lab/images/notify/receiver.py's port in the container
RECEIVER_URL = f"http://{names.NOTIFY_CONTAINER}:{RECEIVER_PORT}"
RECEIVER_PATH = "/notifications"
CONFIG_MAP = "argocd-notifications-cm"


FINISHED_AT = '(dig "status" "operationState" "finishedAt" "" .app)'
OP_MESSAGE = '(dig "status" "operationState" "message" "" .app)'


@dataclass(frozen=True)
class Trigger:
    name: str  # the catalog's trigger
    template: str  # the catalog's template name it sends
    when: str
    description: str
    # The catalog template's message (without its Slack and Argo CD URL parts) as printf's format and arguments.
    message_format: str
    message_args: tuple[str, ...]

    @property
    def message(self) -> str:
        """The message as a template expression: (printf "..." args...)."""
        return "(printf " + " ".join((json.dumps(self.message_format), *self.message_args)) + ")"


# argo-cd v3.5.1 notifications_catalog/triggers/*.yaml: `when`, `description`, `send`; all three have
# oncePer: app.status.operationState?.syncResult?.revision (one message per synced revision).
ONCE_PER = "app.status.operationState?.syncResult?.revision"
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(
        "on-sync-succeeded",
        "app-sync-succeeded",
        "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']",
        "Application syncing has succeeded",
        "Application %s has been successfully synced at %s.",
        (".app.metadata.name", FINISHED_AT),
    ),
    Trigger(
        "on-sync-failed",
        "app-sync-failed",
        "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
        "Application syncing has failed",
        "The sync operation of application %s has failed at %s with the following error: %s",
        (".app.metadata.name", FINISHED_AT, OP_MESSAGE),
    ),
    Trigger(
        "on-health-degraded",
        "app-health-degraded",
        "app.status.health.status == 'Degraded'",
        "Application has degraded",
        "Application %s has degraded.",
        (".app.metadata.name",),
    ),
)
TRIGGER_NAMES = tuple(t.name for t in TRIGGERS)

# What the receiver gets, as JSON (sprig's dict | toJson escapes every value).
BODY_FIELDS: tuple[tuple[str, str], ...] = (
    ("sync", '(dig "status" "sync" "status" "" .app)'),
    ("health", '(dig "status" "health" "status" "" .app)'),
    ("revision", '(dig "status" "operationState" "syncResult" "revision" "" .app)'),
    ("phase", '(dig "status" "operationState" "phase" "" .app)'),
    ("finishedAt", FINISHED_AT),
)


def webhook_body(trigger: Trigger) -> str:
    """The template's webhook body: one JSON object, every value escaped by toJson."""
    pairs = [f'"app" .app.metadata.name "trigger" {json.dumps(trigger.name)}']
    pairs += [f'"{key}" {expression}' for key, expression in BODY_FIELDS]
    pairs.append(f'"message" {trigger.message}')
    return "{{ dict " + " ".join(pairs) + " | toJson }}"


def _template(trigger: Trigger) -> str:
    doc = {
        "message": "{{ " + trigger.message + " }}",
        "webhook": {SERVICE: {"method": "POST", "path": RECEIVER_PATH, "body": webhook_body(trigger)}},
    }
    return json.dumps(doc, indent=2) + "\n"  # JSON is YAML: the controller reads it with sigs.k8s.io/yaml


def _trigger(trigger: Trigger) -> str:
    return (
        json.dumps(
            [
                {
                    "when": trigger.when,
                    "description": trigger.description,
                    "send": [trigger.template],
                    "oncePer": ONCE_PER,
                }
            ],
            indent=2,
        )
        + "\n"
    )


def notifications_cm_data(receiver_url: str = RECEIVER_URL) -> dict[str, str]:
    """argocd-notifications-cm's data: the receiver as a webhook service, the three triggers and their templates,
    and one global subscription of every Application to them."""
    data = {f"service.webhook.{SERVICE}": json.dumps({"url": receiver_url, "retryMax": 3}, indent=2) + "\n"}
    for trigger in TRIGGERS:
        data[f"template.{trigger.template}"] = _template(trigger)
        data[f"trigger.{trigger.name}"] = _trigger(trigger)
    data["subscriptions"] = json.dumps([{"recipients": [SERVICE], "triggers": list(TRIGGER_NAMES)}], indent=2) + "\n"
    return data
