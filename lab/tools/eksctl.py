"""eksctl: argv builders. Creating a cluster takes 15-25 minutes (CloudFormation stacks for the control plane,
then the node group); eksctl waits by itself (its default timeout is 25 minutes, eksctl types.go
DefaultWaitTimeout), so the lab's process timeouts are a little longer than that.

Commands (eksctl docs, "Creating and managing clusters", "Work with node groups"):
  eksctl create cluster -f FILE
  eksctl create nodegroup --config-file FILE
  eksctl delete cluster --name NAME --region REGION --wait
`delete cluster` also removes load balancers that Kubernetes Services created (eksctl pkg/elb/cleanup.go), but
AWS asks to delete those Services first (EKS API reference, DeleteCluster); the lab's `down` does that.
"""

from __future__ import annotations

from pathlib import Path

from lab.core.runner import Runner

EKSCTL = "eksctl"
CREATE_TIMEOUT = 45 * 60.0  # seconds
DELETE_TIMEOUT = 30 * 60.0
HINT = "install eksctl (https://eksctl.io/installation/) and check `aws sts get-caller-identity`"


def create_cluster_argv(config: Path, *, eksctl: str = EKSCTL) -> list[str]:
    return [eksctl, "create", "cluster", "-f", str(config)]


def create_nodegroup_argv(config: Path, *, eksctl: str = EKSCTL) -> list[str]:
    return [eksctl, "create", "nodegroup", "--config-file", str(config)]


def delete_cluster_argv(name: str, region: str, *, eksctl: str = EKSCTL) -> list[str]:
    return [eksctl, "delete", "cluster", "--name", name, "--region", region, "--wait"]


def create_cluster(runner: Runner, config: Path, *, eksctl: str = EKSCTL) -> None:
    runner.run(create_cluster_argv(config, eksctl=eksctl), timeout=CREATE_TIMEOUT, hint=HINT)


def create_nodegroup(runner: Runner, config: Path, *, eksctl: str = EKSCTL) -> None:
    runner.run(create_nodegroup_argv(config, eksctl=eksctl), timeout=CREATE_TIMEOUT, hint=HINT)


def delete_cluster(runner: Runner, name: str, region: str, *, eksctl: str = EKSCTL) -> None:
    runner.run(delete_cluster_argv(name, region, eksctl=eksctl), timeout=DELETE_TIMEOUT, hint=HINT)


def version(runner: Runner, *, eksctl: str = EKSCTL) -> str:
    """`eksctl version` ("" when it does not answer)."""
    res = runner.run([eksctl, "version"], check=False, timeout=30)
    return res.stdout.strip() if res.returncode == 0 else ""
