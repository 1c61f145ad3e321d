"""The one botocore error map: what went wrong with an AWS call (real AWS or an emulator), as a LabError.

    wrap_error(exc, action, AWS)   # STS, EKS: ConfigError for the identity's problems, ClusterUnreachable for the
                                   # network and throttling
    wrap_error(exc, action, ECR)   # ECR: RegistryError for what the registry refused or could not answer

Causes, in the order they are checked (codes: botocore exceptions and the services' error codes):
  no credentials (NoCredentialsError) and no region (NoRegionError)       -> ConfigError
  endpoint does not answer (EndpointConnectionError, connect/read timeout) -> Profile.unreachable
  LocalStack's "not included in your current license" (its free tier has no ECR) -> ConfigError
  expired credentials (EXPIRED_CODES)                                      -> ConfigError
  access denied (ACCESS_CODES)                                             -> Profile.denied
  throttled after botocore's retries (THROTTLING_CODES)                    -> Profile.throttled
  RepositoryNotFoundException (ECR)                                        -> Profile.other, with the fix
  anything else                                                            -> Profile.other
The original exception is chained by the caller (``raise wrap_error(exc, ...) from exc``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core import names
from lab.core.errors import ClusterUnreachable, ConfigError, LabError, RegistryError

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
ACCESS_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException",
     "InvalidClientTokenId"}
)  # fmt: skip
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
LICENSE_MARKER = "not included in your current license"
CREDENTIALS_HINT = "configure them (`aws configure`, `aws sso login`, AWS_PROFILE or AWS_ACCESS_KEY_ID/...)"


@dataclass(frozen=True)
class Profile:
    """Which LabError each cause becomes for one family of calls, and how its messages begin."""

    prefix: str  # "ECR: " or ""
    unreachable: type[LabError]
    unreachable_hint: str
    denied: type[LabError]
    denied_hint: str
    throttled: type[LabError]
    other: type[LabError]


AWS = Profile(
    prefix="",
    unreachable=ClusterUnreachable,
    unreachable_hint="check the network / proxy, and the region (LAB_AWS_REGION)",
    denied=ConfigError,
    denied_hint="check the identity (`aws sts get-caller-identity`) and its IAM permissions "
    "(the list is in docs: `invoke up --target aws --plan` prints what the lab calls)",
    throttled=ClusterUnreachable,
    other=LabError,
)
ECR = Profile(
    prefix="ECR: ",
    unreachable=RegistryError,
    unreachable_hint=f"is the ECR emulator running? `docker ps --filter name={names.ECR_CONTAINER}`; "
    "`invoke up` starts it",
    denied=RegistryError,
    denied_hint="check the AWS identity (`aws sts get-caller-identity`) and its ecr:* permissions",
    throttled=RegistryError,
    other=RegistryError,
)


def error_code(exc: BaseException) -> str:
    """A ClientError's Error.Code ("" for other exceptions)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    """A ClientError's Error.Message (the exception's text when there is none)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def is_unreachable(exc: BaseException) -> bool:
    """True for botocore's "the endpoint does not answer" errors (no connection, connect or read timeout)."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    return isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError)


def wrap_error(exc: Exception, action: str, profile: Profile = AWS) -> LabError:
    """The lab's error for a botocore exception raised while doing ACTION (e.g. "create repository x")."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    what = f"{profile.prefix}{action}"
    if isinstance(exc, NoCredentialsError):
        return ConfigError(f"{what}: no AWS credentials found", hint=CREDENTIALS_HINT)
    if isinstance(exc, NoRegionError):
        return ConfigError(f"{what}: no AWS region", hint="set LAB_AWS_REGION (e.g. us-east-1)")
    if is_unreachable(exc):
        return profile.unreachable(f"{what}: the endpoint does not answer ({exc})", hint=profile.unreachable_hint)
    if not isinstance(exc, ClientError):
        return profile.other(f"{what}: {exc.__class__.__name__}: {exc}")
    code, message = error_code(exc), error_message(exc)
    if LICENSE_MARKER in message:
        return ConfigError(
            f"{what}: LocalStack says this API is not in your license plan ({message})",
            hint="ECR needs a paid LocalStack plan; the free alternative is MiniStack: LAB_AWS_EMULATOR=ministack",
        )
    if code in EXPIRED_CODES:
        return ConfigError(
            f"{what}: the AWS credentials have expired ({code})",
            hint="renew them (`aws sso login`, or new temporary keys) and run the command again",
        )
    if code in ACCESS_CODES:
        return profile.denied(f"{what}: access denied ({code}: {message})", hint=profile.denied_hint)
    if code in THROTTLING_CODES:
        return profile.throttled(
            f"{what}: throttled by the API ({code}) after retries", hint="wait a minute and run the command again"
        )
    if code == "RepositoryNotFoundException":
        return profile.other(
            f"{what}: the repository does not exist ({message})", hint="`invoke up` creates the lab's repository"
        )
    return profile.other(f"{what}: {code or 'error'}: {message}")
