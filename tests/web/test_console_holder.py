"""The rights holder's console on a real server: works added by upload and registered in the background,
a work's page with thumbnails, licences granted, amended and revoked from forms (with the CLI's errors and
the consequences listed first), where works are used with a chart; every page refused to the other roles,
every form to a forged CSRF token, and another holder's works and licences never shown. Then the same flow
in Chromium, with axe-core and screenshots."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hutong.app import Hutong
from hutong.config import Settings
from hutong.rights.terms import LicenceTerms
from hutong.store import Certificate, DistributionAccount, Licence, Post, PublishJob, Video, Work
from tests.api.conftest import free_port, start_server
from tests.web.conftest import (
    Person,
    add_person,
    axe_violations,
    console_tab,
    local_hutong,
    screenshot,
    sign_in,
    text_of,
)

STUDIO, OTHER = "Blender Studio", "Rival Pictures"
SAMPLES = Path(__file__).resolve().parents[2] / "hutong" / "samples"
MAX_BYTES = 3_000_000  # the server's max_media_bytes here: tears_of_steel_battle.mp4 (4 MB) is over it
TERMS = {
    "scope": {"kind": "verified"},
    "platforms": ["*"],
    "valid_from": "2026-01-01",
    "valid_until": "2030-12-31",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("holder") / "home"
    port = free_port()  # the issuer is chosen before the server starts: posts here name it
    home.mkdir(parents=True)
    (home / "issuer").write_text(f"http://127.0.0.1:{port}\n")
    h = Hutong.create(Settings(home=home, issuer=f"http://127.0.0.1:{port}"))
    add_person(h, "studio", holder=STUDIO)
    add_person(h, "rival", holder=OTHER)
    add_person(h, "xiaoming", creator="xiaoming")
    add_person(h, "reviewer", staff=True)
    add_person(h, "nobody")
    h.creators.set_verified("xiaoming")
    bunny = h.catalogue.add_one(
        SAMPLES / "bbb_30s.mp4", title="Big Buck Bunny", holder=STUDIO, check_duplicates=False
    )
    sintel = h.catalogue.add_one(
        SAMPLES / "sintel_trailer.mp4", title="Sintel", holder=OTHER, check_duplicates=False
    )
    h.licences.grant(STUDIO, LicenceTerms.parse({"works": [bunny.work_id], **TERMS}))  # L-1
    h.licences.grant(OTHER, LicenceTerms.parse({"works": [sintel.work_id], **TERMS}))  # L-2
    # a certificate over the bunny (the sample itself as the clip), a post here that carries it, and one
    # published to another platform through distribution: rows as ingest and distribution leave them
    cert = h.compliance.certify(h.compliance.check(SAMPLES / "bbb_30s.mp4", "xiaoming", "douyin"))
    jti = cert.claims["jti"]
    with h.db.session() as s:
        s.execute(insert(Video), [dict(id="v_1", client_id="app", account_id=1, path="/v/1.mp4", sha256="0" * 64,
                                       size=1, duration=30.0)])  # fmt: skip
        s.execute(insert(Post), [dict(id="p_1", video_id="v_1", account_id=1, client_id="app", status="published",
                                      certificate_id=jti, certificate_issuer=h.settings.issuer)])  # fmt: skip
        s.execute(insert(DistributionAccount), [dict(name="xm-bili", creator="xiaoming", adapter="bilibili",
                  platform_url="http://127.0.0.1:9", platform_name="bilibili", client_id="c",
                  redirect_uri="http://127.0.0.1:9/cb", status="connected")])  # fmt: skip
        acc = s.execute(select(DistributionAccount.id)).scalar_one()
        s.execute(insert(PublishJob), [dict(clip_sha256="1" * 64, account_id=acc, clip_path="/c.mp4", certificate="t",
                  certificate_id=jti, state="published", idempotency_key="k", remote_post_id="rp_1")])  # fmt: skip
    h.close()
    srv = start_server(home, port=port, env={"HUTONG_MAX_MEDIA_BYTES": str(MAX_BYTES)})
    srv.ids = {"bunny": bunny.work_id, "sintel": sintel.work_id, "jti": jti}
    yield srv
    srv.stop()


def state(server, stmt):
    h = local_hutong(server.home)
    try:
        with h.db.session() as s:
            return s.execute(stmt).scalar_one()
    finally:
        h.close()


def pages(ids) -> list[str]:
    b = ids["bunny"]
    return ["/console/holder/works", f"/console/holder/works/{b}", f"/console/holder/works/{b}/frames/0.png",
            "/console/holder/works/registrations/abc", "/console/holder/licences", "/console/holder/licences/new",
            "/console/holder/licences/L-1", "/console/holder/licences/L-1/amend", "/console/holder/licences/L-1/revoke",
            "/console/holder/uses"]  # fmt: skip


def test_every_holder_page_is_refused_to_other_roles_and_anonymous_visitors_are_sent_to_sign_in(server):
    for who in ("xiaoming", "reviewer", "nobody"):
        p = Person(server.url, who)
        for path in pages(server.ids):
            r = p.page(path)
            assert r.status_code == 403, (who, path, r.status_code)
            assert "rights holders" in text_of(r.text)
    anonymous = Person(server.url)
    for path in pages(server.ids):
        r = anonymous.page(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console?next="), path


def test_every_form_refuses_a_missing_or_forged_csrf_token_and_changes_nothing(server):
    p = Person(server.url, "studio")
    b = server.ids["bunny"]
    r = p.http.post("/console/holder/works/upload?filename=a.mp4", content=b"x" * 100)
    assert r.status_code == 403 and "CSRF" in r.text
    forms = [f"/console/holder/works/{b}/remove", "/console/holder/licences", "/console/holder/licences/L-1/amend",
             "/console/holder/licences/L-1/revoke"]  # fmt: skip
    for path in forms:
        for token in ("", "forged-token"):
            r = p.http.post(
                path, data={"csrf": token, "work": str(b), "valid_until": "2031-01-01", "reason": "x"}
            )
            assert r.status_code == 403 and "CSRF" in r.text, path
    assert state(server, select(Licence.status).where(Licence.code == "L-1")) == "active"
    assert state(server, select(Licence.version).where(Licence.code == "L-1")) == 1
    assert state(server, select(Work.removed_at).where(Work.id == b)) is None


def test_another_holders_works_and_licences_are_not_found(server):
    p = Person(server.url, "studio")
    s = server.ids["sintel"]
    for path in (f"/console/holder/works/{s}", f"/console/holder/works/{s}/frames/0.png", "/console/holder/licences/L-2",
                 "/console/holder/licences/L-2/amend", "/console/holder/licences/L-2/revoke", "/console/holder/works/999999"):  # fmt: skip
        r = p.page(path)
        assert r.status_code == 404, path
        assert "Sintel" not in r.text
    p.page("/console/holder/licences")
    r = p.post("/console/holder/licences/L-2/revoke", {"reason": "not mine to revoke"})
    assert r.status_code == 404
    r = p.post(f"/console/holder/works/{s}/remove")
    assert r.status_code == 404
    r = p.post("/console/holder/licences", {"work": str(s), "platforms": "*", "valid_until": "2030-01-01"})
    assert r.status_code == 422 and "choose works from your catalogue" in text_of(r.text)
    assert state(server, select(Licence.status).where(Licence.code == "L-2")) == "active"
    for path in ("/console/holder/works", "/console/holder/licences", "/console/holder/uses"):
        text = text_of(p.page(path).text)
        assert "Sintel" not in text and "L-2" not in text, path
    assert "Big Buck Bunny" in text_of(p.page("/console/holder/works").text)


def upload(p: Person, path_or_bytes, filename: str, title: str = "") -> tuple[int, str]:
    body = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    r = p.http.post("/console/holder/works/upload", params={"filename": filename, "title": title}, content=body,
                    headers={"X-CSRF-Token": p.csrf, "Content-Type": "application/octet-stream"})  # fmt: skip
    return r.status_code, r.text


def wait_registration(p: Person, html: str) -> str:
    if 'hx-trigger="every 1s"' not in html:  # it finished before the answer was written
        return text_of(html)
    job = re.search(r"/console/holder/works/registrations/([\w-]+)", html)
    assert job, html
    for _ in range(120):
        r = p.page(
            f"/console/holder/works/registrations/{job.group(1)}",
            headers={"HX-Request": "true", "HX-Target": "registration"},
        )
        assert r.status_code == 200
        if 'hx-trigger="every 1s"' not in r.text:  # done or failed: it stops polling
            return text_of(r.text)
        time.sleep(0.5)
    raise AssertionError("registration did not finish")


def uploads(server) -> list[str]:
    return sorted(f.name for f in (server.home / "works").iterdir())


def test_an_upload_is_registered_in_the_background_and_refusals_leave_nothing(server):
    p = Person(server.url, "studio")
    p.page("/console/holder/works")
    status, html = upload(p, SAMPLES / "cars_unregistered.mp4", "cars.mp4", "Cars")
    assert status == 202 and 'hx-trigger="every 1s"' in html and "Fingerprinting" in text_of(html)
    first = re.search(r"/console/holder/works/registrations/[\w-]+", html).group(0)
    done = wait_registration(p, html)
    assert "Registered: 《Cars》 is work" in done
    kept = uploads(server)
    assert len(kept) == 1 and kept[0].endswith(".mp4")
    r = p.page(first, headers={"HX-Request": "true", "HX-Target": "registration"})
    assert r.headers["HX-Trigger"] == "work-registered" and r.text.lstrip().startswith(
        '<div id="registration"'
    )
    # the same file again: the catalogue's own reason, and the second copy is not kept
    status, html = upload(p, SAMPLES / "cars_unregistered.mp4", "cars again.mp4")
    assert status == 202
    failed = wait_registration(p, html)
    assert (
        "Not registered" in failed and "already registered as work" in failed and "“cars again.mp4”" in failed
    )
    # not media at all
    status, html = upload(p, b"this is not a video, only some text" * 100, "notes.mp4")
    failed = wait_registration(p, html)
    assert "Not registered" in failed and "notes.mp4" in failed
    # over the installation's limit, declared or streamed without a length: refused, nothing partial kept
    status, _ = upload(p, SAMPLES / "tears_of_steel_battle.mp4", "tears.mp4")
    assert status == 413

    def chunks():
        for _ in range(MAX_BYTES // 65536 + 4):
            yield b"\0" * 65536

    r = p.http.post("/console/holder/works/upload", params={"filename": "big.mp4"}, content=chunks(),
                    headers={"X-CSRF-Token": p.csrf})  # fmt: skip
    assert r.status_code == 413
    status, html = upload(p, b"", "empty.mp4")
    assert status == 400 and "empty" in text_of(html)
    assert uploads(server) == kept
    # another holder's registration is not found; nobody uploads for a holder they do not act for
    assert Person(server.url, "rival").page(first).status_code == 404
    r = p.http.post("/console/holder/works/upload?filename=a.mp4&holder=" + OTHER, content=b"1",
                    headers={"X-CSRF-Token": p.csrf})  # fmt: skip
    assert r.status_code == 403


def test_without_script_the_form_uploads_and_the_registration_has_its_own_page(server):
    p = Person(server.url, "studio")
    p.page("/console/holder/works")
    kept = uploads(server)
    files = {"file": ("notes.mkv", b"plain text, not a film" * 50, "video/x-matroska")}
    r = p.http.post("/console/holder/works/upload", data={"csrf": "forged"}, files=files)
    assert r.status_code == 403 and "CSRF" in r.text
    r = p.http.post(
        "/console/holder/works/upload", data={"csrf": p.csrf}, files={"file": ("", b"", "video/mp4")}
    )
    assert r.status_code == 400 and "Choose a video or audio file first" in text_of(r.text)
    r = p.http.post("/console/holder/works/upload", data={"csrf": p.csrf, "title": "Notes"}, files=files)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/holder/works/registrations/")
    for _ in range(60):
        page = p.page(r.headers["location"])
        if 'hx-trigger="every 1s"' not in page.text:
            break
        time.sleep(0.5)
    assert page.text.lstrip().startswith("<!doctype html>")  # a whole page, not the part htmx swaps
    assert "Not registered: “notes.mkv”: not a media file FFmpeg can read" in html.unescape(
        text_of(page.text)
    )
    assert uploads(server) == kept


def test_a_works_page_shows_facts_thumbnails_licences_and_removal(server):
    p = Person(server.url, "studio")
    b = server.ids["bunny"]
    r = p.page(f"/console/holder/works/{b}")
    text = text_of(r.text)
    assert r.status_code == 200 and "《Big Buck Bunny》" in text and "L-1" in text and STUDIO in text
    assert r.text.count(f"/console/holder/works/{b}/frames/") == 6
    png = p.page(f"/console/holder/works/{b}/frames/3.png")
    assert (
        png.status_code == 200
        and png.headers["content-type"] == "image/png"
        and png.content[:4] == b"\x89PNG"
    )
    assert len(list((server.home / "thumbnails").glob("*-3.png"))) == 1  # decoded once, kept on disk
    assert p.page(f"/console/holder/works/{b}/frames/6.png").status_code == 422
    assert p.page("/console/holder/works/0").status_code == 422
    # a licensed work cannot be removed; an unlicensed one can, and is then gone
    assert "Revoke or amend them first" in text
    r = p.post(f"/console/holder/works/{b}/remove")
    assert r.status_code == 400 and "named by licence L-1" in text_of(r.text)
    cars = state(server, select(Work.id).where(Work.title == "Cars", Work.removed_at.is_(None)))
    assert 'data-confirm="Remove' in p.page(f"/console/holder/works/{cars}").text
    r = p.post(f"/console/holder/works/{cars}/remove")
    assert r.status_code == 303
    assert p.page(f"/console/holder/works/{cars}").status_code == 404


def test_the_grant_form_shows_the_clis_errors_and_grants(server):
    p = Person(server.url, "studio")
    b = str(server.ids["bunny"])
    assert 'name="work"' in p.page("/console/holder/licences/new").text
    bad = [
        ({"platforms": "*", "valid_until": "2030-01-01"}, "choose at least one work"),
        (
            {"work": b, "platforms": "douyin", "valid_from": "2030-01-01", "valid_until": "2029-01-01"},
            "the dates are in the wrong order",
        ),
        ({"work": b, "platforms": "douyin", "valid_until": "someday"}, "valid_until"),
        (
            {
                "work": b,
                "platforms": "douyin",
                "valid_until": "2030-01-01",
                "scope": "creators",
                "creators": "@ghost",
            },
            "ghost",
        ),
        ({"work": b, "platforms": "douyin", "valid_until": "2030-01-01", "max_share": "2"}, "max_share"),
        (
            {"work": b, "platforms": "douyin", "valid_until": "2030-01-01", "forbid": "three minutes"},
            "write the range as 'WORK START-END [LABEL]'",
        ),
        (
            {"work": b, "platforms": "douyin", "valid_until": "2030-01-01", "forbid": f"{b} 0:00-9:00"},
            "cover all of 《Big Buck Bunny》",
        ),
        ({"work": b, "platforms": "* douyin", "valid_until": "2030-01-01"}, "cannot be combined"),
        ({"work": b, "platforms": "douyin", "valid_until": "2030-01-01"}, "overlaps licence L-1"),
    ]
    before = state(server, select(Licence.id).order_by(Licence.id.desc()).limit(1))
    for fields, message in bad:
        p.page("/console/holder/licences/new")
        r = p.post("/console/holder/licences", fields)
        assert r.status_code == 422, fields
        said = html.unescape(text_of(r.text))
        assert "The licence was not granted" in said and message in said, (fields, message)
        assert f'value="{fields["platforms"]}"' in r.text  # what was typed is shown again
    assert state(server, select(Licence.id).order_by(Licence.id.desc()).limit(1)) == before
    r = p.post("/console/holder/licences", {"work": b, "platforms": "bilibili", "valid_until": "2030-01-01",
                                            "scope": "creators", "creators": "@xiaoming", "max_segment": "10",
                                            "attribution": "© Blender Foundation", "allow_overlap": "on"})  # fmt: skip
    assert r.status_code == 303
    code = r.headers["location"].split("/")[-1].split("?")[0]
    page = text_of(p.page(r.headers["location"]).text)
    assert (
        f"Licence {code} granted" in page and "@xiaoming" in page and "bilibili" in page and "created" in page
    )
    # amend: a new version with its reason in the history
    form = p.page(f"/console/holder/licences/{code}/amend").text
    assert 'value="10"' in form and "@xiaoming" in form
    r = p.post(f"/console/holder/licences/{code}/amend", {"work": b, "platforms": "bilibili douyin",
               "valid_until": "2030-06-30", "scope": "creators", "creators": "@xiaoming", "max_segment": "15",
               "allow_overlap": "on", "reason": "add douyin"})  # fmt: skip
    assert r.status_code == 303
    page = text_of(p.page(f"/console/holder/licences/{code}").text)
    assert "v2" in page and "amended" in page and "add douyin" in page and "bilibili, douyin" in page
    r = p.post(
        f"/console/holder/licences/{code}/amend", {"work": b, "platforms": "", "valid_until": "2030-06-30"}
    )
    assert r.status_code == 422 and "The licence was not amended" in text_of(r.text)
    assert state(server, select(Licence.version).where(Licence.code == code)) == 2


def test_the_licence_list_pages_sorts_and_filters(server):
    p = Person(server.url, "studio")
    text = text_of(p.page("/console/holder/licences").text)
    assert "L-1" in text and "L-2" not in text
    r = p.page("/console/holder/licences?status=revoked")
    assert "No licence matches these filters" in text_of(r.text)
    r = p.page(
        "/console/holder/licences?sort=version&dir=desc",
        headers={"HX-Request": "true", "HX-Target": "listing"},
    )
    assert r.text.lstrip().startswith('<div id="listing">')
    rows = re.findall(r'href="/console/holder/licences/(L-\d+)"', r.text)
    assert rows and rows[0] != "L-1"  # the amended licence (v2) comes first
    r = p.page(f"/console/holder/licences?work={server.ids['bunny']}&q=L-1")
    assert re.findall(r'href="/console/holder/licences/(L-\d+)"', r.text) == ["L-1"]
    fresh = Person(server.url, "rival")
    assert "L-2" in text_of(fresh.page("/console/holder/licences").text)


def test_uses_are_listed_filtered_and_charted(server):
    p = Person(server.url, "studio")
    r = p.page("/console/holder/uses")
    text = text_of(r.text)
    rows = re.findall(r"<tr><td>.*?</tr>", r.text.split('<table class="uses">')[1], re.S)
    kinds = sorted(text_of(row).split("》 ")[1].split(" ")[0] for row in rows)
    assert len(rows) == 3 and kinds == ["certificate", "post", "post"], kinds
    assert "post on this platform" in text_of(rows[0] + rows[1] + rows[2])
    assert "bilibili" in text and "@xiaoming" in text and "Sintel" not in text
    assert r.text.count('role="img"') == 2 and "Uses per work" in text and "Uses per platform" in text
    assert "The numbers as a table" in text
    r = p.page(
        "/console/holder/uses?kind=distribution", headers={"HX-Request": "true", "HX-Target": "listing"}
    )
    assert r.text.lstrip().startswith('<div id="listing">') and text_of(r.text).count("@xiaoming") == 1
    assert "No use matches these filters" in text_of(p.page("/console/holder/uses?platform=weibo").text)
    assert "No uses yet" in text_of(Person(server.url, "rival").page("/console/holder/uses").text)


def test_revoking_lists_what_it_brings_down_first_then_revokes(server):
    p = Person(server.url, "studio")
    page = text_of(p.page("/console/holder/licences/L-1/revoke").text)
    assert "will be revoked with it: 1" in page
    assert "which will be taken down: 1" in page
    assert "certificate shows as revoked): 1" in page
    r = p.post("/console/holder/licences/L-1/revoke", {"reason": "  "})
    assert r.status_code == 422 and "say why the licence is revoked" in text_of(r.text)
    r = p.post("/console/holder/licences/L-1/revoke", {"reason": "the studio withdrew the film"})
    assert r.status_code == 303
    page = text_of(p.page(r.headers["location"]).text)
    assert "Licence L-1 revoked" in page and "the studio withdrew the film" in page
    assert state(server, select(Certificate.status).where(Certificate.id == server.ids["jti"])) == "revoked"
    assert state(server, select(PublishJob.state)) == "take_down"
    assert p.page("/console/holder/licences/L-1/amend").status_code == 409
    r = p.post("/console/holder/licences/L-1/revoke", {"reason": "again"})
    assert r.status_code == 422 and "already revoked" in text_of(r.text)


def test_the_pages_speak_chinese(server):
    p = Person(server.url, "studio", **{"Accept-Language": "zh-CN"})
    for path in ("/console/holder/works", "/console/holder/licences", "/console/holder/uses",
                 "/console/holder/licences/new", f"/console/holder/works/{server.ids['bunny']}"):  # fmt: skip
        r = p.page(path)
        assert r.status_code == 200 and re.search(r"[\u4e00-\u9fff]", text_of(r.text).replace("互通", "")), (
            path
        )
    assert "添加作品" in p.page("/console/holder/works").text


def test_a_holder_adds_a_work_licenses_it_and_looks_at_its_uses_in_chromium(server, browser):
    from playwright.sync_api import expect

    with console_tab(browser, server.url) as page:
        sign_in(page, server.url, "studio")
        page.goto(server.url + "/console/holder/works")
        page.get_by_text("Add a work").click()
        page.set_input_files("input[type=file]", str(SAMPLES / "chaplin_unregistered.mp4"))
        page.fill("input[name=title]", "The Rink")
        page.get_by_role("button", name="Upload and register").click()
        expect(page.locator("#registration")).to_contain_text("Registered: 《The Rink》", timeout=60_000)
        expect(page.locator("#upload-bar")).to_have_js_property("value", 100)  # the upload reported progress
        expect(page.locator("#listing")).to_contain_text("The Rink")  # the list shows the new work at once
        assert axe_violations(page) == []
        screenshot(page, "holder-works")

        page.get_by_role("link", name="Open the work").click()
        expect(page.locator("h1")).to_have_text("《The Rink》")
        thumbs = page.locator(".thumbs img")
        expect(thumbs).to_have_count(6)
        for i in range(6):
            expect(thumbs.nth(i)).to_have_js_property("complete", True)
            assert thumbs.nth(i).evaluate("img => img.naturalWidth") == 240
        assert axe_violations(page) == []
        screenshot(page, "holder-work")

        page.get_by_role("link", name="Grant a licence for this work").click()
        page.fill("input[name=platforms]", "douyin")
        page.fill("input[name=valid_until]", "2020-01-01")
        page.get_by_role("button", name="Grant the licence").click()
        expect(page.locator("main .error")).to_contain_text("the dates are in the wrong order")
        assert axe_violations(page) == []
        page.fill("input[name=valid_until]", "2030-12-31")
        page.fill("input[name=max_segment]", "8")
        page.get_by_role("button", name="Grant the licence").click()
        expect(page.locator(".notice")).to_contain_text("granted")
        expect(page.locator("main")).to_contain_text("《The Rink》")
        assert axe_violations(page) == []
        screenshot(page, "holder-licence")

        page.get_by_role("link", name="Revoke…").click()
        expect(page.locator(".consequences")).to_contain_text("will be revoked with it: 0")
        page.fill("textarea[name=reason]", "granted by mistake")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Revoke the licence").click()
        expect(page.locator(".notice")).to_contain_text("revoked")

        page.get_by_role("link", name="Uses").click()
        expect(page.locator("figure.chart")).to_have_count(2)
        page.select_option("select[name=kind]", "distribution")
        expect(page.locator("#listing table.uses tbody tr")).to_have_count(1)
        expect(page.locator("#listing table.uses")).to_contain_text("post on another platform")
        expect(page).to_have_url(re.compile(r"kind=distribution"))
        page.select_option("select[name=kind]", "")
        expect(page.locator("#listing table.uses tbody tr")).to_have_count(3)
        assert axe_violations(page) == []
        screenshot(page, "holder-uses")
