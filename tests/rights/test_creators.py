import pytest

from hutong.errors import RightsError


def test_creators_and_organisations(app):
    org = app.creators.add("@Studio-9", kind="organisation", name="Studio 9")
    assert org.handle == "studio-9" and org.kind == "organisation"
    member = app.creators.add("bob", organisation="studio-9")
    assert member.organisation == "studio-9" and not member.verified
    assert app.creators.set_verified("BOB").verified
    assert [c.handle for c in app.creators.list()] == ["bob", "studio-9"]


@pytest.mark.parametrize(
    ("handle", "kwargs", "needle"),
    [
        ("a", {}, "not valid"),
        ("has space", {}, "not valid"),
        ("x" * 70, {}, "not valid"),
        ("carol", {"kind": "robot"}, "kind"),
        ("carol", {"organisation": "nobody"}, "no creator @nobody"),
        ("carol", {"organisation": "alice"}, "not an organisation"),
        ("sub", {"kind": "organisation", "organisation": "org"}, "cannot be a member"),
        ("alice", {}, "already exists"),
    ],
)
def test_bad_creators(app, handle, kwargs, needle):
    app.creators.add("alice")
    app.creators.add("org", kind="organisation")
    with pytest.raises(RightsError, match=needle):
        app.creators.add(handle, **kwargs)
    assert len(app.creators.list()) == 2
