"""`invoke secret set NAME --env ENV`: seal a value for the environment's namespace and commit it, encrypted, to the
GitOps repo; Argo CD applies the SealedSecret and the Sealed Secrets controller (the sealed-secrets component) makes
the Secret `lab-app-secrets` from it, which the app mounts (overlays/base/deployment.yaml). Setting NAME again
rotates it: the SealedSecret's value for NAME is replaced, its other keys are kept.

The value comes from standard input or a no-echo prompt, never from the command line (argv is visible to every
process on the machine) and never from or to a file: it lives in this process's memory until it is sealed. Sealing
(lab/tools/sealing.py) uses the controller's certificate, read through the API server, so only that controller's
private key can open it. The commit is the GitOps transaction of every other change (lab/gitops/repo.py: render,
validate, secret scan, commit, push), so a plaintext Secret can never go in this way.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.core.config import ROOT, environment
from lab.core.context import Context
from lab.core.errors import CommandFailed, ConfigError, GitOpsError, Refused
from lab.core.runner import for_reading
from lab.gitops.overlay import IMAGE_NAME, add_resource, overlay_file, read_image
from lab.gitops.repo import Change, Committed, GitOpsRepo
from lab.gitops.watcher import DeployWatcher
from lab.manifests import argocd as argocd_manifests
from lab.manifests import sealed_secrets as manifests
from lab.manifests.argocd import dump
from lab.steps import ship
from lab.steps.deploy_wait import refresh_and_wait
from lab.tools import kubectl, sealing

SECRET_NAME = "lab-app-secrets"  # noqa: S105 (a name, not a value): the Secret the app's Deployment mounts (overlays/base/deployment.yaml)
SEALED_FILE = "sealed-secret.yaml"  # in overlays/<env>/ of the GitOps repo
# A Secret's data key (k8s.io/apimachinery pkg/util/validation IsConfigMapKey): [-._a-zA-Z0-9]+, at most 253.
KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
MAX_VALUE_BYTES = 64 * 1024
HEADER = "# Sealed by gitops-lab (`invoke secret set NAME --env ENV`): only the cluster's controller can open it.\n"


@dataclass(frozen=True)
class SecretSet:
    name: str
    env: str
    commit: str
    changed: bool


def read_value(name: str, stdin: TextIO | None = None, prompt: Callable[[str], str] = getpass.getpass) -> bytes:
    """The value: from STDIN when it is not a terminal (one trailing newline dropped, as `echo` adds it), else asked
    twice without echo. Never from argv or a file."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        value = prompt(f"Value for {name} (not shown): ")
        if prompt(f"Again, to confirm {name}: ") != value:
            raise Refused("the two values differ: nothing was sealed", hint=f"invoke secret set {name} --env ENV")
    else:
        value = stdin.read(MAX_VALUE_BYTES + 1)
        if len(value) > MAX_VALUE_BYTES:
            raise ConfigError(f"the value on stdin is longer than {MAX_VALUE_BYTES} bytes")
        value = value.removesuffix("\n")
    if not value:
        raise ConfigError(
            f"an empty value for {name}: nothing was sealed",
            hint=f'printf %s "$VALUE" | invoke secret set {name} --env ENV  (or type it at the prompt)',
        )
    return value.encode()


def controller_key(ctx: Context) -> rsa.RSAPublicKey:
    """The controller's public key: its Deployment must exist, then its certificate is read through the API
    server's service proxy. Read for real in a dry run too (it only reads)."""
    runner, context = for_reading(ctx.runner), ctx.settings.kube_context
    try:
        deployment = kubectl.get_json(
            runner, context, "deployment", manifests.CONTROLLER, namespace=manifests.NAMESPACE
        )
    except CommandFailed as exc:
        raise CommandFailed(
            exc.argv,
            exc.code,
            exc.stderr_tail,
            what=f"cannot ask cluster {context} for the Sealed Secrets controller",
            hint="is the lab up? `invoke status` shows the cluster",
        ) from exc
    if deployment is None:
        raise Refused(
            f"the Sealed Secrets controller is not installed in {context} "
            f"(no deployment {manifests.CONTROLLER} in {manifests.NAMESPACE}): nothing was sealed",
            hint="invoke up --with sealed-secrets",
        )
    rollout = f"kubectl --context {context} -n {manifests.NAMESPACE} rollout status deployment/{manifests.CONTROLLER}"
    try:
        pem = sealing.fetch_cert(runner, kubectl.kubectl_binary(), context, manifests.CERT_PATH)
        return sealing.public_key(pem)
    except CommandFailed as exc:
        raise CommandFailed(
            exc.argv,
            exc.code,
            exc.stderr_tail,
            what="cannot fetch the sealing certificate from the Sealed Secrets controller: nothing was sealed",
            hint=rollout,
        ) from exc
    except sealing.BadCertificate as exc:
        raise Refused(
            f"the Sealed Secrets controller answered {manifests.CERT_PATH} with no usable certificate ({exc})",
            hint=f"kubectl --context {context} -n {manifests.NAMESPACE} logs deployment/{manifests.CONTROLLER}",
        ) from exc


def sealed_text(current: str | None, name: str, sealed: str, namespace: str, where: str) -> str:
    """The env's SealedSecret file with NAME's value replaced by SEALED (other keys kept)."""
    encrypted: dict[str, str] = {}
    if current is not None:
        try:
            doc = yaml.safe_load(current) or {}
        except yaml.YAMLError as exc:
            raise GitOpsError(f"{where} is not valid YAML: {exc}", hint="fix or remove it in the GitOps repo") from exc
        encrypted = {str(k): str(v) for k, v in ((doc.get("spec") or {}).get("encryptedData") or {}).items()}
    encrypted[name] = sealed
    return HEADER + dump(manifests.sealed_secret(SECRET_NAME, namespace, encrypted))


def set_secret(
    ctx: Context,
    name: str,
    env: str,
    value: bytes,
    *,
    watcher: DeployWatcher,
    repo: GitOpsRepo | None = None,
    app_root: Path = ROOT,
    no_wait: bool = False,
) -> SecretSet:
    target = environment(env)
    if not KEY.match(name):
        raise ConfigError(
            f"secret name {name!r} is not a valid Secret key",
            hint="use letters, digits, '-', '_' and '.' (e.g. write-token)",
        )
    with ctx.ui.phase("Fetch the Sealed Secrets controller's certificate") as phase:
        key = controller_key(ctx)
        phase.note = f"RSA {key.key_size} bits"
    sealed = sealing.seal_value(key, value, namespace=target.namespace, name=SECRET_NAME)
    gitops = repo or ship.gitops_repo(ctx, app_root=app_root)
    kustomization, sealed_path = overlay_file(env), f"overlays/{env}/{SEALED_FILE}"

    def plan(r: GitOpsRepo) -> Change:
        current = r.read(kustomization)
        if current is None:
            raise GitOpsError(f"the GitOps repo {r.url} has no {kustomization}", hint="was it seeded from overlays/?")
        image = read_image(current, kustomization)
        return Change(
            env=env,
            message=f"secret({env}): seal {name} into {SECRET_NAME}\n",
            trailers=[("Sealed-Secret", f"{target.namespace}/{SECRET_NAME}:{name}"), ("Sealed-By", str(r.author))],
            expected_image=image.reference if image else IMAGE_NAME,
            new_text=add_resource(current, SEALED_FILE, kustomization),
            files={sealed_path: sealed_text(r.read(sealed_path), name, sealed, target.namespace, sealed_path)},
        )

    with ctx.ui.phase(f"Commit the sealed {name} to {kustomization.rsplit('/', 1)[0]}") as phase:
        done: Committed = gitops.commit_change(plan)
        phase.note = f"commit {done.sha[:7]}" if done.changed else "unchanged"
    image = read_image(gitops.read(kustomization) or "", kustomization) if not ctx.dry_run else None
    if target.auto_sync:
        refresh_and_wait(ctx, watcher, env, done.sha, image.reference if image else IMAGE_NAME, no_wait=no_wait)
        ctx.ui.next_steps(f"invoke status  # {env} syncs by itself; the app reads the new value within about a minute")
    else:
        app = argocd_manifests.app_name(target)
        ctx.ui.info(f" {env} syncs manually ({app}): the SealedSecret reaches the cluster at the next sync")
        ctx.ui.next_steps(f"invoke sync {env}")
    return SecretSet(name, env, done.sha, done.changed)
