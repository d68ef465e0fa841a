"""The console's shared ground on a real server: sign-in, roles checked on the server, lists that page, sort
and filter (whole page and the htmx part), languages, CSRF, security headers, and the same in Chromium."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from hutong.store import Work
from hutong.web.i18n import translations
from hutong.web.messages import message_ids
from tests.web.conftest import (
    Person,
    add_person,
    axe_violations,
    console_tab,
    local_hutong,
    screenshot,
    sign_in,
    start_console,
    text_of,
)

STUDIO, OTHER = "Studio Qingshan", "Another Studio"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("console") / "home"
    h = local_hutong(home)
    add_person(h, "qingshan", holder=STUDIO)
    add_person(h, "xiaoming", creator="xiaoming")
    add_person(h, "reviewer", staff=True)
    add_person(h, "nobody")
    # rows as registration leaves them (the list reads titles and lengths only): 60 of one holder's works,
    # 5 of another's, to page, sort and filter without fingerprinting 65 files
    with h.db.session() as s:
        rows = [dict(title=f"第{i:02d}集 River {i}", holder=STUDIO, source_path=f"/films/{i}.mp4", sha256=f"{i:064x}",
                     duration=60.0 + i) for i in range(1, 61)]  # fmt: skip
        rows += [dict(title=f"Secret {i}", holder=OTHER, source_path=f"/other/{i}.mp4", sha256=f"{1000 + i:064x}",
                      duration=30.0) for i in range(1, 6)]  # fmt: skip
        s.execute(insert(Work), rows)
    h.close()
    srv = start_console(home)
    yield srv
    srv.stop()


def test_a_fresh_visitor_gets_the_sign_in_page_with_strict_headers(server):
    r = Person(server.url).page("/console")
    assert r.status_code == 200 and 'action="/console/login"' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "<script>" not in r.text and "http://" not in r.text.replace(
        server.url, ""
    )  # nothing inline or foreign


def test_sign_in_refuses_a_wrong_password_and_a_missing_csrf_token(server):
    p = Person(server.url)
    r = p.sign_in("qingshan", "not the password")
    assert r.status_code == 401 and "Wrong username or password" in r.text
    r = p.http.post("/console/login", data={"username": "qingshan", "password": "console password 1"})
    assert r.status_code == 403 and "CSRF" in r.text and "<html" in r.text  # a page, not JSON
    r = p.sign_in("qingshan")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_pages_need_a_signed_in_person_and_come_back_after_sign_in(server):
    p = Person(server.url)
    r = p.page("/console/holder/works")
    assert r.status_code == 303 and r.headers["location"] == "/console?next=%2Fconsole%2Fholder%2Fworks"
    p.page(r.headers["location"])
    r = p.post(
        "/console/login",
        {"username": "qingshan", "password": "console password 1", "next": "/console/holder/works"},
    )
    assert r.headers["location"] == "/console/holder/works"
    # an open redirect through next= is not possible (a new session has a new CSRF token: read it)
    p.page("/console")
    r = p.post(
        "/console/login",
        {"username": "qingshan", "password": "console password 1", "next": "//evil.example/x"},
    )
    assert r.headers["location"] == "/console"


@pytest.mark.parametrize("username", ["xiaoming", "reviewer", "nobody"])
def test_holder_pages_are_refused_to_other_roles(server, username):
    r = Person(server.url, username).page("/console/holder/works")
    assert r.status_code == 403 and "for rights holders" in text_of(r.text)


def test_home_shows_a_card_per_role_and_an_empty_state_without_roles(server):
    home = text_of(Person(server.url, "qingshan").page("/console").text)
    assert "Rights holder" in home and STUDIO in home and "Review" not in home.split("Welcome")[1][:200]
    empty = text_of(Person(server.url, "nobody").page("/console").text)
    assert "You have no console role yet" in empty and "hutong platform roles grant nobody" in empty


def test_the_works_list_pages_sorts_filters_and_shows_only_the_holders_works(server):
    p = Person(server.url, "qingshan")
    first = text_of(p.page("/console/holder/works").text)
    assert "1–25 of 60" in first and "Page 1 of 3" in first and "Secret" not in first
    last = text_of(p.page("/console/holder/works?page=3").text)
    assert "51–60 of 60" in last and "River 60" in last and "River 1 " not in last
    by_length = p.page("/console/holder/works?sort=duration&dir=desc").text
    assert by_length.index("River 60") < by_length.index("River 59") and 'aria-sort="descending"' in by_length
    filtered = text_of(p.page("/console/holder/works?q=river 1").text)
    assert "1–11 of 11" in filtered  # River 1, 10..19
    percent = text_of(p.page("/console/holder/works?q=%25").text)
    assert "No work matches “%”" in percent  # % is a character, not a wildcard
    beyond = text_of(p.page("/console/holder/works?page=99").text)
    assert "Page 3 of 3" in beyond  # past the end: the last page
    other = text_of(p.page("/console/holder/works?q=Secret").text)
    assert "No work matches" in other  # another holder's works stay invisible


def test_htmx_gets_only_the_listing_part(server):
    p = Person(server.url, "qingshan")
    part = p.page(
        "/console/holder/works?sort=title", headers={"HX-Request": "true", "HX-Target": "listing"}
    ).text
    assert part.lstrip().startswith('<div id="listing">') and "<html" not in part
    whole = p.page(
        "/console/holder/works?sort=title", headers={"HX-Request": "true", "HX-Target": "main"}
    ).text
    assert "<html" in whole  # an unknown target gets the page


@pytest.mark.parametrize("query", ["page=0", "per=1000", "dir=sideways", "page=abc", "q=" + "x" * 300])
def test_bad_list_parameters_get_a_readable_page(server, query):
    r = Person(server.url, "qingshan").page(f"/console/holder/works?{query}")
    assert r.status_code == 422 and "<html" in r.text and "This could not be done" in r.text


def test_the_browser_language_and_the_switch_choose_the_language(server):
    zh = Person(server.url, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    page = zh.page("/console").text
    assert '<html lang="zh-CN">' in page and "登录控制台" in page
    en = Person(server.url, "qingshan", **{"Accept-Language": "zh-CN"})
    r = en.post("/console/language", {"lang": "en", "next": "/console/holder/works"})
    assert r.status_code == 303 and r.headers["location"] == "/console/holder/works"
    assert "Your works" in en.page("/console/holder/works").text
    r = en.post("/console/language", {"lang": "xx", "next": "https://evil.example/"})
    assert r.headers["location"] == "/console" and "lang=" not in r.headers.get("set-cookie", "")
    en.csrf = "forged"
    assert en.post("/console/language", {"lang": "zh-CN"}).status_code == 403


def test_every_console_message_has_a_chinese_translation():
    zh = translations("zh-CN")
    missing = [text for text in message_ids() if zh.gettext(text) == text]
    assert not missing, f"untranslated (run python -m hutong.web.po, then translate): {missing}"


def test_in_chromium_sign_in_sort_filter_and_switch_language(server, browser):
    from playwright.sync_api import expect

    with console_tab(browser, server.url) as page:
        page.goto(server.url + "/console")
        assert not axe_violations(page)
        screenshot(page, "sign-in")
        sign_in(page, server.url, "qingshan")
        page.click("text=Rights holder")
        page.wait_for_url("**/console/holder/works")
        assert "1–25 of 60" in page.inner_text("#listing")
        page.click("th >> text=Length")  # htmx swaps the table; the address follows
        page.wait_for_url("**sort=duration**")
        page.click("th >> text=Length")
        page.wait_for_url("**dir=desc**")
        assert page.inner_text("tbody tr:first-child").find("River 60") >= 0
        page.fill("input[name=q]", "River 2")
        expect(page.locator("#listing")).to_contain_text("of 11")
        assert not axe_violations(page)
        assert "+0800" in page.inner_text("tbody")  # times in the browser's zone (Asia/Shanghai)
        page.select_option("#lang-switch", "zh-CN")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        assert "您的作品" in page.inner_text("h1")
        assert not axe_violations(page)
