"""What the console's reviewer pages and developer portal ask of the platform's services: paged lists (one
count and one page query, whatever the number of rows), masked personal data, trusting an issuer by its
manifest, per-scope review of an app, redirect URIs, secret rotation, test deliveries and redelivery."""

import pytest
from sqlalchemy import event, insert, select, update

from hutong.errors import PlatformError
from hutong.platform.accounts import token_hash
from hutong.store import App, LinkRestriction, ReviewDecision, WebhookDelivery
from hutong.store.paging import ListQuery
from tests.platform.conftest import resident_id, uscc

REP_NAME = "欧阳明远"


@pytest.fixture
def queue(platform_factory, account):
    """One legal representative behind three enterprises where the policy allows one: two wait for review."""
    p = platform_factory(max_enterprises_per_legal_rep=1)
    for n in range(1, 4):
        p.developers.register_enterprise(
            account(p), display_name=f"Studio {n}", company_name=f"青山影业{n}有限公司", uscc=uscc(n),
            route="resident_id", legal_rep_name=REP_NAME, legal_rep_id=resident_id(7),
        )  # fmt: skip
    return p


def count_statements(p):
    seen: list[str] = []
    event.listen(p.developers.db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_the_pending_queue_shows_masked_data_and_the_rule_that_sent_each_there(queue):
    page = queue.developers.pending_page(ListQuery())
    assert page.total == 2 and [r.developer["display_name"] for r in page.items] == ["Studio 2", "Studio 3"]
    row = page.items[0]
    rep = row.developer["legal_representative"]
    assert rep["name"] != REP_NAME and REP_NAME not in str(row) and resident_id(7) not in str(row)
    assert rep["id_number"].endswith(resident_id(7)[-2:])
    assert row.decision.rule == "legal-rep-limit" and "at most" in row.decision.rule_text
    assert queue.developers.pending_page(ListQuery(text="studio 3")).total == 1
    assert queue.developers.pending_page(ListQuery(filters={"kind": "individual"})).total == 0
    queue.developers.decide_pending(
        row.developer["id"], approve=True, note="the same family's studios", staff="li"
    )
    assert queue.developers.pending_page(ListQuery()).total == 1
    manual = queue.developers.decisions_page(ListQuery(text="the same family")).items
    assert [r.decision.decided_by for r in manual] == ["li"]  # who decided, not "policy"


def test_decisions_page_filters_sorts_and_takes_two_statements_at_any_size(queue):
    dev_id = queue.developers.pending_page(ListQuery()).items[0].developer["id"]
    with queue.developers.db.session() as s:
        s.execute(insert(ReviewDecision), [
            dict(developer_id=dev_id, subject=f"app:app_x:{n}", outcome="rejected" if n % 3 else "approved",
                 rule="scope-requirements", reason=f"scope {n}", policy_version="t") for n in range(300)
        ])  # fmt: skip
    d = queue.developers
    everything = d.decisions_page(ListQuery(per_page=50))
    assert everything.total == 303 and len(everything.items) == 50
    assert d.decisions_page(ListQuery(filters={"outcome": "approved"})).total == 101  # 100 scopes + Studio 1
    assert d.decisions_page(ListQuery(filters={"about": "developer"})).total == 3
    assert d.decisions_page(ListQuery(filters={"rule": "legal-rep-limit"})).total == 2
    assert d.decisions_page(ListQuery(text="scope 29")).total == 11  # 29, 290-299
    assert d.decisions_page(ListQuery(text="100%")).total == 0  # % is a character, not a wildcard
    newest = d.decisions_page(ListQuery(sort="id", descending=True, per_page=5)).items
    assert [r.decision.id for r in newest] == sorted((r.decision.id for r in newest), reverse=True)
    assert d.decisions_page(ListQuery(sort="drop table", per_page=5)).sort == "id"  # unknown: the default
    seen = count_statements(queue)
    d.decisions_page(ListQuery(page=4, per_page=100, filters={"outcome": "rejected"}))
    assert len(seen) == 2, seen  # the count and the page: no query per row


def test_open_appeals_are_listed_with_their_text_and_leave_when_resolved(queue, account):
    acc = account(queue)
    queue.developers.register_enterprise(acc, display_name="Copycat", company_name="青山影业1有限公司",
                                         uscc=uscc(1), route="micro_deposit", bank_account="6222021234567890")  # fmt: skip
    rejected = next(x for x in queue.developers.decisions(acc) if x.outcome == "rejected")
    queue.developers.appeal(acc, rejected.id, "we bought the company; the old account is gone")
    page = queue.developers.decisions_page(ListQuery(), open_appeals=True)
    assert page.total == 1 and "we bought the company" in page.items[0].appeal_text
    assert page.items[0].decision.rule == "uscc-unique"
    with pytest.raises(PlatformError, match="say why"):
        queue.developers.resolve_appeal(rejected.id, overturn=False, note="  ", staff="li")
    queue.developers.resolve_appeal(
        rejected.id, overturn=False, note="the old account is still active", staff="li"
    )
    assert queue.developers.decisions_page(ListQuery(), open_appeals=True).total == 0
    assert queue.developers.decisions_page(ListQuery(filters={"appeal": "upheld"})).total == 1


def test_the_restriction_log_pages_and_filters(platform_factory, account):
    p = platform_factory()
    acc = account(p)
    with p.developers.db.session() as s:
        s.execute(insert(LinkRestriction), [
            dict(account_id=acc if n % 2 else None, client_id="" if n % 2 else "app_y", url=f"https://bad{n}.example/",
                 rule="blocklist" if n % 4 else "private-address", reason=f"reason {n}") for n in range(30)
        ])  # fmt: skip
    page = p.links.restrictions_page(ListQuery(per_page=10))
    assert page.total == 30 and len(page.items) == 10
    assert p.links.restrictions_page(ListQuery(filters={"rule": "private-address"})).total == 8
    one = p.links.restrictions_page(ListQuery(text="bad7.example")).items
    assert len(one) == 1 and one[0]["username"] == "user1" and one[0]["reason"] == "reason 7"


def test_a_manifest_url_must_pass_the_address_policy(platform_factory):
    p = platform_factory()
    for url in ("http://127.0.0.1:9/", "http://10.0.0.8", "ftp://a.example"):
        with pytest.raises(PlatformError) as e:
            p.directory.trust_manifest(url)
        assert e.value.status == 422
    assert p.directory.trusted() == []


@pytest.fixture
def two_developers(platform_factory, account):
    p = platform_factory()
    a, b = account(p), account(p)
    for acc, name in ((a, "Alice"), (b, "Bob")):
        p.developers.register_individual(acc, name)
    app, secret = p.apps.register(p.developers.verified_developer_id(a), name="Alice's", client_type="confidential",
                                  redirect_uris=["https://a.example/cb"], scopes=["openid", "video.data"])  # fmt: skip
    return p, a, b, app, secret


def test_an_app_page_has_each_scope_review_and_is_the_owners_only(two_developers):
    p, a, b, app, _ = two_developers
    mine = p.apps.owned(a, app["client_id"])
    reviews = {r["scope"]: r for r in mine["scope_reviews"]}
    assert reviews["openid"]["outcome"] == "approved"
    assert (
        reviews["video.data"]["outcome"] == "rejected" and "privacy policy" in reviews["video.data"]["reason"]
    )
    assert reviews["video.data"]["rule_text"].startswith("An app receives a scope")
    with pytest.raises(PlatformError) as e:
        p.apps.owned(b, app["client_id"])
    assert e.value.status == 404
    assert (
        p.apps.page_of_account(a, ListQuery()).total == 1
        and p.apps.page_of_account(b, ListQuery()).total == 0
    )


def test_redirect_uris_are_checked_and_bad_ones_change_nothing(two_developers):
    p, a, b, app, _ = two_developers
    cid = app["client_id"]
    for bad, needle in (
        (["http://a.example/cb"], "https"),
        (["https://a.example/cb"] * 2, "each once"),
        ([" "], "at least one"),
    ):
        with pytest.raises(PlatformError, match=needle):
            p.apps.set_redirect_uris(a, cid, bad)
    with pytest.raises(PlatformError, match="of yours"):
        p.apps.set_redirect_uris(b, cid, ["https://b.example/cb"])
    assert p.apps.owned(a, cid)["redirect_uris"] == ["https://a.example/cb"]
    p.apps.set_redirect_uris(a, cid, ["https://a.example/cb2", "http://127.0.0.1:8000/cb"])
    assert p.apps.get(cid).redirect_uris == ["https://a.example/cb2", "http://127.0.0.1:8000/cb"]


def test_rotating_the_secret_ends_the_old_one(two_developers):
    p, a, b, app, old = two_developers
    cid = app["client_id"]
    new = p.apps.rotate_secret(a, cid)
    assert new != old and p.apps.get(cid).client_secret_hash == token_hash(new)
    with pytest.raises(PlatformError, match="of yours"):
        p.apps.rotate_secret(b, cid)
    public, _ = p.apps.register(p.developers.verified_developer_id(a), name="Public", client_type="public",
                                redirect_uris=["https://a.example/cb"], scopes=["openid"])  # fmt: skip
    with pytest.raises(PlatformError, match="no client secret") as e:
        p.apps.rotate_secret(a, public["client_id"])
    assert e.value.status == 409


def test_test_deliveries_and_redelivery(two_developers):
    p, a, b, app, _ = two_developers
    with pytest.raises(PlatformError, match="no webhook URL"):
        p.webhooks.send_test(app["client_id"])
    with p.developers.db.session() as s:  # as registration with a public webhook URL leaves it
        s.execute(
            update(App).where(App.client_id == app["client_id"]).values(webhook_url="https://hooks.example/h")
        )
    first = p.webhooks.send_test(app["client_id"])
    with pytest.raises(PlatformError, match="still being tried") as e:
        p.webhooks.redeliver(app["client_id"], first)
    assert e.value.status == 409
    with p.developers.db.session() as s:
        s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == first).values(status="failed", attempts=5)
        )
    with pytest.raises(PlatformError, match="no delivery"):
        p.webhooks.redeliver("app_someone_else", first)
    again = p.webhooks.redeliver(app["client_id"], first)
    page = p.webhooks.deliveries_page(app["client_id"], ListQuery(sort="id"))
    assert [d["id"] for d in page.items] == [first, again] and page.items[1]["data"] == page.items[0]["data"]
    assert [d["status"] for d in page.items] == ["failed", "pending"]
    assert p.webhooks.deliveries_page(app["client_id"], ListQuery(filters={"status": "failed"})).total == 1
    with p.developers.db.session() as s:
        assert (
            s.execute(select(WebhookDelivery.event).where(WebhookDelivery.id == again)).scalar_one()
            == "webhook.test"
        )
