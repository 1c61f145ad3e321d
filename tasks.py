"""GitOps Lab tasks (Invoke). A thin layer: parse flags, build settings, call a step, turn LabError into
Exit(message, code). `invoke --list` shows the tasks, `invoke --help TASK` their flags.

Settings come from defaults < lab.toml < the last `up`'s choices (.lab/settings.json) < LAB_* environment
variables < these flags (lab/core/config.py)."""

from __future__ import annotations

import atexit
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context as InvokeContext
from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from lab.core.config import environment, forget_hint, last_up_file, load_settings, remember_choices, remembered
from lab.core.context import Context
from lab.core.errors import ConfigError, LabError, PreflightFailed
from lab.core.runner import DryRunRunner, SubprocessRunner, foreground
from lab.core.ui import UI
from lab.steps import drift_kinds

F = TypeVar("F", bound=Callable[..., Any])

HELP = {
    "dry_run": "print every command and generated manifest instead of running them",
    "debug": "echo every command as it runs; show tracebacks",
    "target": "local (kind/minikube + emulators, default) or aws (EKS + ECR)",
    "provider": "kind (default) or minikube",
    "env": "environment: dev, staging or prod",
    "force": "use a cluster or container the lab did not create (never deletes it)",
    "yes": "do not ask for confirmation",
    # The personas and their ladder: lab/manifests/argocd.py PERSONAS; the default: lab/steps/personas.py.
    "as_": "the Argo CD persona the sync goes through Argo CD's API server as, whose RBAC decides: developer (syncs "
    "dev), senior (dev, staging) or lead (dev, staging, prod); default: the environment's own persona (dev: "
    "developer, staging: senior, prod: lead)",
}


def helps(*names: str, **extra: str) -> dict[str, str]:
    """Help texts for the named common flags plus task-specific ones (invoke rejects help for absent flags)."""
    return {**{n: HELP[n] for n in names}, **extra}


HELP_FLAGS = ("-h", "--help")


class LabTask(Task[Callable[..., Any]]):
    """A task whose flags never take `-h`: that is invoke's help flag, so `invoke TASK -h` always shows help
    (invoke gives a flag the first free letter of its name: `--heal` would otherwise become `-h`)."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        taken_names.add("h")  # the set get_arguments passes for every flag of this task
        return super().arg_opts(name, default, taken_names)

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        arguments = self._number_arguments(ignore_unknown_help)
        positional = [a for a in arguments if a.positional]
        # `invoke secret -h`: invoke gives -h to the first positional; the later ones must not then be "missing".
        for i, a in enumerate(arguments):
            if a.positional and a is not positional[0]:
                later = LaterPositional(
                    names=a.names, kind=a.kind, default=a.default, help=a.help, positional=True, attr_name=a.attr_name
                )
                later.first = positional[0]
                arguments[i] = later
        return arguments

    def _number_arguments(self, ignore_unknown_help: bool | None) -> list[Argument]:
        return [
            NumberArgument(
                names=a.names,
                kind=a.kind,
                default=a.default,
                help=a.help,
                positional=a.positional,
                optional=a.optional,
                incrementable=a.incrementable,
                attr_name=a.attr_name,
            )
            if a.kind in (int, float)
            else a
            for a in super().get_arguments(ignore_unknown_help)
        ]


class LaterPositional(Argument):
    """A positional argument after the first: not required when the first holds a help flag (invoke fills a
    positional only while its value is None, and refuses to run a task with one still None)."""

    first: Argument | None = None

    @property
    def value(self) -> Any:
        value = Argument.value.fget(self)  # type: ignore[attr-defined]
        if value is None and self.first is not None and self.first.value in HELP_FLAGS:
            return ""
        return value

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


class NumberArgument(Argument):
    """An int or float flag: a value that is not a number exits 2 with a message (invoke's parser would raise
    its ValueError as a traceback)."""

    def set_value(self, value: Any, cast: bool = True) -> None:
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            error = ConfigError(f"--{self.name}: {value!r} is not {what}", hint=f"valid values: {what}")
            raise Exit(error.render(), code=error.exit_code) from None


def task(**kwargs: Any) -> Callable[[Callable[..., Any]], LabTask]:
    """invoke's @task(...), making LabTasks."""
    decorate: Callable[[Callable[..., Any]], LabTask] = invoke_task(klass=LabTask, **kwargs)
    return decorate


def show_help(name: str) -> None:
    """Print `invoke --help NAME` (the task's flags and their help)."""
    from invoke.collection import Collection
    from invoke.program import Program

    module = sys.modules[__name__]
    for task_name, texts in _HELP.items():  # invoke consumes a task's help texts when it parses a command line
        getattr(module, task_name).help = dict(texts)
    Program(namespace=Collection.from_module(module), name="invoke", binary="invoke").run(
        ["invoke", "--help", name], exit=False
    )


def lab_task(fn: F) -> F:
    """Turn a LabError into its rendered message and exit code; a traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(c: InvokeContext, *args: Any, **kwargs: Any) -> Any:
        # invoke 3.0 hands `--help` given after a task name to the task's positional argument (`invoke sync --help`
        # runs sync with env="--help": pyinvoke/invoke#982): show the task's help, as the user asked.
        if any(isinstance(v, str) and v in HELP_FLAGS for v in (*args, *kwargs.values())):
            show_help(fn.__name__.replace("_", "-"))
            return None
        try:
            return fn(c, *args, **kwargs)
        except LabError as exc:
            if kwargs.get("debug"):
                raise
            raise Exit(exc.render(), code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


FLAG_NAMES = {
    "push_registry": "--registry",
    "with_components": "--with",
}  # settings whose flag is not --NAME (`invoke ship --registry`)


TIMINGS_ENV = "LAB_TIMINGS"  # a file: the task's phases are written there as JSON when it exits (lab/core/ui.py)


def make_context(*, dry_run: bool = False, debug: bool = False, **overrides: Any) -> Context:
    settings = load_settings(overrides, flag_names=FLAG_NAMES)
    runner = DryRunRunner() if dry_run else SubprocessRunner(echo=sys.stderr if debug else None)
    ui = UI()
    timings = os.environ.get(TIMINGS_ENV)
    if timings:
        atexit.register(ui.write_timings, Path(timings))
    return Context(settings=settings, runner=runner, ui=ui)


def _watcher(ctx: Context, persona: str | None = None) -> Any:
    """Argo CD, through the kubernetes client imported only once the cluster is asked (lab/steps/watcher.py); its
    syncs go through Argo CD's API server as PERSONA (None: the environment's own)."""
    from lab.steps.watcher import LazyArgoWatcher

    return LazyArgoWatcher(ctx, persona=persona)


@task(help=helps("target", "provider", "debug", fix="download the pinned kind release (sha256-verified) if missing"))
@lab_task
def doctor(
    c: InvokeContext,
    fix: bool = False,
    target: str | None = None,
    provider: str | None = None,
    debug: bool = False,
) -> None:
    """Check Docker, kind, kubectl, ports, memory, disk and network; say how to fix each failure."""
    from lab.steps import lab

    ctx = make_context(debug=debug, target=target, provider=provider)
    if not lab.doctor(ctx, fix=fix):
        raise Exit("doctor found problems: fix the ✗ lines above, then run `invoke up`", code=PreflightFailed.exit_code)


@task(
    auto_shortflags=False,  # --i-understand-this-costs-money must not get a short flag
    help=helps(
        "dry_run",
        "force",
        "target",
        "provider",
        "debug",
        offline="use only .lab/cache (after `invoke cache`): never pull or download",
        fix="install the pinned kind if it is missing (default on; --no-fix to refuse)",
        plan="target aws: print every AWS call and command, and the monthly cost; change nothing",
        i_understand_this_costs_money="target aws: allow changes to a real AWS account (or LAB_AWS_ALLOW_REAL=1)",
        yes="target aws: do not ask before changing the account",
        with_="also run an optional component (monitoring, sealed-secrets); repeatable (setting with_components)",
    ),
    iterable=["with_"],
)
@lab_task
def up(
    c: InvokeContext,
    dry_run: bool = False,
    offline: bool = False,
    force: bool = False,
    fix: bool = True,
    plan: bool = False,
    i_understand_this_costs_money: bool = False,
    yes: bool = False,
    target: str | None = None,
    provider: str | None = None,
    debug: bool = False,
    with_: list[str] | None = None,
) -> None:
    """Bring the lab up: registry, ECR emulator, git server, cluster, Argo CD, three environments."""
    from lab.steps import lab

    ctx = make_context(
        dry_run=dry_run,
        debug=debug,
        target=target,
        provider=provider,
        offline=offline or None,
        with_components=",".join(with_) if with_ else None,
    )
    if not dry_run and not plan:
        # Later tasks act on this lab without repeating --target / --provider. Remembered once `up` has passed
        # its checks (it then starts creating things that `down` must find): a refused `up` changes nothing.
        ctx.on_checks_passed = lambda checked: remember_choices(checked.settings)
    if ctx.settings.target == "aws":
        lab.up_aws(ctx, plan=plan, allow_real_aws=i_understand_this_costs_money, yes=yes, force=force)
    else:
        lab.up(ctx, force=force, fix=fix)
    ctx.checks_passed()  # it succeeded: remember now if the step did not say so earlier (the hook runs once)


@task(
    auto_shortflags=False,  # --i-understand-this-costs-money must not get a short flag
    help=helps(
        "dry_run",
        "target",
        "provider",
        "debug",
        purge="also remove .lab/ (GitOps repo, cache, state), the lab's volumes and the images it built",
        i_understand_this_costs_money="target aws: allow changes to a real AWS account",
        yes="target aws: do not ask before deleting",
        keep_cache="keep .lab/cache (default on; --no-keep-cache removes it)",
    ),
)
@lab_task
def down(
    c: InvokeContext,
    purge: bool = False,
    keep_cache: bool = True,
    dry_run: bool = False,
    i_understand_this_costs_money: bool = False,
    yes: bool = False,
    target: str | None = None,
    provider: str | None = None,
    debug: bool = False,
) -> None:
    """Remove what the lab created (found by its labels and markers), newest first. Safe to run twice."""
    from lab.steps import lab

    ctx = make_context(dry_run=dry_run, debug=debug, target=target, provider=provider)
    if ctx.settings.target == "aws":
        lab.down_aws(ctx, allow_real_aws=i_understand_this_costs_money, yes=yes)
    else:
        lab.down(ctx, purge=purge, keep_cache=keep_cache)


@task(help=helps("provider", "debug"))
@lab_task
def status(c: InvokeContext, provider: str | None = None, debug: bool = False) -> None:
    """Components and, per environment: sync status, health, revision, image tag, replicas."""
    from lab.steps import lab

    ctx = make_context(debug=debug, provider=provider)
    show_remembered(ctx)
    lab.status(ctx)


def show_remembered(ctx: Context) -> None:
    """Which of the last `invoke up`'s choices (.lab/settings.json) this command follows, and how to forget them."""
    choices = remembered(ctx.settings)
    if not choices:
        return
    path = last_up_file(ctx.settings.state_dir)
    in_force = ", ".join(f"{name}={value}" for name, value, over in choices if over is None) or "none in force"
    ctx.ui.info(f"Remembered by the last `invoke up` ({path}): {in_force}")
    for name, value, over in choices:
        if over is not None:
            ctx.ui.info(f"  {name}={value} is overridden by {over}")
    ctx.ui.info(f"  a flag or LAB_* variable overrides them; forget them: {forget_hint(ctx.settings.state_dir)}")


@task(help=helps("provider", "dry_run", "debug"))
@lab_task
def dashboard(c: InvokeContext, provider: str | None = None, dry_run: bool = False, debug: bool = False) -> None:
    """Print the Argo CD UI's URL and admin login (minikube: port-forward it)."""
    from lab.steps import lab

    def port_forward(argv: list[str]) -> None:
        print("port-forwarding; Ctrl-C stops it", file=sys.stderr)
        foreground(argv)

    lab.dashboard(make_context(dry_run=dry_run, debug=debug, provider=provider), start_port_forward=port_forward)


@task(help=helps("dry_run", "debug"))
@lab_task
def cache(c: InvokeContext, dry_run: bool = False, debug: bool = False) -> None:
    """Save every pinned image and the Argo CD manifest under .lab/cache, for `invoke up --offline`."""
    from lab.steps import lab

    lab.cache(make_context(dry_run=dry_run, debug=debug))


@task(
    help=helps(
        "dry_run",
        "debug",
        no_wait="stop after the GitOps commit is pushed (no cluster needed)",
        allow_dirty="ship uncommitted app changes (the tag gets -dirty)",
        pin_digest="pin the image digest in the overlay, not only the tag",
        registry="push to: local (default) or ecr",
        scan_severity="the image scan blocks at this severity: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL (default) or off",
        allow_vulnerable="ship despite this finding (an ID such as CVE-2024-1234; repeat the flag for more): "
        "recorded in the deploy commit's Accepted-Risk trailer",
    ),
    iterable=["allow_vulnerable"],
)
@lab_task
def ship(
    c: InvokeContext,
    no_wait: bool = False,
    allow_dirty: bool = False,
    pin_digest: bool = False,
    registry: str | None = None,
    scan_severity: str | None = None,
    allow_vulnerable: list[str] | None = None,
    dry_run: bool = False,
    debug: bool = False,
) -> None:
    """Quality gate → build → scan → tag <sha>-<UTC time> → push → bump dev in the GitOps repo → Argo CD syncs dev."""
    from lab.steps import ship as ship_steps

    ctx = make_context(dry_run=dry_run, debug=debug, push_registry=registry, scan_severity=scan_severity)
    ship_steps.ship(
        ctx,
        allow_dirty=allow_dirty,
        no_wait=no_wait,
        pin_digest=pin_digest,
        watcher=_watcher(ctx),
        allow_vulnerable=allow_vulnerable or (),
    )


@task(help=helps("dry_run", "debug", from_="source environment (dev or staging)", to="target (staging or prod)"))
@lab_task
def promote(
    c: InvokeContext, from_: str = "dev", to: str = "staging", dry_run: bool = False, debug: bool = False
) -> None:
    """Copy the exact image (tag and digest) running in one environment into the next one's overlay."""
    from lab.steps import release

    ctx = make_context(dry_run=dry_run, debug=debug)
    release.promote(ctx, from_, to, watcher=_watcher(ctx))


@task(help=helps("env", "yes", "as_", "dry_run", "debug"))
@lab_task
def sync(
    c: InvokeContext, env: str, yes: bool = False, as_: str | None = None, dry_run: bool = False, debug: bool = False
) -> None:
    """Manually sync an environment as a persona (Argo CD's RBAC decides): show the diff, confirm (prod), sync
    through Argo CD's API server, wait for Synced + Healthy."""
    from lab.steps import lab
    from lab.steps.personas import check_persona

    environment(env)
    check_persona(as_)
    lab.sync(make_context(dry_run=dry_run, debug=debug), env, yes=yes, persona=as_)


@task(
    help=helps(
        "env",
        "as_",
        "dry_run",
        "debug",
        to="a deploy commit to go back to (default: undo the last deploy)",
        no_wait="stop after the revert is pushed",
    )
)
@lab_task
def rollback(
    c: InvokeContext,
    env: str,
    to: str | None = None,
    no_wait: bool = False,
    as_: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
) -> None:
    """`git revert` the last deploy of ENV (or go back to --to), push, sync (staging, prod: as a persona, through
    Argo CD's API server), and time the way back."""
    from lab.steps import release
    from lab.steps.personas import check_persona

    environment(env)  # an unknown ENV first: the hint below names it
    check_persona(as_)
    if to is not None and not to.strip():  # `--to ''` is not "no --to": it must not undo the last deploy
        raise ConfigError(
            "--to is empty: name the deploy commit to go back to",
            hint=f"`invoke history {env}` lists the deploys; without --to, rollback undoes the last one",
        )
    ctx = make_context(dry_run=dry_run, debug=debug)
    release.rollback(ctx, env, to and to.strip(), watcher=_watcher(ctx, as_), no_wait=no_wait)


@task(
    help=helps(
        "env",
        "dry_run",
        "debug",
        action="set (the only action): seal a value and commit it; setting it again rotates it",
        name="the key in the app's Secret lab-app-secrets, e.g. write-token",
        no_wait="dev: stop after the commit is pushed (do not wait for Argo CD)",
    ),
    positional=["action", "name"],
)
@lab_task
def secret(
    c: InvokeContext,
    action: str,
    name: str | None = None,  # None, not "": invoke fills a positional only while it is None
    env: str = "dev",
    no_wait: bool = False,
    dry_run: bool = False,
    debug: bool = False,
) -> None:
    """Seal a value (from stdin or a no-echo prompt, never argv) for ENV and commit it to the GitOps repo."""
    from lab.steps import secret as secret_steps

    if action != "set" or not name:
        what = f"unknown action {action!r}" if action != "set" else "no secret NAME"
        raise ConfigError(f"{what} for `invoke secret`", hint="invoke secret set write-token --env dev")
    environment(env)
    value = secret_steps.read_value(name)
    ctx = make_context(dry_run=dry_run, debug=debug)
    secret_steps.set_secret(ctx, name, env, value, watcher=_watcher(ctx), no_wait=no_wait)


@task(help=helps("env", "debug", limit="how many deploys to show"))
@lab_task
def history(c: InvokeContext, env: str, limit: int = 20, debug: bool = False) -> None:
    """The audit trail of ENV from the GitOps repo's log: when, who, app commit, image, digest, rollbacks."""
    from lab.steps import release

    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}", hint="valid values: a whole number from 1")
    ctx = make_context(debug=debug)
    release.history(ctx, env, limit=limit, watcher=_watcher(ctx))


@task(
    help=helps(
        "debug",
        follow="print each new notification as it arrives, until the timeout or Ctrl-C",
        limit="how many of the latest to show (without --follow)",
        timeout="seconds --follow runs (default 600)",
    )
)
@lab_task
def notifications(
    c: InvokeContext, follow: bool = False, limit: int = 20, timeout: int = 600, debug: bool = False
) -> None:
    """Argo CD's notifications (sync succeeded or failed, health degraded) from the lab's receiver, newest first."""
    from lab.steps import notifications as notifications_steps

    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}", hint="valid values: a whole number from 1")
    if not timeout > 0:
        raise ConfigError(f"--timeout must be more than 0 seconds, got {timeout}", hint="e.g. --timeout 300")
    ctx = make_context(debug=debug)
    if not follow:
        notifications_steps.notifications(ctx, limit=limit)
        return
    try:
        notifications_steps.follow(ctx, timeout=timeout)
    except KeyboardInterrupt:
        ctx.ui.info("stopped (Ctrl-C)")


@task(
    help=helps(
        "debug",
        env="dev, staging or prod (default: all three)",
        since="start of the window: YYYY-MM-DD or an ISO 8601 time (default: the first commit of the environment)",
        json="print the figures as JSON (per environment) instead of the table",
        html="also write a self-contained HTML report (inline SVG charts) to this file",
        prometheus="also write the figures in Prometheus text format (lab_dora_*) to this file",
        chart="print the per-day chart under the table (default on; --no-chart to leave it out)",
        publish="also PUT the figures (lab_dora_*) to the notification receiver's /metrics, for Prometheus",
    )
)
@lab_task
def metrics(
    c: InvokeContext,
    env: str | None = None,
    since: str | None = None,
    json: bool = False,
    html: str | None = None,
    prometheus: str | None = None,
    chart: bool = True,
    publish: bool = False,
    debug: bool = False,
) -> None:
    """The four DORA keys per environment from the GitOps history (and Argo CD's, when it answers)."""
    from pathlib import Path

    from lab.clients.argocd import ApplicationClient
    from lab.gitops.repo import utc_now
    from lab.steps import metrics as metrics_steps

    envs = metrics_steps.environments(env)  # an unknown ENV first: exit 2 listing the environments
    now = utc_now()
    start = metrics_steps.parse_since(since, now) if since is not None else None
    for flag, value in (("--html", html), ("--prometheus", prometheus)):
        if value is not None and not value.strip():
            raise ConfigError(f"{flag} is empty: name the file to write", hint=f"e.g. {flag} metrics.out")
        if value:
            metrics_steps.check_target(Path(value), flag)
    ctx = make_context(debug=debug)

    def read_app(name: str) -> dict[str, Any]:
        return ApplicationClient.from_kubeconfig(ctx.settings.kube_context).get_object(name)

    reports = metrics_steps.collect(ctx, envs, since=start, read_app=read_app, now=lambda: now)
    metrics_steps.show(ctx, reports, as_json=json, chart=chart)
    if html:
        metrics_steps.write_html(Path(html), reports, now)
        ctx.ui.info(f"wrote {html}")
    if prometheus:
        metrics_steps.write_prometheus(Path(prometheus), reports)
        ctx.ui.info(f"wrote {prometheus}")
    if publish:
        from lab.steps import notifications as notifications_steps

        ctx.ui.info(f"published to {notifications_steps.publish_dora(ctx, reports)}")


@task(
    name="demo-drift",
    help=helps(
        "dry_run",
        "debug",
        env="dev (self-heal on, default) or staging (manual sync)",
        change=drift_kinds.task_help(),
        heal="staging: sync at the end, as `invoke sync staging` would",
        observe="staging: seconds to watch it stay OutOfSync (default 30)",
    ),
)
@lab_task
def demo_drift(
    c: InvokeContext,
    env: str = "dev",
    change: str = drift_kinds.DEFAULT,
    heal: bool = False,
    observe: float = 30.0,
    dry_run: bool = False,
    debug: bool = False,
) -> None:
    """Change the cluster by hand and watch Argo CD notice it; dev heals itself, staging waits for a sync."""
    from lab.steps import drift

    if not (observe >= 0 and math.isfinite(observe)):
        raise ConfigError(f"--observe must be 0 or more seconds, got {observe:g}", hint="valid values: e.g. 30")
    drift.demo_drift(make_context(dry_run=dry_run, debug=debug), env, change, heal=heal, observe=observe)


@task(
    help=helps(
        "dry_run",
        "debug",
        route="the URL rule that answers 500 (default /api/v1/items)",
        no_wait="stop after the deploy commit is pushed",
    )
)
@lab_task
def demo_bad_release(
    c: InvokeContext,
    route: str = "/api/v1/items",
    no_wait: bool = False,
    dry_run: bool = False,
    debug: bool = False,
) -> None:
    """Deploy a bad release to dev: dev's image, ready, but ROUTE answers 500; watch the error ratio, roll it back."""
    from lab.steps import bad_release

    if not route.startswith("/"):
        raise ConfigError(
            f"--route must be a URL rule starting with /, got {route!r}", hint="e.g. --route /api/v1/items"
        )
    ctx = make_context(dry_run=dry_run, debug=debug)
    bad_release.demo_bad_release(ctx, route, watcher=_watcher(ctx), no_wait=no_wait)


@task(
    name="demo-netpol",
    help=helps("dry_run", "debug", env="the environment whose default deny is shown (default dev)"),
)
@lab_task
def demo_netpol(c: InvokeContext, env: str = "dev", dry_run: bool = False, debug: bool = False) -> None:
    """A pod of another namespace refused by the default deny, allowed by a commit, refused again after its revert."""
    from lab.core.config import environment
    from lab.steps import netpol

    environment(env)  # an unknown ENV: exit 2 listing the environments, before anything runs
    ctx = make_context(dry_run=dry_run, debug=debug)
    netpol.demo_netpol(ctx, env, watcher=None if dry_run else _watcher(ctx))


# Keep last: a copy of every task's help texts, which invoke consumes when it parses a command line.
_HELP = {name: dict(obj.help) for name, obj in list(globals().items()) if isinstance(obj, Task)}
