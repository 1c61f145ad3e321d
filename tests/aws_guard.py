"""pytest plugin: no test may reach a non-loopback AWS endpoint, ever.

Every botocore client (boto3's included) and botocore's instance-metadata fetcher send their HTTP requests
through ``botocore.httpsession.URLLib3Session.send``; an autouse fixture wraps it so that a request to any host
other than 127.0.0.1 / localhost / ::1 fails the test. The failure is raised with ``pytest.fail`` (a
BaseException, so no ``except Exception`` in the code under test can swallow it) and also recorded and re-checked
when the test ends (reported once). botocore's Stubber answers before any send, so stubbed clients are unaffected.

Register it once for the whole suite: ``pytest_plugins = ["aws_guard"]`` in tests/conftest.py (tests/ is on
sys.path there), or ``-p aws_guard`` with tests/ on the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Remember whether the test body already failed, so a refused request is reported once."""
    report = yield
    if call.when == "call":
        item.stash[CALL_FAILED] = bool(report.failed)
    return report


@pytest.fixture(autouse=True)
def aws_endpoint_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Yields the list of refused URLs (empty unless a test went astray)."""
    from botocore.httpsession import URLLib3Session

    refused: list[str] = []
    original = URLLib3Session.send

    def guarded_send(self: URLLib3Session, request: Any) -> Any:
        url = str(request.url)
        if not is_loopback(url):
            refused.append(url)
            pytest.fail(f"aws_guard: a test tried to reach a non-loopback AWS endpoint: {url}", pytrace=True)
        return original(self, request)

    monkeypatch.setattr(URLLib3Session, "send", guarded_send)
    yield refused
    # Also when the test swallowed the failure (``except BaseException``); not twice when it already failed.
    if refused and not request.node.stash.get(CALL_FAILED, False):
        pytest.fail(f"aws_guard: non-loopback AWS endpoint(s) reached during the test: {refused}", pytrace=False)
