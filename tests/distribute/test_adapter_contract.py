"""What every platform adapter must do, whatever its platform: a stable registered name, capabilities, and
the same outcome for the answers every HTTP platform gives (rate limits, outages, timeouts). A new adapter
registers in ``ADAPTERS`` and passes this module unchanged."""

from __future__ import annotations

import re

import httpx
import pytest

from hutong.distribute.adapters import ADAPTERS, AdapterError, Capabilities, Outcome, PlatformAdapter

NAMES = sorted(ADAPTERS)
URL = "http://platform.example/upload"


def answer(status: int, **kw) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", URL)
    return httpx.HTTPStatusError(
        "answer", request=request, response=httpx.Response(status, request=request, **kw)
    )


@pytest.fixture(params=NAMES)
def adapter(request):
    with httpx.Client() as http:
        yield ADAPTERS[request.param](http)


def test_the_registry_holds_the_shipped_adapters():
    assert "hutong" in ADAPTERS


def test_a_name_is_a_stable_storage_key(adapter: PlatformAdapter):
    assert isinstance(adapter, PlatformAdapter) and ADAPTERS[adapter.name] is type(adapter)
    assert re.fullmatch(r"[a-z][a-z0-9_.-]{1,49}", adapter.name)
    assert isinstance(Capabilities(direct_post=True), Capabilities)


@pytest.mark.parametrize(
    ("error", "irreversible", "outcome", "retry_after"),
    [
        (answer(429, headers={"Retry-After": "7"}, text="slow down"), False, Outcome.RETRY_LATER, 7),
        (answer(429, text="slow down"), True, Outcome.RETRY_LATER, None),
        (answer(503, text="maintenance"), False, Outcome.RETRY_LATER, None),
        (httpx.ConnectError("refused"), True, Outcome.RETRY_LATER, None),  # nothing reached the platform
        (httpx.ReadTimeout("slow"), False, Outcome.RETRY_LATER, None),
        (httpx.ReadTimeout("slow"), True, Outcome.UNKNOWN, None),  # never a blind second post
    ],
)
def test_common_answers_have_the_same_outcome_everywhere(adapter, error, irreversible, outcome, retry_after):
    got = adapter.classify(error, irreversible=irreversible)
    assert isinstance(got, AdapterError) and got.outcome is outcome and got.retry_after == retry_after
    assert str(got)  # a message the creator can read
