"""`invoke up --target aws --plan`: stable output (snapshot tests/data/aws/plan.txt, compared exactly), no AWS call
(a client factory and boto3.client that fail when called), no command (the FakeRunner records none), and the
cost estimate's arithmetic.

Update the snapshot after a deliberate change: LAB_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_aws_plan.py
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from aws_guard import aws_endpoint_guard  # noqa: F401 (autouse: no real AWS endpoint, ever)
from fakes import FakeRunner

from lab.core import cost
from lab.core.aws_config import AwsSettings
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import DryRunRunner
from lab.core.ui import UI
from lab.steps import aws as aws_steps

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "aws" / "plan.txt"
REMOTE = "https://git.example.com/team/gitops.git"


class NoAws:
    """A client factory that fails the test if anything asks it for a client."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, service: str) -> Any:
        self.asked.append(service)
        raise AssertionError(f"the plan asked for an AWS client: {service}")


@pytest.fixture(autouse=True)
def no_boto3(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Every attempt to create a boto3 client, recorded even if the code under test swallows the failure."""
    import boto3

    attempts: list[tuple[object, ...]] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"boto3 client created during a plan: {args}")

    monkeypatch.setattr(boto3, "client", refuse)
    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    return attempts


def make_ctx(runner: FakeRunner | DryRunRunner | None = None, **overrides: Any) -> Context:
    values: dict[str, Any] = {"state_dir": Path(".lab"), "gitops_remote": REMOTE, "target": "aws"}
    values.update(overrides)
    return Context(Settings(**values), runner or FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def run_plan(ctx: Context, aws: AwsSettings | None = None, environ: dict[str, str] | None = None) -> str:
    clients = NoAws()
    result = aws_steps.up_aws(ctx, aws=aws or AwsSettings(), plan=True, clients=clients, environ=environ or {})
    assert isinstance(result, aws_steps.Plan)
    assert clients.asked == []
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert out == result.render() + "\n"  # what was printed is the plan (rich adds the final newline)
    return result.render()


def test_plan_matches_the_snapshot() -> None:
    ctx = make_ctx()
    text = run_plan(ctx)
    if os.environ.get("LAB_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), "plan output changed; LAB_UPDATE_SNAPSHOTS=1 updates tests/data/aws/plan.txt"


def test_plan_makes_no_aws_call_and_runs_nothing(
    no_boto3: list[tuple[object, ...]], request: pytest.FixtureRequest
) -> None:
    runner = FakeRunner()
    run_plan(make_ctx(runner))  # its client factory records every client asked for: none
    assert runner.calls == [], runner.dump()  # no command at all (eksctl, aws, kubectl, git, ...)
    assert no_boto3 == []  # no boto3 client either, not even one whose failure was caught
    assert request.getfixturevalue("aws_endpoint_guard") == []  # and no request to an AWS endpoint


def test_plan_is_the_same_twice() -> None:
    assert run_plan(make_ctx()) == run_plan(make_ctx())


def test_plan_lists_every_aws_call_and_command() -> None:
    text = run_plan(make_ctx())
    for expected in (
        "sts.get_caller_identity()",
        'eks.describe_cluster(name="gitops-lab")',
        "eksctl create cluster -f .lab/aws/eksctl-gitops-lab.yaml",
        "aws eks update-kubeconfig --region us-east-1 --name gitops-lab --alias eks-gitops-lab",
        'ecr.create_repository(repositoryName="lab-app", imageTagMutability="IMMUTABLE"',
        "ecr.put_lifecycle_policy(",
        "git credential fill",
        "kind: ClusterConfig",  # the generated file itself
        "TOTAL (estimate)",
    ):
        assert expected in text, expected


def test_a_dry_run_prints_the_plan_too() -> None:
    runner = DryRunRunner(out=io.StringIO())
    ctx = make_ctx(runner)
    result = aws_steps.up_aws(ctx, aws=AwsSettings(), clients=NoAws(), environ={})
    assert isinstance(result, aws_steps.Plan)
    assert runner.calls == []


def test_credentials_never_appear_in_the_plan() -> None:
    ctx = make_ctx(gitops_remote="https://bob:s3cr3t-url@git.example.com/team/gitops.git")
    text = run_plan(ctx, environ={"LAB_GITOPS_TOKEN": "s3cr3t-env", "LAB_GITOPS_USERNAME": "bob"})
    assert "s3cr3t" not in text
    assert "https://<redacted>@git.example.com/team/gitops.git" in text
    assert "on stdin: Secret gitops-lab-repo, AppProject gitops-lab" in text and "(credentials <redacted>)" in text


def test_plan_reports_what_to_fix_first() -> None:
    text = run_plan(make_ctx(gitops_remote=""), AwsSettings(region="mars-1"))
    assert "To fix before `up`" in text
    assert "needs a hosted GitOps repository" in text
    assert "'mars-1' is not an AWS region name" in text


def test_plan_for_an_existing_cluster_creates_none() -> None:
    text = run_plan(make_ctx(), AwsSettings(existing_cluster="team-eks"))
    assert "eksctl create" not in text
    assert "kind: ClusterConfig" not in text
    assert 'eks.describe_cluster(name="team-eks")' in text
    assert "EKS control plane" not in text  # not the lab's to pay for


# The estimate ------------------------------------------------------------------------------------------
def test_estimate_arithmetic_for_the_defaults() -> None:
    est = cost.estimate(AwsSettings(), load_balancers=3)
    monthly = {line.resource: line.monthly for line in est.lines}
    cents = pytest.approx  # each line is rounded to cents
    assert monthly["EKS control plane"] == cents(0.10 * 730, abs=0.005)
    assert monthly["EC2 nodes (t3.medium)"] == cents(2 * 0.0416 * 730, abs=0.005)
    assert monthly["Node root volumes (gp3)"] == cents(2 * 20 * 0.08, abs=0.005)
    assert monthly["Node public IPv4 addresses"] == cents(2 * 0.005 * 730, abs=0.005)
    assert monthly["Load balancers (Service type LoadBalancer)"] == cents(3 * 0.025 * 730, abs=0.005)
    assert monthly["Load balancer public IPv4 addresses"] == cents(3 * 2 * 0.005 * 730, abs=0.005)  # 2 subnets
    assert monthly["ECR storage"] == cents(30 * 0.1 * 0.10, abs=0.005)
    assert est.total == pytest.approx(221.19, abs=0.005)  # the sum, as printed in tests/data/aws/plan.txt
    assert est.per_hour == pytest.approx(0.30, abs=0.005)
    assert est.unpriced == []
    assert all(line.price and line.price.source.startswith("https://") for line in est.lines)


def test_money_format() -> None:
    assert [cost.usd(x) for x in (0.1, 0.0416, 0.005, 73.0, 0.0225)] == [
        "$0.10",
        "$0.0416",
        "$0.005",
        "$73.00",
        "$0.0225",
    ]


def test_estimate_scales_and_says_what_it_cannot_price() -> None:
    small = cost.estimate(AwsSettings(node_count=1), load_balancers=1)
    big = cost.estimate(AwsSettings(node_count=4), load_balancers=3)
    assert big.total > small.total
    odd = cost.estimate(AwsSettings(node_type="m7g.large", region="eu-west-1"), load_balancers=3)
    assert odd.unpriced == ["EC2 nodes (m7g.large)"]
    text = cost.render(odd)
    assert "no price known" in text and "not in the total" in text
    assert "Prices are us-east-1's; eu-west-1 may differ" in text
    assert "3 public subnets" in text  # eksctl makes 3 public subnets outside us-east-1


def test_plan_follows_the_path_it_plans() -> None:
    """The plan is `up`'s own code: with a token in the environment it asks no credential helper (the real `up`
    does not either), and where `up` would stop (credentials from env required but absent), the plan says so."""
    with_token = run_plan(make_ctx(), environ={"LAB_GITOPS_TOKEN": "t0ken"})
    assert "[command] git credential fill" not in with_token
    without = run_plan(make_ctx())
    assert without.count("[command] git credential fill") == 1
    stops = run_plan(make_ctx(), AwsSettings(gitops_credentials="env"))
    assert "To fix before `up`" in stops and "LAB_AWS_GITOPS_CREDENTIALS=env but LAB_GITOPS_TOKEN is not set" in stops
    assert "kubectl" not in stops.split("Resources it creates")[0]  # nothing after the point where `up` stops
