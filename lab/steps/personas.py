"""Syncs as a persona, through Argo CD's API server: `invoke sync ENV --as PERSONA` and the sync of `invoke rollback`.

The persona logs in with its password from `.lab/argocd-personas.json` (lab/components/argocd_personas.py) and
asks Argo CD to sync; Argo CD's RBAC (argocd-rbac-cm, lab/manifests/argocd.py) decides, so a refusal is Argo CD's
own 403. Without --as the persona is the environment's own: the lowest on the ladder that may sync it (developer
for dev, senior for staging, lead for prod), so a plain `invoke sync prod` is a lead's sync, recorded by Argo CD
as initiated by `lead`, and `--as developer` shows the refusal.
"""

from __future__ import annotations

from lab.clients.argocd_api import ArgoCDApi, RecordingTransport, Transport, urllib_transport
from lab.components import argocd_personas
from lab.core.config import environment
from lab.core.context import Context
from lab.core.errors import ArgoCDDenied, ConfigError, Conflict
from lab.manifests import argocd as manifests
from lab.providers import capabilities_for


def check_persona(persona: str | None, *, flag: str = "--as") -> str | None:
    """PERSONA when it is one (None: the default); ConfigError (exit 2) naming the valid ones otherwise."""
    if persona is None or persona in manifests.PERSONAS:
        return persona
    raise ConfigError(
        f"{flag} {persona!r}: no such persona (from the command line)",
        hint="valid personas: " + ", ".join(manifests.PERSONAS),
    )


def persona_for(env: str, persona: str | None) -> str:
    return check_persona(persona) or manifests.default_persona(environment(env))


def api_for(ctx: Context, transport: Transport | None = None) -> ArgoCDApi:
    """The API server as the lab reaches it: kind maps its NodePort to 127.0.0.1:<argocd_port>; on minikube
    `invoke dashboard` port-forwards it there. A dry run records the requests instead of sending them."""
    s = ctx.settings
    hint = (
        "`invoke dashboard` port-forwards Argo CD to 127.0.0.1 (leave it running, sync from another shell)"
        if capabilities_for(s).ui_port_forward
        else "is the lab up? `invoke status`"
    )
    chosen = transport or (
        RecordingTransport(lambda call: ctx.ui.info(f"$ {call}")) if ctx.dry_run else urllib_transport
    )
    return ArgoCDApi(f"http://127.0.0.1:{s.argocd_port}", chosen, hint)


def _password(ctx: Context, persona: str) -> str:
    found = argocd_personas.load(ctx.settings.state_dir) or {}
    if persona in found:
        return found[persona].password
    if ctx.dry_run:
        return "<from .lab/argocd-personas.json>"
    path = argocd_personas.personas_file(ctx.settings.state_dir)
    raise Conflict(f"no password for persona {persona}: {path} does not hold it", hint="invoke up")


def sync_as(ctx: Context, env: str, persona: str | None = None, *, api: ArgoCDApi | None = None) -> str:
    """Start a sync of ENV as PERSONA (default: the env's own) through Argo CD's API server; returns the persona.
    ArgoCDDenied when Argo CD refuses the login (401) or the sync (403: the persona's role may not sync ENV)."""
    target = environment(env)
    who = persona_for(env, persona)
    app = manifests.app_name(target)
    server = api or api_for(ctx)
    file = argocd_personas.personas_file(ctx.settings.state_dir)
    token = server.login(
        who,
        _password(ctx, who),
        password_hint=f"Argo CD does not have the password in {file}: `invoke up` sets it again",
    )
    try:
        server.sync(app, token, reason=f"invoke sync {env} --as {who}")
    except ArgoCDDenied as exc:
        if exc.status != 403:
            raise
        allowed = manifests.default_persona(target)
        mine = ", ".join(e.name for e in manifests.synced_envs(who))
        raise ArgoCDDenied(
            f"Argo CD refused: {who} may not sync {app}",
            exc.status,
            exc.answer,
            detail_lines=[
                f"{who} may sync: {mine}",
                f"the argocd-rbac-cm policy line that allows it: {manifests.sync_policy_line(allowed, target)}"
                f" (and `g, {allowed}, {manifests.global_role(allowed)}`)",
            ],
            hint=f"invoke sync {env} --as {allowed}",
        ) from exc
    return who
