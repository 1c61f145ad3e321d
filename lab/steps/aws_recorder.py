"""What `up --target aws` does, recorded instead of done: AWS clients that answer as a fresh account would, a
runner that runs nothing, a UI that keeps the files (aws_plan.py renders what they recorded)."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core.aws_config import AwsSettings
from lab.core.runner import Result
from lab.core.ui import UI
from lab.tools import aws as aws_tool

PLAN_ACCOUNT = "<account>"


@dataclass(frozen=True)
class Recorded:
    """One thing `up` did against the recorders: an AWS API call, a command, a file it wrote, a confirmation."""

    kind: str  # "AWS API" | "command" | "file" | "confirm"
    service: str = ""
    method: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    input: str | None = None
    path: str = ""
    text: str = ""


class Recorder:
    """What `up --target aws` does, recorded instead of done. Its AWS clients answer as a fresh account would:
    nothing of the lab's exists (the cluster and the ECR repository are not found, so they are created), and a
    cluster named by LAB_AWS_EXISTING_CLUSTER exists, ACTIVE, as it must. Its runner is a dry run that runs
    nothing (files are shown, not written; `git credential fill` answers with a stand-in that is never shown), and
    its UI keeps the files and prints nothing."""

    def __init__(self, aws: AwsSettings) -> None:
        self.aws = aws
        self.events: list[Recorded] = []
        self.runner = _RecordingRunner(self)
        self.ui = _RecordingUI(recorder=self)

    def clients(self, service: str) -> Any:
        return _RecordingClient(self, service)

    def confirm(self, prompt: str) -> bool:
        self.events.append(Recorded("confirm", text=prompt.strip()))
        return True

    def answer(self, service: str, method: str, params: Mapping[str, Any]) -> Any:
        from botocore.exceptions import ClientError

        def not_found(code: str, operation: str) -> ClientError:
            return ClientError({"Error": {"Code": code, "Message": "not found (plan)"}}, operation)

        if (service, method) == ("sts", "get_caller_identity"):
            return {"Account": PLAN_ACCOUNT, "Arn": f"arn:aws:iam::{PLAN_ACCOUNT}:<you>", "UserId": ""}
        if (service, method) == ("eks", "describe_cluster"):
            if not self.aws.existing_cluster:
                raise not_found("ResourceNotFoundException", "DescribeCluster")
            name = str(params.get("name", ""))
            return {"cluster": {"name": name, "status": "ACTIVE", "version": self.aws.eks_version, "tags": {}}}
        if (service, method) == ("ecr", "describe_repositories"):
            raise not_found("RepositoryNotFoundException", "DescribeRepositories")
        if (service, method) == ("ecr", "create_repository"):
            name = str(params["repositoryName"])
            return {
                "repository": {
                    "repositoryName": name,
                    "repositoryArn": f"arn:aws:ecr:{self.aws.region}:{PLAN_ACCOUNT}:repository/{name}",
                    "repositoryUri": f"{aws_tool.registry_host(PLAN_ACCOUNT, self.aws.region)}/{name}",
                }
            }
        return {}


class _RecordingClient:
    def __init__(self, recorder: Recorder, service: str) -> None:
        self._recorder, self._service = recorder, service

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            self._recorder.events.append(Recorded("AWS API", self._service, method, params))
            return self._recorder.answer(self._service, method, params)

        return call


@dataclass
class _RecordingRunner:
    """A dry run's runner that records each command (with its stdin) and runs nothing, reads included."""

    recorder: Recorder
    dry_run: bool = True

    @property
    def reads(self) -> _RecordingRunner:
        return self

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result:
        args = tuple(str(a) for a in argv)
        self.recorder.events.append(Recorded("command", argv=args, input=input))
        stdout = (
            "username=<from git credential fill>\npassword=<never shown>\n"
            if args[1:3] == ("credential", "fill")
            else ""
        )
        return Result(args, 0, stdout, "")


@dataclass
class _RecordingUI(UI):
    """Prints nothing; keeps the files a dry run shows (what the real run writes)."""

    recorder: Recorder | None = None
    quiet: bool = True

    def __post_init__(self) -> None:
        self.err, self.out = io.StringIO(), io.StringIO()
        super().__post_init__()

    def manifest(self, title: str, text: str) -> None:
        if self.recorder is not None:
            self.recorder.events.append(Recorded("file", path=title, text=text))

    def warn(self, message: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        pass
