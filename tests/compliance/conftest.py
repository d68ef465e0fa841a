"""Rights fixtures over the registered samples (work 1 = BBB, 2 = Sintel, 3 = Tears of Steel)."""

import pytest

HOLDER = "Blender Foundation"


@pytest.fixture
def rights(registered):
    registered.creators.add("alice", name="Alice", verified=True)
    registered.creators.add("mcn", kind="organisation")
    registered.creators.add("bob", organisation="mcn")
    return registered


def grant(app, **over):
    from hutong.rights import LicenceTerms

    t = {
        "works": [1, 2],
        "scope": {"kind": "verified"},
        "platforms": ["douyin", "bilibili"],
        "valid_from": "2026-01-01",
        "valid_until": "2030-01-01",
        **over,
    }
    return app.licences.grant(HOLDER, LicenceTerms.parse(t), allow_overlap=True)
