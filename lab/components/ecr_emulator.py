"""The ECR emulator: MiniStack (built, the default) or LocalStack (pulled; needs a token), for the local target."""

from __future__ import annotations

import os
from collections.abc import Mapping

from lab.components.base import Component, Down, HostPort, Row, StatusView, Up
from lab.components.containers import (
    ContainerSpec,
    Probes,
    container_row,
    ensure_container,
    localstack_init_done,
    remove_service,
    status_ok,
)
from lab.components.service_images import COMPONENT_ECR
from lab.core import names, versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.providers.wiring import ECR_CONTAINER, ECR_CONTAINER_PORT
from lab.registries import EcrEmulatorRegistry, Seams
from lab.tools import ecr

ECR_STATE_VOLUME = names.ECR_STATE_VOLUME
ECR_HOOK = ROOT / "localstack" / "init_ecr.py"
ECR_HOOK_TARGET = "/etc/localstack/init/ready.d/init_ecr.py"  # both emulators run ready.d/*.py
LOCALSTACK_TOKEN_ENV = "LOCALSTACK_AUTH_TOKEN"  # noqa: S105 (the variable's name, not a secret)

# Readiness bounds (seconds). MiniStack answers in ~1 s, LocalStack in ~10-30 s (license check, boot).
MINISTACK_READY_TIMEOUT = 60.0
LOCALSTACK_READY_TIMEOUT = 180.0


def _hook_env(settings: Settings, keep_last: int) -> dict[str, str]:
    return {
        "LAB_ECR_REPOSITORIES": settings.image_name,
        "LAB_ECR_KEEP_LAST": str(keep_last),
        "LAB_ECR_SCAN_ON_PUSH": "true",
        "LAB_ECR_IMMUTABLE": "true",
        "LAB_ECR_REGION": settings.aws_region,
    }


def ecr_emulator_spec(
    settings: Settings, *, environ: Mapping[str, str] | None = None, keep_last: int = ecr.DEFAULT_KEEP_LAST
) -> ContainerSpec:
    """MiniStack (built) or LocalStack (pulled; needs LOCALSTACK_AUTH_TOKEN). Both run localstack/init_ecr.py."""
    env = os.environ if environ is None else environ
    port = settings.emulator_port
    hook = ((str(ECR_HOOK), f"{ECR_HOOK_TARGET}:ro"),)
    if settings.aws_emulator == "localstack":
        if not env.get(LOCALSTACK_TOKEN_ENV):
            raise ConfigError(
                "LocalStack needs LOCALSTACK_AUTH_TOKEN: ECR is not in LocalStack's free tier, and since 2026-03-23 "
                "the localstack/localstack image exits without a token",
                hint="use the free MiniStack emulator (LAB_AWS_EMULATOR=ministack, the default), or export "
                "LOCALSTACK_AUTH_TOKEN with a plan that includes ECR",
            )
        return ContainerSpec(
            component=COMPONENT_ECR,
            name=ECR_CONTAINER,
            image=versions.LOCALSTACK_IMAGE,
            host_port=port,
            container_port=ECR_CONTAINER_PORT,
            port_setting="LAB_EMULATOR_PORT",
            ready_url=f"http://127.0.0.1:{port}/_localstack/init/ready",
            ready=localstack_init_done,
            ready_timeout=LOCALSTACK_READY_TIMEOUT,
            volumes=hook,
            env={"AWS_DEFAULT_REGION": settings.aws_region, **_hook_env(settings, keep_last)},
            # Passed by name: docker copies the value from the lab's environment, so the token never appears in
            # the command line, a dry run's output or `docker inspect`'s Args.
            extra=("-e", LOCALSTACK_TOKEN_ENV),
        )
    return ContainerSpec(
        component=COMPONENT_ECR,
        name=ECR_CONTAINER,
        image=versions.MINISTACK_IMAGE,
        host_port=port,
        container_port=ECR_CONTAINER_PORT,
        port_setting="LAB_EMULATOR_PORT",
        # 200 once the gateway serves and the ready.d hooks have run (ministack/app.py, _handle_ready_request).
        ready_url=f"http://127.0.0.1:{port}/_ministack/ready",
        ready=status_ok(200),
        ready_timeout=MINISTACK_READY_TIMEOUT,
        volumes=((ECR_STATE_VOLUME, "/var/lib/ministack"), *hook),
        named_volumes=(ECR_STATE_VOLUME,),
        env={
            # MiniStack keeps state in memory; with PERSIST_STATE it saves it on shutdown and loads it on start
            # (ministack/core/persistence.py), so pushed images survive `docker restart`.
            "PERSIST_STATE": "1",
            "STATE_DIR": "/var/lib/ministack",
            "MINISTACK_REGION": settings.aws_region,
            **_hook_env(settings, keep_last),
        },
    )


def ensure_ecr_emulator(
    ctx: Context,
    *,
    force: bool = False,
    probe: Probes | None = None,
    environ: Mapping[str, str] | None = None,
    keep_last: int = ecr.DEFAULT_KEEP_LAST,
) -> str:
    """Run the ECR emulator (unless LAB_AWS_ENDPOINT_URL names one), wait until it is ready, and make sure the
    repository settings.image_name exists (scan on push, IMMUTABLE tags, lifecycle policy). Returns the endpoint.

    The container's ready hook creates the repository too, so it is back after a restart; doing it again from
    the host is idempotent and reports errors here. Tags are immutable: re-pushing an existing tag fails, which
    the lab's unique <sha7>-<timestamp> tags never do."""
    settings = ctx.settings
    probe = probe or Probes()
    if settings.target != "local":
        raise ConfigError("the ECR emulator is for the local target", hint="on LAB_TARGET=aws the lab uses ECR itself")
    if settings.aws_endpoint_url:
        ctx.ui.info(f"  using the AWS endpoint {settings.aws_endpoint_url} (LAB_AWS_ENDPOINT_URL): no emulator started")
    else:
        spec = ecr_emulator_spec(settings, environ=environ, keep_last=keep_last)
        title = f"Ensuring ECR emulator {spec.name} ({settings.aws_emulator}, 127.0.0.1:{spec.host_port})"
        with ctx.ui.phase(title) as phase:
            phase.note = ensure_container(ctx, spec, force=force, probe=probe)
    with ctx.ui.phase(f"Ensuring ECR repository {settings.image_name}") as phase:
        if ctx.dry_run:
            phase.note = f"(dry run) scanOnPush, IMMUTABLE tags, keep the last {keep_last} images"
        else:
            emulator = EcrEmulatorRegistry(settings, Seams(ecr_client=probe.ecr_client))
            phase.note = str(emulator.ensure_repository(ctx, keep_last=keep_last))
    return settings.emulator_endpoint


class EcrEmulatorComponent(Component):
    name = "ecr"

    def host_ports(self, settings: Settings) -> list[HostPort]:
        return [HostPort(settings.emulator_port, "ECR emulator")]

    def ensure(self, run: Up) -> None:
        run.made[self.name] = ensure_ecr_emulator(run.ctx, force=run.force, probe=run.service_probes)

    def status_rows(self, view: StatusView) -> list[Row]:
        s = view.ctx.settings
        return [container_row(view.ctx, "ECR emulator", ECR_CONTAINER, s.emulator_endpoint)]

    def remove(self, run: Down) -> None:
        # MiniStack saves its state on SIGTERM: stopped first.
        remove_service(run.ctx, COMPONENT_ECR, "ECR emulator", volumes=run.purge, stop_first=True)
