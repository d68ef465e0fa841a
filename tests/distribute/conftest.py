"""Every platform these tests publish to is on loopback, which the outbound address policy refuses unless
the settings allow it: the tests allow it (as a deployment would for its own network), in this process and
in the `hutong` processes they start (``LOOPBACK_ENV``)."""

from __future__ import annotations

import json

import pytest

LOOPBACK = ["127.0.0.0/8", "::1/128"]
LOOPBACK_ENV = {"HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(LOOPBACK)}


@pytest.fixture(scope="module", autouse=True)
def loopback_allowed():  # per module, undone after it: tests elsewhere check the policy's default
    with pytest.MonkeyPatch.context() as mp:
        for k, v in LOOPBACK_ENV.items():
            mp.setenv(k, v)
        yield
