"""`invoke metrics` on real git histories: a bare GitOps remote and an app repo in tmp_path, changed through the lab's
own code paths (GitOpsRepo.bump, release.promote, release.rollback: their trailers, their revert) and, for what
happens outside the lab, plain git (`git revert`, a commit without trailers). Real `kubectl kustomize` renders
every commit the lab makes, as in tests/integration/test_gitops_git.py.

Commit times are set through the environment git reads (GIT_COMMITTER_DATE) by a runner that wraps the real one,
so each history has known times and the figures can be counted by hand. No Docker and no cluster: Argo CD's side
is an Application object built from the real commits, with the status.history fields of argo-cd v3.5.1
pkg/apis/application/v1alpha1/types.go (RevisionHistory).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argocd_schema import crd_problems

from lab.core.config import environment, load_settings
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, Conflict
from lab.core.runner import Result, SubprocessRunner
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec, overlay_file, set_image
from lab.gitops.repo import GitOpsRepo
from lab.manifests import argocd as manifests
from lab.steps import metrics, release
from lab.steps.ship import gitops_repo

pytestmark = pytest.mark.integration  # real git (tests/tiers.py)

ROOT = Path(__file__).resolve().parents[2]
REPO = "localhost:5001/lab-app"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.test",
    "GIT_COMMITTER_NAME": "Test Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.test",
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def git_date(moment: datetime) -> dict[str, str]:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}


def sh(*argv: str | Path, cwd: Path | None = None, when: datetime | None = None) -> str:
    env = {**os.environ, **IDENTITY, **(git_date(when) if when else {})}
    res = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise AssertionError(f"{argv} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res.stdout


class ClockedRunner(SubprocessRunner):
    """The real runner; the commits git makes through it are dated `now` (committer and author)."""

    now: datetime = T0

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **kw: Any) -> Result:
        if "commit" in argv or "revert" in argv:
            env = {**(env or {}), **git_date(self.now)}
        return super().run(argv, env=env, **kw)


class FakeRegistry:
    """Every tag a registry holds (the real registry is exercised in tests/integration/test_ship.py)."""

    def __call__(self, host: str, name: str, tag: str) -> str | None:
        return "sha256:" + tag.encode().hex().ljust(64, "0")[:64]


class Lab:
    """A GitOps remote, the app repo, and the lab's own working clone of the remote, with a clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.remote = tmp_path / "gitops.git"
        sh("git", "init", "--quiet", "--bare", "-b", "main", self.remote)
        self.app = tmp_path / "app-repo"
        self.app.mkdir()
        sh("git", "init", "--quiet", "-b", "main", self.app)
        sh("cp", "-r", ROOT / "overlays", self.app / "overlays")
        self.clock = ClockedRunner()
        settings = load_settings(
            {"state_dir": tmp_path / "state", "gitops_remote": str(self.remote)},
            environ={},
            config_file=tmp_path / "none.toml",
        )
        self.err = io.StringIO()
        self.ctx = Context(settings, self.clock, UI(err=self.err, out=io.StringIO()))
        self.app_commit("seed the overlays", -24 * 60)
        self.repo: GitOpsRepo = gitops_repo(self.ctx, app_root=self.app)
        self.clock.now = at(-120)
        self.repo.open()  # seeds the remote from the app repo's overlays/, dated T0-120 min
        self.reg = FakeRegistry()
        self.clone = tmp_path / "by-hand"
        sh("git", "clone", "--quiet", self.remote, self.clone)

    def app_commit(self, message: str, minute: float) -> str:
        (self.app / "app.txt").write_text(message)
        sh("git", "-C", self.app, "add", "-A")
        sh("git", "-C", self.app, "commit", "--quiet", "-m", message, when=at(minute))
        return sh("git", "-C", self.app, "rev-parse", "HEAD").strip()

    def deploy(self, tag: str, minute: float, app_commit: str) -> str:
        self.clock.now = at(minute)
        return self.repo.bump("dev", ImageSpec(REPO, tag), app_commit=app_commit).sha

    def promote(self, minute: float) -> str:
        self.clock.now = at(minute)
        return release.promote(self.ctx, "dev", "staging", lookup_digest=self.reg, repo=self.repo).gitops_commit

    def rollback(self, minute: float, env: str = "dev", to: str | None = None) -> str:
        self.clock.now = at(minute)
        done = release.rollback(self.ctx, env, to, no_wait=True, lookup_digest=self.reg, repo=self.repo)
        return done.gitops_commit

    def by_hand(self, minute: float, *git_args: str) -> str:
        """A plain git command in a clone of the remote (outside the lab), then push."""
        sh("git", "-C", self.clone, "pull", "--quiet", "--ff-only")
        sh("git", "-C", self.clone, *git_args, when=at(minute))
        sh("git", "-C", self.clone, "push", "--quiet", "origin", "main")
        return sh("git", "-C", self.clone, "rev-parse", "HEAD").strip()

    def revert_by_hand(self, sha: str, minute: float) -> str:
        return self.by_hand(minute, "revert", "--no-edit", sha)

    def untrailered_deploy(self, tag: str, minute: float) -> str:
        sh("git", "-C", self.clone, "pull", "--quiet", "--ff-only")
        path = self.clone / overlay_file("dev")
        path.write_text(set_image(path.read_text(), ImageSpec(REPO, tag)))
        return self.by_hand(minute, "commit", "--quiet", "-am", "bump dev by hand")

    def figures(
        self, env: str = "dev", *, since: datetime | None = None, until: float = 24 * 60, read_app: Any = None
    ) -> dict[str, Any]:
        reports = metrics.collect(
            self.ctx, [env], since=since, read_app=read_app, app_root=self.app, repo=self.repo, now=lambda: at(until)
        )
        return reports[0].figures.as_json()


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


def build_history(lab: Lab) -> dict[str, str]:
    """dev's history, counted by hand in test_a_small_history_matches_a_hand_count (minutes from T0)."""
    a1 = lab.app_commit("a1", -50)
    a2 = lab.app_commit("a2", 20)
    a3 = lab.app_commit("a3", 55)
    shas = {"D1": lab.deploy("t1", 10, a1)}  # lead 60 min
    shas["D2"] = lab.deploy("t2", 30, a2)  # lead 10 min; rolled back by R1 15 min later
    shas["R1"] = lab.rollback(45)
    shas["D3"] = lab.deploy("t3", 60, a3)  # lead 5 min; reverted by hand 30 min later
    shas["H1"] = lab.revert_by_hand(shas["D3"], 90)
    shas["U1"] = lab.untrailered_deploy("t4", 120)  # a deploy without trailers: no lead time
    a4 = lab.app_commit("a4", 160)  # dated 10 min AFTER the deploy that names it: clock skew
    shas["D4"] = lab.deploy("t5", 150, a4)  # lead -10 min → 0, counted in clock_skew
    shas["R2"] = lab.rollback(170)  # undoes D4 …
    shas["H2"] = lab.revert_by_hand(shas["R2"], 200)  # … and a plain revert of that rollback puts D4 back
    return shas


def test_a_small_history_matches_a_hand_count(lab: Lab) -> None:
    build_history(lab)
    out = lab.figures()
    # Window: the seed commit (T0-120 min) → T0+24 h: 1560 min = 1.0833 days.
    # Deployments: D1 D2 D3 U1 D4 (5); rollbacks: R1 H1 R2 H2 (4).
    assert out["deployments"] == 5
    assert out["rollbacks"] == 4
    assert out["deployment_frequency_per_day"] == pytest.approx(5 / (1560 / 1440), abs=1e-6)
    # Lead times (s): D1 3600, D2 600, D3 300, D4 0 (skewed); U1 has none. Median (300+600)/2; p90 sorted[ceil(3.6)-1].
    assert out["lead_time_seconds"] == {"median": 450.0, "p90": 3600.0}
    assert out["lead_time_samples"] == 4 and out["clock_skew"] == 1 and out["no_lead_time"] == 1
    # Failed: D2 (R1) and D3 (H1); D4's rollback R2 was itself reverted (H2), so D4 does not count.
    assert out["failed_deployments"] == 2
    assert out["change_failure_rate"] == pytest.approx(2 / 5)
    # Restore: D2 → R1 15 min, D3 → H1 30 min.
    assert out["time_to_restore_seconds"] == {"median": (900.0 + 1800.0) / 2}
    assert out["untrailered_deployments"] == 1
    assert out["source"] == "git" and out["sources"]["lead_time_seconds"] == "git"
    assert out["deployment_duration_seconds"] == {"median": None, "p90": None, "samples": 0}
    assert out["window"]["since"] == at(-120).isoformat() and out["window"]["until"] == at(24 * 60).isoformat()
    day = next(d for d in out["days"] if d["day"] == "2026-11-02")
    assert day == {"day": "2026-11-02", "deployments": 5, "failed": 2, "rollbacks": 4, "lead_time_median": 450.0}


def test_since_window_edges(lab: Lab) -> None:
    shas = build_history(lab)
    at_d2 = lab.figures(since=at(30))  # D2's own commit time: inside (the window includes its start)
    assert at_d2["deployments"] == 4 and at_d2["failed_deployments"] == 2
    assert at_d2["lead_time_seconds"]["median"] == 300.0  # D2 600, D3 300, D4 0
    after_d2 = lab.figures(since=at(30) + timedelta(seconds=1))  # one second later: D2 is outside
    assert after_d2["deployments"] == 3 and after_d2["failed_deployments"] == 1
    assert after_d2["rollbacks"] == 4  # R1 (T0+45) is inside: a rollback counts where it happens
    assert after_d2["time_to_restore_seconds"]["median"] == 1800.0  # only D3 → H1
    late = lab.figures(since=at(201))
    assert late["deployments"] == 0 and late["rollbacks"] == 0 and late["change_failure_rate"] is None
    assert shas  # the history was built


def test_no_deploys_and_one_deploy(lab: Lab) -> None:
    none = lab.figures()
    assert none["deployments"] == 0 and none["rollbacks"] == 0
    assert none["change_failure_rate"] is None and none["lead_time_seconds"] == {"median": None, "p90": None}
    assert none["time_to_restore_seconds"] == {"median": None} and none["deployment_frequency_per_day"] == 0

    lab.deploy("t1", 10, lab.app_commit("a1", 0))
    one = lab.figures(until=3 * 1440 - 120)  # the seed at T0-120 → exactly 3 days
    assert one["deployments"] == 1 and one["deployment_frequency_per_day"] == pytest.approx(1 / 3)
    assert one["lead_time_seconds"] == {"median": 600.0, "p90": 600.0}
    assert one["change_failure_rate"] == 0 and one["time_to_restore_seconds"] == {"median": None}


def test_an_empty_gitops_remote_has_nothing_deployed(tmp_path: Path) -> None:
    remote = tmp_path / "empty.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", remote)
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "x.toml"
    )
    err = io.StringIO()
    ctx = Context(settings, SubprocessRunner(), UI(err=err, out=io.StringIO()))
    reports = metrics.collect(ctx, ["dev", "prod"], app_root=tmp_path, now=lambda: T0)
    assert [r.figures.deployments for r in reports] == [0, 0]
    assert "is empty: nothing deployed yet" in err.getvalue()


def test_the_labs_rollback_back_to_a_rolled_back_deploy_withdraws_the_failure(lab: Lab) -> None:
    """A rollback of a rollback through the lab: `invoke rollback dev --to D2` after R1 undid D2."""
    a1, a2 = lab.app_commit("a1", 0), lab.app_commit("a2", 1)
    lab.deploy("t1", 10, a1)
    d2 = lab.deploy("t2", 20, a2)
    lab.rollback(30)
    assert lab.figures()["change_failure_rate"] == pytest.approx(1 / 2)
    lab.rollback(40, to=d2)
    out = lab.figures()
    assert out["deployments"] == 2 and out["rollbacks"] == 2
    assert out["change_failure_rate"] == 0 and out["time_to_restore_seconds"] == {"median": None}


def test_promotions_count_in_the_target_with_the_app_commits_lead_time(lab: Lab) -> None:
    a1 = lab.app_commit("a1", 0)
    lab.deploy("t1", 10, a1)
    lab.promote(70)
    staging = lab.figures("staging")
    assert staging["deployments"] == 1 and staging["lead_time_seconds"]["median"] == 70 * 60.0
    assert lab.figures("dev")["deployments"] == 1


def test_a_deploy_without_trailers_counts_without_a_lead_time(lab: Lab) -> None:
    lab.untrailered_deploy("t9", 10)
    out = lab.figures()
    assert out["deployments"] == 1 and out["untrailered_deployments"] == 1
    assert out["lead_time_samples"] == 0 and out["no_lead_time"] == 1
    # A hand change that does not touch the image (replicas) is not a deploy.
    path = lab.clone / overlay_file("dev")
    path.write_text(path.read_text() + "\n# a comment by hand\n")
    lab.by_hand(20, "commit", "--quiet", "-am", "comment dev by hand")
    assert lab.figures()["deployments"] == 1


def test_a_deploy_by_hand_of_a_tag_the_lab_built_gets_the_lead_time_of_the_commit_the_tag_names(lab: Lab) -> None:
    a1 = lab.app_commit("a1", 0)
    lab.untrailered_deploy(f"{a1[:7]}-20261102090000", 25)  # make_tag's form: <sha7>-<UTC yyyymmddHHMMSS>
    out = lab.figures()
    assert out["untrailered_deployments"] == 1 and out["lead_time_seconds"]["median"] == 25 * 60.0


def test_an_app_commit_dated_after_its_deploy_never_gives_a_negative_lead_time(lab: Lab) -> None:
    lab.deploy("t1", 10, lab.app_commit("a1", 40))  # the app repo's clock is 30 min ahead
    out = lab.figures()
    assert out["lead_time_seconds"] == {"median": 0.0, "p90": 0.0} and out["clock_skew"] == 1
    assert "dated after their deploy" in " ".join(metrics_notes(lab))


def metrics_notes(lab: Lab) -> list[str]:
    from lab.metrics import report

    reports = metrics.collect(lab.ctx, ["dev"], app_root=lab.app, repo=lab.repo, now=lambda: at(1440))
    return report.notes(reports[0].figures)


# Argo CD -------------------------------------------------------------------------------------------------
def application(entries: list[dict[str, Any]], *, health: str = "Healthy", limit: int | None = None) -> dict[str, Any]:
    """lab-dev's Application as the lab generates it, with a status carrying status.history ENTRIES (argo-cd v3.5.1
    types.go RevisionHistory); checked against the v3.5.1 CRD (tests/data/argocd), so no field name is guessed."""
    app = manifests.application(environment("dev"), manifests.DEFAULT_REPO_URL)
    if limit is not None:
        app["spec"]["revisionHistoryLimit"] = limit
    app["status"] = {
        "sync": {"status": "Synced", "revision": entries[-1]["revision"] if entries else ""},
        "health": {"status": health},
        "history": entries,
    }
    assert crd_problems(app) == [], crd_problems(app)
    return app


def entry(n: int, revision: str, started: datetime, deployed: datetime) -> dict[str, Any]:
    return {
        "id": n,
        "revision": revision,
        "deployStartedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "deployedAt": deployed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"repoURL": manifests.DEFAULT_REPO_URL, "path": "overlays/dev", "targetRevision": "main"},
        "initiatedBy": {"automated": True},
    }


def test_with_argocd_live_is_the_sync_that_ran_it_and_durations_come_from_it(lab: Lab) -> None:
    a1, a2 = lab.app_commit("a1", 0), lab.app_commit("a2", 1)
    d1 = lab.deploy("t1", 10, a1)
    lab.deploy("t2", 20, a2)
    # A commit that changes only staging after d2: Argo CD syncs it for dev too; it carries d2.
    lab.promote(25)
    head = sh("git", "-C", lab.remote, "rev-parse", "main").strip()
    app = application([entry(0, d1, at(12), at(12.5)), entry(1, head, at(26), at(27))])
    asked: list[str] = []

    def read_app(name: str) -> dict[str, Any]:
        asked.append(name)
        return app

    out = lab.figures(read_app=read_app)
    assert asked == ["lab-dev"]
    assert out["source"] == "argocd"
    # d1: app 0 → live 12.5 min; d2: app 1 → live at the sync of `head` (27 min).
    assert out["lead_time_seconds"] == {"median": (750.0 + 1560.0) / 2, "p90": 1560.0}
    assert out["deployment_duration_seconds"] == {"median": 45.0, "p90": 60.0, "samples": 2}
    assert out["sources"]["lead_time_seconds"] == "argocd"

    # Degraded now: the last sync's deploy is not live (no lead time for it), the older one still is.
    degraded = lab.figures(read_app=lambda name: application(app["status"]["history"], health="Degraded"))
    assert degraded["lead_time_samples"] == 1 and degraded["lead_time_seconds"]["median"] == 750.0
    # A full history (revisionHistoryLimit entries) may have lost older syncs: its first entry's times are git's.
    full = lab.figures(read_app=lambda name: application(app["status"]["history"], limit=2))
    assert full["sources"]["lead_time_seconds"] == "argocd+git"


def test_no_cluster_means_git_figures_and_says_so(lab: Lab) -> None:
    lab.deploy("t1", 10, lab.app_commit("a1", 0))

    def down(name: str) -> dict[str, Any]:
        raise ClusterUnreachable("cannot reach the Kubernetes API to read Application lab-dev: refused")

    reports = metrics.collect(lab.ctx, ["dev"], read_app=down, app_root=lab.app, repo=lab.repo, now=lambda: at(60))
    assert reports[0].figures.source == "git" and "cannot reach" in reports[0].cluster
    metrics.show(lab.ctx, reports)
    assert "the figures come from git" in lab.err.getvalue()


def test_an_environment_without_its_application_falls_back_to_git_alone(lab: Lab) -> None:
    d1 = lab.deploy("t1", 10, lab.app_commit("a1", 0))
    asked: list[str] = []

    def read_app(name: str) -> dict[str, Any]:
        asked.append(name)
        if name != "lab-dev":
            raise Conflict(f"Argo CD Application {name} not found")
        return application([entry(0, d1, at(11), at(12))])

    reports = metrics.collect(
        lab.ctx, ["dev", "staging", "prod"], read_app=read_app, app_root=lab.app, repo=lab.repo, now=lambda: at(60)
    )
    assert asked == ["lab-dev", "lab-staging", "lab-prod"]  # a missing Application stops nothing
    assert [r.figures.source for r in reports] == ["argocd", "git", "git"]
    metrics.show(lab.ctx, reports, chart=False)
    said = lab.err.getvalue()
    assert "staging: Argo CD Application lab-staging not found: its figures come from git" in said
    assert "no cluster answers" not in said


# The task, from a shell ------------------------------------------------------------------------------------
def invoke(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_invoke_metrics_from_a_shell(lab: Lab, tmp_path: Path) -> None:
    """The task on a real history whose app commit is this project's own HEAD (the task reads the app repo at the
    project root): table, JSON, HTML, Prometheus; exit 2 for a bad --since or environment."""
    head = sh("git", "-C", ROOT, "rev-parse", "HEAD").strip()
    head_time = datetime.fromisoformat(sh("git", "-C", ROOT, "show", "-s", "--format=%cI", head).strip())
    # Deployed after HEAD and before now (HEAD may be minutes old): whole seconds, as git stores them.
    lag = min(timedelta(minutes=30), (datetime.now(UTC) - head_time) / 2)
    lab.clock.now = head_time + timedelta(seconds=int(lag.total_seconds()))
    lead = float(int(lag.total_seconds()))
    lab.repo.bump("dev", ImageSpec(REPO, "t1"), app_commit=head)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env.update(
        LAB_STATE_DIR=str(tmp_path / "state"),
        LAB_GITOPS_REMOTE=str(lab.remote),
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        COLUMNS="160",
    )
    html, prom = tmp_path / "report.html", tmp_path / "dora.prom"
    res = invoke("metrics", "--json", "--html", str(html), "--prometheus", str(prom), env=env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert list(data) == ["dev", "staging", "prod"]
    dev = data["dev"]
    for key in ("deployments", "deployment_frequency_per_day", "change_failure_rate", "rollbacks", "source"):
        assert key in dev
    assert dev["deployments"] == 1 and dev["source"] == "git"
    assert dev["lead_time_seconds"] == {"median": lead, "p90": lead}
    assert dev["time_to_restore_seconds"] == {"median": None}
    assert "the figures come from git" in res.stderr

    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page

    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    deploys = families["lab_dora_deployments"]
    assert deploys.type == "gauge"
    assert {s.labels["env"]: s.value for s in deploys.samples} == {"dev": 1.0, "staging": 0.0, "prod": 0.0}
    lead_family = families["lab_dora_lead_time_seconds"]
    assert lead_family.type == "summary"
    assert {(s.name, s.labels.get("quantile")): s.value for s in lead_family.samples if s.labels["env"] == "dev"} == {
        ("lab_dora_lead_time_seconds", "0.5"): lead,
        ("lab_dora_lead_time_seconds", "0.9"): lead,
        ("lab_dora_lead_time_seconds_sum", None): lead,
        ("lab_dora_lead_time_seconds_count", None): 1.0,
    }

    table = invoke("metrics", "--env", "dev", env=env)
    assert table.returncode == 0, table.stderr
    assert "Delivery metrics (DORA)" in table.stdout and "lead p50/p90: app commit" in table.stdout
    assert "deploys   │" in table.stdout

    bad = invoke("metrics", "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr and "YYYY-MM-DD" in bad.stderr
    unknown = invoke("metrics", "--env", "qa", env=env)
    assert unknown.returncode == 2 and "valid environments: dev, staging, prod" in unknown.stderr
    nowhere = invoke("metrics", "--html", str(tmp_path / "no-such-dir" / "x.html"), env=env)
    assert nowhere.returncode == 2 and "--html" in nowhere.stderr and "does not exist" in nowhere.stderr
    assert "create the directory" in nowhere.stderr and nowhere.stdout == ""  # refused before anything ran


def test_a_bad_since_is_a_config_error_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match="--since") as info:
        metrics.parse_since("2026-02-30", T0)
    assert info.value.exit_code == 2 and "YYYY-MM-DD" in (info.value.hint or "")
    assert metrics.parse_since("2026-11-01", T0) == datetime(2026, 11, 1, tzinfo=UTC)
    assert metrics.parse_since("2026-11-01T10:00:00", T0) == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert metrics.parse_since("2026-11-01T10:00:00+02:00", T0) == datetime(2026, 11, 1, 8, tzinfo=UTC)
