"""lab.tools.aws_errors: one map from botocore's errors to the lab's, for STS/EKS (AWS) and for ECR."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from lab.core.errors import ClusterUnreachable, ConfigError, LabError, RegistryError
from lab.tools import aws, aws_errors, ecr


def client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DoThing")


CASES = [
    # exception, AWS (STS/EKS) type, ECR type, words in the message
    (NoCredentialsError(), ConfigError, ConfigError, "no AWS credentials"),
    (NoRegionError(), ConfigError, ConfigError, "no AWS region"),
    (EndpointConnectionError(endpoint_url="https://x.test"), ClusterUnreachable, RegistryError, "does not answer"),
    (client_error("ExpiredTokenException"), ConfigError, ConfigError, "have expired"),
    (client_error("ExpiredToken"), ConfigError, ConfigError, "have expired"),
    (client_error("AccessDeniedException", "not authorized"), ConfigError, RegistryError, "access denied"),
    (client_error("ThrottlingException"), ClusterUnreachable, RegistryError, "throttled"),
    (client_error("X", "... not included in your current license plan"), ConfigError, ConfigError, "license"),
    (client_error("RepositoryNotFoundException", "none"), LabError, RegistryError, "does not exist"),
    (client_error("SomethingElse", "odd"), LabError, RegistryError, "SomethingElse: odd"),
    (ValueError("bad"), LabError, RegistryError, "ValueError: bad"),
]


@pytest.mark.parametrize(("exc", "aws_type", "ecr_type", "words"), CASES)
def test_each_cause_maps_to_one_lab_error_per_profile(
    exc: Exception, aws_type: type[LabError], ecr_type: type[LabError], words: str
) -> None:
    for profile, expected in ((aws_errors.AWS, aws_type), (aws_errors.ECR, ecr_type)):
        error = aws_errors.wrap_error(exc, "do thing", profile)
        assert type(error) is expected, (profile.prefix, error)
        assert words in error.message and error.message.startswith(f"{profile.prefix}do thing: ")


def test_the_modules_wrap_through_the_one_map() -> None:
    expired = client_error("ExpiredTokenException")
    assert isinstance(ecr.wrap_error(expired, "push"), ConfigError)  # was "access denied" (RegistryError)
    assert ecr.wrap_error(expired, "push").message == aws_errors.wrap_error(expired, "push", aws_errors.ECR).message
    assert aws.wrap_error(expired, "EKS: x").message == aws_errors.wrap_error(expired, "EKS: x").message
    assert ecr.error_code(client_error("ImageNotFoundException")) == "ImageNotFoundException"
