"""The creator's console on a real server (A, the creator service) with a real second platform (B, another
`hutong serve` that trusts A's certificates), the creator's account on B connected by real OAuth, and A's
publishing worker running here: refusals route by route, bad uploads, another creator's objects, CSRF, and
in Chromium the whole flow on a real 二创 clip (upload → timeline → what to change → certificate → publish)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hutong.api.background import free_port
from hutong.app import Hutong
from hutong.compliance import c2pa_manifest
from hutong.config import installation_settings
from hutong.rights import LicenceTerms
from hutong.store import ClipCheck
from hutong.store.paging import ListQuery
from tests.api.conftest import UserAgent, api_user, bearer, start_server
from tests.conftest import CARS
from tests.distribute.conftest import LOOPBACK_ENV
from tests.web.conftest import Person, add_person, axe_violations, console_tab, screenshot, sign_in, text_of

HOLDER = "Blender Foundation"
REDIRECT = "http://127.0.0.1:9/cb"
MAX_BYTES = 12 * 1024 * 1024
FAKE = "0" * 32  # a well-formed id that is nobody's


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("creator")
    home_a, home_b = tmp / "a", tmp / "b"
    shutil.copytree(registered_home, home_a)
    pa, pb = free_port(), free_port()
    a_url, b_url = f"http://127.0.0.1:{pa}", f"http://127.0.0.1:{pb}"
    clip = tmp / "river_remix.mp4"
    shutil.copy(two_work_clip.path, clip)

    # platform B is on loopback, which the outbound address policy refuses unless allowed (as in tests/distribute)
    allow = pytest.MonkeyPatch()
    for k, v in LOOPBACK_ENV.items():
        allow.setenv(k, v)
    h = Hutong.create(installation_settings(home=home_a, issuer=a_url, platform_name="creator-service"))
    hb = Hutong.create(installation_settings(home=home_b, issuer=b_url, platform_name="platform-b"))
    hb.platform.directory.trust(a_url, note="creator console test")
    hb.close()
    # both servers start while the people and the licence are made (the database is read per request)
    pool = ThreadPoolExecutor(2)
    starting_b = pool.submit(start_server, home_b, port=pb, env={
        "HUTONG_ISSUER": b_url, "HUTONG_PLATFORM_NAME": "platform-b", "HUTONG_UNCERTIFIED": "reject"})  # fmt: skip
    starting_a = pool.submit(start_server, home_a, port=pa, env={
        "HUTONG_ISSUER": a_url, "HUTONG_PLATFORM_NAME": "creator-service", "HUTONG_MAX_MEDIA_BYTES": str(MAX_BYTES),
        **LOOPBACK_ENV})  # fmt: skip
    worker = None
    try:
        h.creators.add("xiaoming", name="Xiao Ming", verified=True)
        add_person(h, "xiaoming", creator="xiaoming")
        add_person(h, "xiaohong", creator="xiaohong")
        add_person(h, "qingshan", holder=HOLDER)
        add_person(h, "reviewer", staff=True)
        add_person(h, "nobody")
        add_person(h, "duo", creator="duo-a")  # a person acting for two creator names
        h.creators.add("duo-b")
        h.platform.roles.grant("duo", "creator", "duo-b")
        # Sintel (work 2) only: the clip's Big Buck Bunny part is unlicensed until the holder extends the licence
        lic = h.licences.grant(HOLDER, LicenceTerms.parse({
            "works": [2], "scope": {"kind": "verified"}, "platforms": ["platform-b", "douyin"],
            "valid_from": "2026-01-01", "valid_until": "2030-01-01", "attribution": "© Blender Foundation, CC BY"}))  # fmt: skip
        b = starting_b.result()
        a = starting_a.result()
        dev = api_user(b_url, "csp-dev")
        httpx.post(b_url + "/api/developers", json={"kind": "individual", "display_name": "Creator service"},
                   headers=bearer(dev))  # fmt: skip
        app = httpx.post(b_url + "/api/apps", headers=bearer(dev), json={
            "name": "Clip Carrier", "client_type": "confidential", "redirect_uris": [REDIRECT],
            "scopes": ["openid", "video.create"]}).json()  # fmt: skip
        api_user(b_url, "meimei")
        started = h.distribution.accounts.start("b-main", b_url, client_id=app["client_id"],
                                                client_secret=app["client_secret"], redirect_uri=REDIRECT,
                                                creator="xiaoming")  # fmt: skip
        with UserAgent(b_url) as ua:
            ua.login("meimei")
            back = ua.submit(ua.get(started["authorization_url"]).text, "/oauth/authorize", button="allow")
        assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"
        worker = h.distribution.worker(1).start()
        yield {"h": h, "url": a_url, "b": b, "clip": clip, "licence": lic.code, "a": a}
    finally:
        if worker:
            worker.stop()
        pool.shutdown()  # waits for both starts
        for starting in (starting_a, starting_b):
            if not starting.exception():
                starting.result().stop()
        h.close()
        allow.undo()


def cover_both_works(h: Hutong, code: str) -> None:
    """The holder extends the licence to Big Buck Bunny (work 1) too (what the holder's pages do)."""
    lic = h.licences.get(code)
    if 1 not in lic.terms.works:
        h.licences.amend(code, lic.terms.model_copy(update={"works": [1, 2]}), reason="whole clip")


def upload(
    p: Person, data, *, name: str = "clip.mp4", platform: str = "platform-b", **headers
) -> httpx.Response:
    return p.http.post("/console/creator/upload", params={"name": name, "platform": platform}, content=data,
                       headers={"X-CSRF-Token": p.csrf, "Content-Type": "application/octet-stream", **headers})  # fmt: skip


def wait_done(p: Person, check_id: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = p.page(f"/console/creator/checks/{check_id}").text
        if "recognition is running" not in page:
            return page
        time.sleep(0.3)
    raise AssertionError(f"check {check_id} still running")


@pytest.fixture(scope="module")
def checked(world):
    """xiaoming's check of the clip on platform-b, done (not compliant: Big Buck Bunny is not licensed)."""
    p = Person(world["url"], "xiaoming")
    r = upload(p, world["clip"].read_bytes(), name="river_remix.mp4")
    assert r.status_code == 303, r.text
    check_id = r.headers["location"].rsplit("/", 1)[1]
    p.page(r.headers["location"])
    return check_id, wait_done(p, check_id)


PAGES = ["/console/creator/upload", "/console/creator/checks", "/console/creator/jobs", "/console/creator/jobs/1",
         f"/console/creator/checks/{FAKE}", f"/console/creator/checks/{FAKE}/timeline.svg",
         f"/console/creator/checks/{FAKE}/frames/0/clip.png", f"/console/creator/certificates/{FAKE}.jws",
         f"/console/creator/certificates/{FAKE}.c2pa.mp4"]  # fmt: skip
FORMS = [f"/console/creator/checks/{FAKE}/platform", f"/console/creator/checks/{FAKE}/certificate",
         f"/console/creator/checks/{FAKE}/publish", "/console/creator/upload?name=a.mp4&platform=douyin"]  # fmt: skip


@pytest.mark.parametrize("username", ["qingshan", "reviewer", "nobody"])
def test_every_creator_page_and_form_is_refused_to_other_roles(world, username):
    p = Person(world["url"], username)
    for path in PAGES:
        r = p.page(path)
        assert r.status_code == 403 and "for creators" in text_of(r.text), path
    for path in FORMS:
        r = p.post(path, {"platform": "douyin"})
        assert r.status_code == 403 and "for creators" in text_of(r.text), path


def test_anonymous_visitors_are_sent_to_sign_in(world):
    p = Person(world["url"])
    for path in PAGES:
        r = p.page(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console?next="), path
    for path in FORMS:
        assert p.post(path).status_code == 303, path


def test_bad_uploads_get_a_readable_refusal_and_leave_nothing(world):
    p = Person(world["url"], "xiaoming")
    r = upload(p, b"this is a text file, not a film" * 100, name="notes.mp4")
    assert r.status_code == 422 and "notes.mp4 is not a video" in text_of(r.text)
    r = upload(p, b"", name="empty.mp4")
    assert r.status_code == 422 and "empty" in text_of(r.text)
    r = upload(p, b"\0" * (MAX_BYTES + 1), name="huge.mp4")  # declared too large: refused before reading
    assert r.status_code == 413

    def chunks():  # streamed without a declared length: refused when the limit is passed
        for _ in range(MAX_BYTES // (1 << 20) + 2):
            yield b"\0" * (1 << 20)

    r = upload(p, chunks(), name="huge.mp4")
    assert r.status_code == 413 and f"over {MAX_BYTES} bytes" in text_of(r.text)
    r = upload(p, world["clip"].read_bytes(), name="x.mp4", **{"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = p.http.post("/console/creator/upload", params={"name": "x.mp4", "platform": "douyin", "creator": "xiaohong"},
                    content=b"x", headers={"X-CSRF-Token": p.csrf})  # fmt: skip
    assert r.status_code == 422 and "Choose which of your creator names" in text_of(r.text)
    with world["h"].db.session() as s:
        assert (
            s.query(ClipCheck)
            .filter(ClipCheck.name.in_(["notes.mp4", "empty.mp4", "huge.mp4", "x.mp4"]))
            .count()
            == 0
        )
    leftovers = list((world["a"].home / "distribution" / "clips").glob(".upload-*"))
    assert not leftovers


def test_a_person_with_several_creator_names_picks_one(world):
    p = Person(world["url"], "duo")
    form = p.page("/console/creator/upload").text
    assert '<option value="duo-a">@duo-a</option>' in form and '<option value="duo-b">@duo-b</option>' in form
    r = upload(p, b"not read", name="a.mp4")
    assert r.status_code == 422 and "Choose which of your creator names" in text_of(r.text)
    r = p.http.post("/console/creator/upload", params={"name": "a.mp4", "platform": "douyin", "creator": "duo-b"},
                    content=b"not a film", headers={"X-CSRF-Token": p.csrf})  # fmt: skip
    assert r.status_code == 422 and "a.mp4 is not a video" in text_of(r.text)  # duo-b accepted, the file not


def test_a_check_shows_each_verdict_in_plain_words_and_what_to_change(world, checked):
    check_id, page = checked
    text = text_of(page)
    assert "not compliant" in text and "Parts not licensed for @xiaoming on platform-b: 1 of 2" in text
    assert "No licence covers this work." in text and "Your licence allows this part." in text
    assert "Cut 0:" in text and "(《bbb_30s》)" in text  # the Big Buck Bunny seconds, from the decision
    assert "A certificate is issued only for a compliant clip" in text
    p = Person(world["url"], "xiaoming")
    svg = p.page(f"/console/creator/checks/{check_id}/timeline.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "bbb_30s" in svg.text
    for side in ("clip", "work"):
        png = p.page(f"/console/creator/checks/{check_id}/frames/1/{side}.png")
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert p.page(f"/console/creator/checks/{check_id}/frames/9/clip.png").status_code == 404
    r = p.post(f"/console/creator/checks/{check_id}/certificate")
    assert r.status_code == 422 and "river_remix.mp4: not compliant, no certificate issued" in text_of(r.text)
    listing = text_of(p.page("/console/creator/checks?compliant=no").text)
    assert "river_remix.mp4" in listing and "1–1 of 1" in listing
    assert "river_remix.mp4" not in text_of(p.page("/console/creator/checks?compliant=yes").text)
    zh = Person(world["url"], "xiaoming", **{"Accept-Language": "zh-CN"})
    assert "不合规" in zh.page(f"/console/creator/checks/{check_id}").text
    part = p.page(
        "/console/creator/checks?sort=name", headers={"HX-Request": "true", "HX-Target": "listing"}
    ).text
    assert part.lstrip().startswith('<div id="listing">')


def test_forms_refuse_a_missing_or_forged_csrf_token(world, checked):
    check_id, _ = checked
    p = Person(world["url"], "xiaoming")
    p.csrf = "forged"
    for path in ("platform", "certificate", "publish"):
        r = p.post(f"/console/creator/checks/{check_id}/{path}", {"platform": "douyin", "to": "b-main"})
        assert r.status_code == 403 and "CSRF" in r.text, path


def test_another_creators_checks_certificates_and_jobs_are_not_shown(world, checked):
    check_id, _ = checked
    p = Person(world["url"], "xiaohong")
    for path in (
        f"/checks/{check_id}",
        f"/checks/{check_id}/timeline.svg",
        f"/checks/{check_id}/frames/0/clip.png",
    ):
        assert p.page("/console/creator" + path).status_code == 404, path
    for path in ("platform", "certificate", "publish"):
        assert p.post(f"/console/creator/checks/{check_id}/{path}", {"platform": "douyin"}).status_code == 404
    assert "river_remix" not in p.page("/console/creator/checks").text
    assert "You have not checked a clip yet" in text_of(p.page("/console/creator/checks").text)


def test_in_chromium_upload_timeline_certificate_and_publish(world, browser, checked):
    from playwright.sync_api import expect

    url, h = world["url"], world["h"]
    with console_tab(browser, url) as page:
        sign_in(page, url, "xiaoming")
        page.click("header nav >> text=Creator")
        page.wait_for_url("**/console/creator/checks")
        page.click("nav.subnav >> text=Check a clip")
        page.wait_for_url("**/console/creator/upload")
        assert not axe_violations(page)
        screenshot(page, "creator-upload")
        page.set_input_files("input[name=clip]", str(world["clip"]))
        page.select_option("select[name=platform]", "platform-b")
        page.click("form#clip-upload button[type=submit]")
        page.wait_for_url("**/console/creator/checks/*")  # after the progress bar, the check's page
        expect(page.locator("#check .summary")).to_be_visible(timeout=60_000)  # htmx polled until done
        expect(page.locator("#check")).to_contain_text("not compliant")
        expect(page.locator("table.segments")).to_contain_text("unlicensed")
        expect(page.locator("#changes + ol")).to_contain_text("Cut")
        page.locator("table.segments img").last.scroll_into_view_if_needed()
        expect(page.locator("table.segments img").last).to_have_js_property("complete", True)
        assert not axe_violations(page)
        screenshot(page, "creator-timeline")

        cover_both_works(h, world["licence"])  # the holder extends the licence; decide again, no new upload
        page.click("text=Decide again")
        expect(page.locator("#check .summary")).to_contain_text(
            "Every part that uses a registered work is licensed"
        )
        page.click("text=Get the certificate")
        expect(page.locator("#certificate + section")).to_contain_text("certified")
        with page.expect_download() as download:
            page.click("text=Download the certificate (.jws)")
        token = Path(download.value.path()).read_text().strip()
        check_id = page.url.split("/checks/")[1].split("#")[0]
        assert token == h.compliance.get(h.checks.get(check_id, ["xiaoming"]).certificate_id).token
        assert not axe_violations(page)
        screenshot(page, "creator-certificate")

        page.check("input[name=to][value=b-main]")
        page.fill("textarea[name=caption]", "河边的混剪")
        page.click("text=Check first (nothing is published)")
        expect(page.locator(".targets")).to_contain_text("would publish to platform-b")
        expect(page.locator("input[name=to][value=b-main]")).to_be_checked()  # what was asked stays
        expect(page.locator("textarea[name=caption]")).to_have_value("河边的混剪")
        page.once("dialog", lambda d: d.accept())
        page.click("form >> button:text-is('Publish')")
        expect(page.locator(".targets")).to_contain_text("queued as job")
        expect(page.locator(".clip-jobs")).to_contain_text("published", timeout=30_000)  # polled
        assert not axe_violations(page)
        screenshot(page, "creator-publish")
        page.click(".clip-jobs tbody a")
        expect(page.locator("#job")).to_contain_text("published")
        expect(page.locator(".timeline-steps")).to_contain_text("queued for b-main")
        assert not axe_violations(page)
        page.click("nav.subnav >> text=Publishing jobs")
        expect(page.locator("#listing")).to_contain_text("b-main")
        assert not axe_violations(page)
    # B really has the post, with the caption and the credit the licence asks for
    with sqlite3.connect(world["b"].home / "hutong.db") as db:
        posts = db.execute("SELECT text FROM posts").fetchall()
    assert len(posts) == 1 and "河边的混剪" in posts[0][0] and "© Blender Foundation, CC BY" in posts[0][0]


def test_a_clip_edited_after_certification_is_refused_on_publish(world, checked, tmp_path):
    """Run last: it changes the stored clip's bytes, as an edit after certification would."""
    h = world["h"]
    cover_both_works(h, world["licence"])
    p = Person(world["url"], "xiaoming")
    p.page(f"/console/creator/checks/{checked[0]}")
    again = p.post(f"/console/creator/checks/{checked[0]}/platform", {"platform": "platform-b"})
    new_id = again.headers["location"].rsplit("/", 1)[1]
    assert p.post(f"/console/creator/checks/{new_id}/certificate").status_code == 303
    c = h.checks.get(new_id, ["xiaoming"])
    assert c.compliant and c.certificate_id
    other = Person(world["url"], "xiaohong")
    assert other.page(f"/console/creator/certificates/{c.certificate_id}.jws").status_code == 404
    for j in h.distribution.jobs.page(["xiaoming"], ListQuery()).items:
        assert other.page(f"/console/creator/jobs/{j.id}").status_code == 404
    assert "b-main" not in other.page("/console/creator/jobs").text
    copy = p.page(f"/console/creator/certificates/{c.certificate_id}.c2pa.mp4")
    assert copy.status_code == 200 and copy.headers["content-type"] == "video/mp4"
    embedded = tmp_path / "copy.mp4"
    embedded.write_bytes(copy.content)
    assert c2pa_manifest.read(embedded).token == h.compliance.get(c.certificate_id).token
    # an edit changes the picture and sound (bytes added at the end would not count)
    shutil.copyfile(CARS, c.clip_path)
    r = p.post(f"/console/creator/checks/{c.id}/publish", {"to": "b-main", "dry_run": "1"})
    assert r.status_code == 422, text_of(r.text)[-1500:]
    assert "the certificate does not hold for river_remix.mp4: clip-mismatch" in text_of(r.text)
