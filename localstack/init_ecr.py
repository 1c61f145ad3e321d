"""Ready hook: create the lab's ECR repositories in the emulator (LocalStack or MiniStack), idempotently.

Mounted at /etc/localstack/init/ready.d/ in the emulator container; both emulators run *.py files from there
once their gateway answers:
  - LocalStack exec()s the file inside its own interpreter with empty globals, so ``__name__`` is "builtins"
    there, and it must raise (never sys.exit) on failure (localstack-core/localstack/runtime/init.py,
    PythonScriptRunner; docs: https://docs.localstack.cloud/references/init-hooks/).
  - MiniStack runs it as ``python init_ecr.py`` with AWS_ENDPOINT_URL and test credentials set
    (ministack/app.py, _run_ready_scripts), and reports completion at GET /_ministack/ready.
Because MiniStack keeps its state in memory, the hook re-creates the repository after every container restart.

Standalone on purpose: the container cannot import the lab, and only botocore is guaranteed in both images
(MiniStack depends on botocore, not boto3). The same logic, with the lab's error types, lives in
lab/tools/ecr.py; tests/unit/test_ecr.py checks that both send the same requests.

Configuration (container environment):
  LAB_ECR_REPOSITORIES   comma-separated repository names (default: lab-app)
  LAB_ECR_KEEP_LAST      lifecycle policy: keep the newest N images (default: 30)
  LAB_ECR_SCAN_ON_PUSH   true|false (default: true)
  LAB_ECR_IMMUTABLE      true|false: imageTagMutability IMMUTABLE (default: true)
  LAB_ECR_REGION         region (default: AWS_DEFAULT_REGION or us-east-1)
  LAB_ECR_ENDPOINT       endpoint (default: AWS_ENDPOINT_URL or http://localhost:4566)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_KEEP_LAST = 30


def lifecycle_policy(keep_last: int) -> dict[str, Any]:
    """ECR lifecycle policy: expire all but the newest ``keep_last`` images, tagged or not."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {keep_last} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_last},
                "action": {"type": "expire"},
            }
        ]
    }


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def ensure_repository(client: Any, name: str, *, scan_on_push: bool, immutable: bool, keep_last: int) -> str:
    """Create the repository, or bring an existing one to the wanted settings. Returns what was done."""
    mutability = "IMMUTABLE" if immutable else "MUTABLE"
    try:
        client.create_repository(
            repositoryName=name,
            imageTagMutability=mutability,
            imageScanningConfiguration={"scanOnPush": scan_on_push},
        )
        action = "created"
    except Exception as exc:
        if _code(exc) != "RepositoryAlreadyExistsException":
            raise
        repo = client.describe_repositories(repositoryNames=[name])["repositories"][0]
        if repo.get("imageTagMutability") != mutability:
            client.put_image_tag_mutability(repositoryName=name, imageTagMutability=mutability)
        if bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")) != scan_on_push:
            client.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": scan_on_push}
            )
        action = "exists"
    client.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(lifecycle_policy(keep_last)))
    return action


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def main(environ: Mapping[str, str] | None = None) -> int:
    import botocore.session
    from botocore.config import Config

    env = os.environ if environ is None else environ
    names = [n.strip() for n in env.get("LAB_ECR_REPOSITORIES", "lab-app").split(",") if n.strip()]
    keep_last = int(env.get("LAB_ECR_KEEP_LAST", str(DEFAULT_KEEP_LAST)))
    session = botocore.session.get_session()
    client = session.create_client(
        "ecr",
        region_name=env.get("LAB_ECR_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=env.get("LAB_ECR_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or "http://localhost:4566",
        # Emulators accept any credentials; "test" maps to LocalStack's default account 000000000000.
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or "test",
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or "test",
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
    )
    for name in names:
        # The gateway is up when ready hooks run; retry briefly in case the ECR service is still loading.
        for attempt in range(10):
            try:
                action = ensure_repository(
                    client,
                    name,
                    scan_on_push=_flag(env.get("LAB_ECR_SCAN_ON_PUSH", "true")),
                    immutable=_flag(env.get("LAB_ECR_IMMUTABLE", "true")),
                    keep_last=keep_last,
                )
                print(f"lab: ECR repository {name}: {action} (keep last {keep_last})", flush=True)
                break
            except Exception as exc:
                if attempt == 9 or _code(exc):  # an API error will not go away by retrying
                    print(f"lab: ECR repository {name}: {exc}", file=sys.stderr, flush=True)
                    return 1
                time.sleep(1)
    return 0


if __name__ == "__main__":  # MiniStack, or by hand
    raise SystemExit(main())
elif __name__ == "builtins" and main() != 0:  # LocalStack exec(): an exception marks the hook as ERROR
    raise RuntimeError("lab: could not create the ECR repositories (see the messages above)")
