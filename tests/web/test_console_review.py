"""The platform reviewer's console on a real server: the developer queue with masked personal data only and
the policy rule beside each decision, approve/reject with a note, appeals, the link restriction log, trusted
issuers (trusting a second real hutong on loopback by its manifest), every decision as a paged list; each
page refused to the other roles, each form to a missing or forged CSRF token; and the flow in Chromium."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert

from hutong.app import Hutong
from hutong.config import Settings
from hutong.store import LinkRestriction, ReviewDecision
from tests.platform.conftest import make_policy, resident_id, uscc
from tests.web.conftest import (
    Person,
    add_person,
    axe_violations,
    console_tab,
    screenshot,
    sign_in,
    start_console,
    text_of,
)

REP_NAME, REP_ID = "欧阳明远", resident_id(7)
PAGES = ["/console/review/queue", "/console/review/appeals", "/console/review/decisions",
         "/console/review/links", "/console/review/issuers"]  # fmt: skip
FORMS = ["/console/review/queue/2", "/console/review/appeals/1", "/console/review/issuers",
         "/console/review/issuers/distrust"]  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Four enterprises behind one legal representative where the policy allows one (three wait for review),
    two rejected copies of a registered enterprise that appealed, restricted links, many decisions."""
    tmp = tmp_path_factory.mktemp("review")
    home, policy = tmp / "home", make_policy(tmp, max_enterprises_per_legal_rep=1)
    home.mkdir()
    h = Hutong.create(Settings(home=home, review_policy=policy))
    add_person(h, "reviewer", staff=True)
    add_person(h, "qingshan", holder="Studio Qingshan")
    add_person(h, "xiaoming", creator="xiaoming")
    add_person(h, "nobody")
    add_person(h, "devco")
    h.platform.developers.register_individual(h.platform.roles.of_username("devco").account_id, "Devco")
    ids = {}
    for n in range(1, 5):
        add_person(h, f"ent{n}")
        acc = h.platform.roles.of_username(f"ent{n}").account_id
        ids[n] = h.platform.developers.register_enterprise(
            acc, display_name=f"Studio {n}", company_name=f"青山影业{n}有限公司", uscc=uscc(n), route="resident_id",
            legal_rep_name=REP_NAME, legal_rep_id=REP_ID,
        )["id"]  # fmt: skip
    appeals = []
    for n, why in (
        (1, "we bought Studio 1; its old account is gone"),
        (2, "the code was typed by our agent"),
    ):
        add_person(h, f"copy{n}")
        acc = h.platform.roles.of_username(f"copy{n}").account_id
        h.platform.developers.register_enterprise(acc, display_name=f"Copy {n}", company_name="青山影业1有限公司",
                                                  uscc=uscc(1), route="micro_deposit", bank_account="6222021234567890")  # fmt: skip
        rejected = next(d for d in h.platform.developers.decisions(acc) if d.outcome == "rejected")
        h.platform.developers.appeal(acc, rejected.id, why)
        appeals.append(rejected.id)
    with h.db.session() as s:
        s.execute(insert(LinkRestriction), [
            dict(account_id=None, client_id="app_demo", url=f"https://malware{n}.example/x", reason=f"on the blocklist {n}",
                 rule="blocklist" if n % 3 else "private-address") for n in range(40)
        ])  # fmt: skip
        s.execute(insert(ReviewDecision), [
            dict(developer_id=ids[1], subject=f"app:app_bulk:scope{n}", outcome="approved", rule="scope-requirements",
                 reason=f"bulk scope {n}: requirements met", policy_version="2026.11-1") for n in range(60)
        ])  # fmt: skip
    h.close()
    allow = {
        "HUTONG_REVIEW_POLICY": str(policy),
        "HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8"]),
    }
    srv = start_console(home, env=allow)
    yield srv, ids, appeals
    srv.stop()


@pytest.fixture(scope="module")
def server(setup):
    return setup[0]


@pytest.mark.parametrize("username", ["qingshan", "xiaoming", "devco", "nobody"])
def test_every_review_page_and_form_is_refused_to_other_roles(server, username):
    p = Person(server.url, username)
    for path in PAGES:
        r = p.page(path)
        assert r.status_code == 403 and "for platform reviewers" in text_of(r.text), path
    for path in FORMS:
        r = p.post(path, {"decision": "approve", "resolution": "overturn", "note": "ok", "issuer": "x"})
        assert r.status_code == 403 and "for platform reviewers" in text_of(r.text), path


def test_review_pages_send_anonymous_visitors_to_sign_in(server):
    p = Person(server.url)
    for path in [*PAGES, "/console/review"]:
        r = p.page(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console?next="), path
    for path in FORMS:
        assert p.http.post(path, data={"note": "x"}).status_code in (303, 403), path


def test_the_queue_shows_masked_data_and_the_rule_beside_each_decision(setup):
    server, ids, _ = setup
    p = Person(server.url, "reviewer")
    queue = text_of(p.page("/console/review/queue").text)
    assert "1–3 of 3" in queue and "Studio 2" in queue and "Studio 4" in queue and "Studio 1 " not in queue
    assert "legal-rep-limit" in queue and "A legal representative may back at most" in queue
    assert "欧***" in queue  # the masked name: its first character only
    assert REP_ID[-2:] in queue
    for path in [*PAGES, "/console/review/decisions?per=200", "/console/review/queue?q=studio"]:
        page = p.page(path).text
        assert REP_NAME not in page and REP_ID not in page, path  # never the full name or ID number
        assert REP_ID[:6] + REP_ID[6:14] not in page
    filtered = text_of(p.page("/console/review/queue?q=Studio 3").text)
    assert "1–1 of 1" in filtered and "Studio 3" in filtered


def test_forms_refuse_a_missing_or_forged_csrf_token_and_change_nothing(setup):
    server, ids, appeals = setup
    p = Person(server.url, "reviewer")
    p.page("/console/review/queue")
    for token in ("", "forged"):
        for path, data in ((f"/console/review/queue/{ids[3]}", {"decision": "reject", "note": "no"}),
                           (f"/console/review/appeals/{appeals[1]}", {"resolution": "uphold", "note": "no"}),
                           ("/console/review/issuers", {"manifest_url": server.url}),
                           ("/console/review/issuers/distrust", {"issuer": "https://a.example"})):  # fmt: skip
            r = p.http.post(path, data={**data, "csrf": token})
            assert r.status_code == 403 and "CSRF" in r.text, path
    assert "Studio 3" in p.page("/console/review/queue").text
    assert "1–2 of 2" in text_of(p.page("/console/review/appeals").text)


def test_bad_input_gets_a_readable_page_and_changes_nothing(setup):
    server, ids, appeals = setup
    p = Person(server.url, "reviewer")
    p.page("/console/review/queue")
    cases = [
        (f"/console/review/queue/{ids[3]}", {"decision": "reject", "note": ""}, 422, "say it with letters"),
        (
            f"/console/review/queue/{ids[3]}",
            {"decision": "reject", "note": "   "},
            422,
            "say it with letters",
        ),
        (f"/console/review/queue/{ids[3]}", {"decision": "maybe", "note": "why"}, 422, "decision"),
        (f"/console/review/queue/{ids[1]}", {"decision": "approve", "note": "ok"}, 404, "not pending review"),
        ("/console/review/queue/999999", {"decision": "approve", "note": "ok"}, 404, "not pending review"),
        (f"/console/review/appeals/{appeals[1]}", {"resolution": "uphold", "note": " "}, 422, "say why"),
        (f"/console/review/appeals/{appeals[1]}", {"resolution": "sideways", "note": "x"}, 422, "resolution"),
        ("/console/review/appeals/999999", {"resolution": "uphold", "note": "x"}, 404, "no open appeal"),
        ("/console/review/issuers", {"manifest_url": "ftp://files.example"}, 422, "not an http(s) URL"),
        ("/console/review/issuers", {"manifest_url": "http://10.1.2.3"}, 422, "only public addresses"),
        (
            "/console/review/issuers/distrust",
            {"issuer": "https://never.example"},
            404,
            "not a trusted issuer",
        ),
    ]
    for path, data, status, needle in cases:
        r = p.post(path, data)
        assert r.status_code == status and needle in r.text and "<html" in r.text, (path, data, r.status_code)
    assert "1–3 of 3" in text_of(p.page("/console/review/queue").text)
    assert "1–2 of 2" in text_of(p.page("/console/review/appeals").text)


def test_rejecting_with_a_note_uses_the_same_service_as_the_cli(setup):
    server, ids, _ = setup
    p = Person(server.url, "reviewer")
    p.page("/console/review/queue")
    r = p.post(
        f"/console/review/queue/{ids[4]}", {"decision": "reject", "note": "the same person, a fifth studio"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/review/queue"
    after = text_of(p.page("/console/review/queue").text)
    assert "Studio 4 rejected." in after and "1–2 of 2" in after
    decided = text_of(p.page("/console/review/decisions?q=fifth studio").text)
    assert "manual review by reviewer: the same person, a fifth studio" in decided and "rejected" in decided
    assert "by reviewer · policy" in decided  # the decision names its reviewer


def test_all_decisions_page_sort_and_filter_in_one_list(server):
    p = Person(server.url, "reviewer")
    first = text_of(p.page("/console/review/decisions").text)
    assert "of 7" not in first and "Page 1 of" in first
    bulk = text_of(p.page("/console/review/decisions?q=bulk scope").text)
    assert "1–25 of 60" in bulk and "Page 1 of 3" in bulk
    by_id = p.page("/console/review/decisions?q=bulk&sort=id&dir=desc").text
    assert by_id.index("bulk scope 59") < by_id.index("bulk scope 58") and 'aria-sort="descending"' in by_id
    rules = text_of(p.page("/console/review/decisions?rule=uscc-unique").text)
    assert "1–2 of 2" in rules and "An enterprise (unified social credit code) is registered by one" in rules
    devs = text_of(p.page("/console/review/decisions?about=developer&outcome=pending").text)
    assert "legal-rep-limit" in devs and "bulk" not in devs
    part = p.page(
        "/console/review/decisions?page=2", headers={"HX-Request": "true", "HX-Target": "listing"}
    ).text
    assert part.lstrip().startswith('<div id="listing">') and "<html" not in part
    assert p.page("/console/review/decisions?per=5000").status_code == 422


def test_the_link_restriction_log_pages_and_filters(server):
    p = Person(server.url, "reviewer")
    log = text_of(p.page("/console/review/links").text)
    assert "1–25 of 40" in log and "on the blocklist" in log and "app app_demo" in log
    private = text_of(p.page("/console/review/links?rule=private-address").text)
    assert "1–14 of 14" in private
    one = text_of(p.page("/console/review/links?q=malware7.example").text)
    assert "1–1 of 1" in one and "on the blocklist 7" in one


def test_trusting_a_second_real_hutong_by_its_manifest_then_distrusting_it(server, tmp_path_factory):
    other = start_console(tmp_path_factory.mktemp("other") / "home")
    try:
        p = Person(server.url, "reviewer")
        assert "No other platform is trusted yet" in p.page("/console/review/issuers").text
        r = p.post("/console/review/issuers", {"manifest_url": other.url + "/", "note": "agreement 2026-11"})
        assert r.status_code == 303
        page = text_of(p.page("/console/review/issuers").text)
        assert f"Now trusting certificates from {other.url}." in page and "agreement 2026-11" in page
        assert other.url + "/.well-known/jwks.json" in page
        manifest = p.http.get("/.well-known/hutong-interconnect").json()["manifest"]
        assert other.url in manifest["opens"]["ingest"]["accepts_certificates_from"]
        again = p.post("/console/review/issuers", {"manifest_url": other.url})
        assert again.status_code == 409 and "already trusted" in again.text
        r = p.post("/console/review/issuers/distrust", {"issuer": other.url})
        assert (
            r.status_code == 303
            and f"No longer trusting {other.url}" in p.page("/console/review/issuers").text
        )
    finally:
        other.stop()
    gone = Person(server.url, "reviewer")
    gone.page("/console/review/issuers")
    r = gone.post("/console/review/issuers", {"manifest_url": other.url})  # nothing answers there now
    assert r.status_code == 502 and "no interconnection manifest" in r.text


def test_in_chromium_a_reviewer_approves_a_developer_and_resolves_an_appeal(setup, browser):
    from playwright.sync_api import expect

    server, ids, appeals = setup
    with console_tab(browser, server.url) as page:
        page.on("dialog", lambda d: d.accept())
        sign_in(page, server.url, "reviewer")
        page.click("text=Review")
        page.wait_for_url("**/console/review/queue")
        row = page.locator(f"#developer-{ids[2]}")
        expect(row).to_contain_text("legal-rep-limit")
        assert REP_NAME not in page.content()
        assert not axe_violations(page)
        screenshot(page, "review-queue")
        row.locator("textarea[name=note]").fill("two studios of one family, checked by phone")
        row.locator("button[value=approve]").click()
        expect(page.locator(".notice")).to_contain_text("Studio 2 approved.")
        expect(page.locator(f"#developer-{ids[2]}")).to_have_count(0)

        page.click("nav.subnav >> text=Appeals")
        page.wait_for_url("**/console/review/appeals")
        appeal = page.locator(f"#appeal-{appeals[0]}")
        expect(appeal).to_contain_text("we bought Studio 1")
        expect(appeal).to_contain_text("uscc-unique")
        assert not axe_violations(page)
        screenshot(page, "review-appeals")
        appeal.locator("textarea[name=note]").fill(
            "the old account is still in use: ask its owner to transfer it"
        )
        appeal.locator("button[value=uphold]").click()
        expect(page.locator(".notice")).to_contain_text(f"Decision {appeals[0]} upheld.")
        expect(page.locator(f"#appeal-{appeals[0]}")).to_have_count(0)

        page.click("nav.subnav >> text=All decisions")
        page.select_option("select[name=appeal]", "upheld")
        page.click("form.filter button")
        expect(page.locator("#listing")).to_contain_text("the old account is still in use")
        assert not axe_violations(page)
        for sub in ("Link restrictions", "Trusted issuers"):
            page.click(f"nav.subnav >> text={sub}")
            page.wait_for_load_state()
            assert not axe_violations(page), sub


def test_every_review_page_reads_in_chinese(server):
    p = Person(server.url, "reviewer", **{"Accept-Language": "zh-CN"})
    for path in PAGES:
        r = p.page(path)
        assert r.status_code == 200 and '<html lang="zh-CN">' in r.text and "%(" not in r.text, path
    assert "等待审核的开发者" in p.page("/console/review/queue").text
    assert "受信任的证书签发方" in p.page("/console/review/issuers").text
