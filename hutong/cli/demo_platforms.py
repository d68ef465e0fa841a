"""The demo's cross-platform step: the demo's home is platform A (it holds the works and issues the
certificate); platform B is a second hutong instance that trusts A. Both run for real on loopback."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from hutong.api.app import create_app
from hutong.api.background import Background
from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import PlatformError
from hutong.platform.interconnect import fetch_manifest, reciprocity

PASSWORD = "demo password 2026"
PLATFORM_B = "bilibili"  # a platform the demo licence names


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


def _user_authorises(b_url: str, username: str, client_id: str) -> tuple[str, str]:
    """A user of B logs in on B's page and allows the app: returns (code, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:9/cb",
              "scope": "openid video.create", "state": secrets.token_hex(8), "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    with httpx.Client(base_url=b_url) as ua:
        page = ua.get("/login")
        ua.post(
            "/login", data={"csrf": _csrf(page.text), "username": username, "password": PASSWORD, "next": "/"}
        )
        consent = ua.get("/oauth/authorize?" + urlencode(params))
        back = ua.post("/oauth/authorize", data={**params, "csrf": _csrf(consent.text), "decision": "allow"})
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    return code, verifier


def _upload(b_url: str, token: str, data: bytes) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    init = httpx.post(
        b_url + "/open/video/init_video_part_upload", headers=auth, json={"size": len(data)}
    ).json()
    size = init["part_size"]
    for k in range(init["part_count"], 0, -1):  # parts in any order
        part = data[(k - 1) * size : k * size]
        httpx.post(b_url + "/open/video/upload_video_part", params={"upload_id": init["upload_id"], "part_number": k},
                   content=part, headers={**auth, "X-Part-SHA256": hashlib.sha256(part).hexdigest()}).raise_for_status()  # fmt: skip
    done = httpx.post(
        b_url + "/open/video/complete_video_part_upload",
        params={"upload_id": init["upload_id"]},
        headers=auth,
    )
    done.raise_for_status()
    return done.json()["video_id"]


def interconnect_story(h_a: Hutong, home: Path, clip: Path, certificate: str, b_port: int, say) -> dict:
    a_url = h_a.settings.issuer
    b_url = f"http://127.0.0.1:{b_port}"
    h_b = Hutong.create(get_settings(home=home / "platform-b", issuer=b_url, platform_name=PLATFORM_B,
                                     uncertified="reject", ingest_part_bytes=256 * 1024))  # fmt: skip
    try:
        with Background(create_app(h_a), int(urlsplit(a_url).port)), Background(create_app(h_b), b_port):
            p_b = h_b.platform
            with contextlib.suppress(PlatformError):  # a kept demo home trusts A already
                p_b.directory.trust(a_url, note="demo agreement")
            say(
                f"  platform A ({a_url}) issues certificates; platform B «{PLATFORM_B}» ({b_url}) trusts them"
            )
            for name in ("csp-dev", "meimei"):
                httpx.post(b_url + "/api/accounts", json={"username": name, "password": PASSWORD})
            dev = httpx.post(
                b_url + "/api/session", json={"username": "csp-dev", "password": PASSWORD}
            ).json()["token"]
            auth = {"Authorization": f"Bearer {dev}"}
            httpx.post(
                b_url + "/api/developers",
                headers=auth,
                json={"kind": "individual", "display_name": "Creator Service Platform"},
            )
            app = httpx.post(b_url + "/api/apps", headers=auth, json={"name": "Clip Pusher", "client_type": "confidential",
                             "redirect_uris": ["http://127.0.0.1:9/cb"], "scopes": ["openid", "video.create"]}).json()  # fmt: skip
            code, verifier = _user_authorises(b_url, "meimei", app["client_id"])
            token = httpx.post(b_url + "/oauth/token", auth=(app["client_id"], app["client_secret"]), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb",
                "code_verifier": verifier}).json()["access_token"]  # fmt: skip
            say(
                "  on B: a developer registers «Clip Pusher»; user @meimei allows it to publish for her (OAuth, PKCE)"
            )
            data = clip.read_bytes()
            auth = {"Authorization": f"Bearer {token}"}
            video = _upload(b_url, token, data)
            post = httpx.post(b_url + "/open/video/create_video", headers={**auth, "Idempotency-Key": secrets.token_hex(8)},
                              json={"video_id": video, "certificate": certificate}).json()  # fmt: skip
            say(
                f"  the app uploads the certified clip to B in parts and posts it: [bold]{post['status']}[/]",
                highlight=False,
            )
            tampered = bytearray(data)
            tampered[len(tampered) // 2] ^= 0x20
            bad = httpx.post(b_url + "/open/video/create_video", headers=auth,
                             json={"video_id": _upload(b_url, token, bytes(tampered)), "certificate": certificate}).json()  # fmt: skip
            say(
                f"  a copy with one byte changed, same certificate: [bold]{bad['status']}[/] ({bad['reason'].split(':')[0]})",
                highlight=False,
            )
            none = httpx.post(
                b_url + "/open/video/create_video",
                headers=auth,
                json={"video_id": _upload(b_url, token, data)},
            ).json()
            say(
                f"  the clip without its certificate: [bold]{none['status']}[/] (B's policy: certificates required)",
                highlight=False,
            )
            rows = reciprocity(fetch_manifest(h_b.http, a_url), fetch_manifest(h_b.http, b_url))
            say(
                "  what each platform opens to the other, read from their published manifests "
                "(A→B open: A offers it to B and B's users and apps; closed: not offered):"
            )
            for r in rows:
                say(
                    f"    {r['capability']}: A→B {'open' if r['a_to_b'] else 'closed'}, B→A {'open' if r['b_to_a'] else 'closed'}",
                    highlight=False,
                )
            return {
                "platform_a": a_url,
                "platform_b": b_url,
                "post": post,
                "tampered": bad,
                "uncertified": none,
                "reciprocity": rows,
            }
    finally:
        h_b.close()
