import pytest

from hutong.errors import PlatformError
from hutong.platform.apps import check_redirect_uri


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("http://example.com/cb", "https, or http on a loopback"),
        ("https://example.com/cb#frag", "fragments"),
        ("https://*.example.com/cb", "wildcards"),
        ("/relative/cb", "must be https"),
        ("javascript:alert(1)", "must be https"),
        ("https://example.com/a b", "no spaces"),
        ("https://example.com:99999/cb", "not a URL"),
        ('https://example.com/cb"', "may not contain"),
        ("https://example.com/c\\b", "may not contain"),
        ("https://例子.example/cb", "may not contain"),
    ],
)
def test_bad_redirect_uris(uri, needle):
    with pytest.raises(PlatformError, match=needle):
        check_redirect_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb?x=1",
        "http://127.0.0.1:9000/cb",
        "http://localhost/cb",
        "http://[::1]:8080/cb",
    ],
)
def test_good_redirect_uris(uri):
    assert check_redirect_uri(uri) == uri


def test_scopes_are_reviewed_one_by_one(platform_factory, account):
    p = platform_factory()
    acc = account(p)
    p.developers.register_individual(acc, "Alice")
    dev_id = p.developers.verified_developer_id(acc)
    app, secret = p.apps.register(dev_id, name="A", client_type="public", redirect_uris=["http://127.0.0.1/cb"],
                                  scopes=["openid", "video.data", "links.card"])  # fmt: skip
    assert secret is None and app["scopes_granted"] == ["openid"]
    reasons = {
        d.subject.split(":")[-1]: d.reason
        for d in p.developers.decisions(acc)
        if d.subject.startswith("app:")
    }
    assert "privacy policy" in reasons["video.data"] and "confidential client" in reasons["links.card"]
    app2, secret2 = p.apps.register(dev_id, name="B", client_type="confidential", redirect_uris=["https://b.example/cb"],
                                    scopes=["video.data", "links.card"], privacy_policy_url="https://b.example/privacy")  # fmt: skip
    assert secret2 and app2["scopes_granted"] == ["links.card", "video.data"]
    for kw, needle in [
        ({"scopes": ["video.delete"]}, "unknown scope"),
        ({"scopes": []}, "at least one"),
        ({"client_type": "spa"}, "client_type"),
        ({"redirect_uris": ["https://x.example/cb", "https://x.example/cb"]}, "each once"),
        ({"name": ""}, "name"),
    ]:
        args = {
            "name": "C",
            "client_type": "public",
            "redirect_uris": ["https://c.example/cb"],
            "scopes": ["openid"],
            **kw,
        }
        with pytest.raises(PlatformError, match=needle):
            p.apps.register(dev_id, **args)
    assert len(p.apps.of_developer(dev_id)) == 2


def test_only_verified_developers_register_apps(platform_factory, account):
    p = platform_factory(individuals_allowed=False)
    acc = account(p)
    assert p.developers.register_individual(acc, "Bob")["status"] == "rejected"
    with pytest.raises(PlatformError, match="not verified") as err:
        p.developers.verified_developer_id(acc)
    assert err.value.status == 403
