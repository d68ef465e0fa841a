"""A real ``hutong serve`` on loopback, and a user agent that logs in and consents like a person would."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from hutong.api.background import free_port
from tests.platform.conftest import make_policy


@dataclass
class Server:
    url: str
    home: Path
    log: Path
    proc: subprocess.Popen
    log_file: object = None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)  # reaped: an unreaped Popen warns in whichever test runs next
        if self.log_file is not None:
            self.log_file.close()


def start_server(
    home: Path, *, port: int | None = None, env: dict | None = None, args: tuple[str, ...] = ()
) -> Server:
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    full_env = {**inherited, "HUTONG_HOME": str(home), **(env or {})}
    log_file = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hutong", "serve", "--port", str(port), "--log-level", "info", *args],
        env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log_file.close()
            raise RuntimeError(f"hutong serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                return Server(url, home, log, proc, log_file)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    log_file.close()
    raise RuntimeError("hutong serve did not start in 90 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    home = tmp / "home"
    (home / "attesters").mkdir(parents=True)
    (home / "attesters" / "kyc.jwks.json").write_text('{"keys": []}')
    s = start_server(
        home, env={"HUTONG_REVIEW_POLICY": str(make_policy(tmp, max_enterprises_per_legal_rep=3))}
    )
    yield s
    s.stop()


# -- helpers a test calls -----------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def api_user(url: str, username: str, password: str = "a long enough password") -> str:
    r = httpx.post(url + "/api/accounts", json={"username": username, "password": password})
    assert r.status_code in (201, 409), r.text
    r = httpx.post(url + "/api/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def new_app(
    url: str,
    *,
    client_type: str = "confidential",
    redirect_uris=("http://127.0.0.1:9/cb",),
    scopes=("openid", "profile", "video.create", "links.card"),
    owner: str | None = None,
) -> dict:
    token = api_user(url, owner or f"dev{secrets.token_hex(4)}")
    r = httpx.post(
        url + "/api/developers", json={"kind": "individual", "display_name": "Dev"}, headers=bearer(token)
    )
    assert r.status_code in (201, 409), r.text
    r = httpx.post(
        url + "/api/apps",
        json={
            "name": "Test app",
            "client_type": client_type,
            "redirect_uris": list(redirect_uris),
            "scopes": list(scopes),
        },
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    return r.json()


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": []})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value", ""), tag))


def forms(html: str) -> list[dict]:
    p = _Forms()
    p.feed(html)
    return p.forms


class UserAgent:
    """Cookies, forms and redirects, nothing more: what a browser does on these pages."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, follow_redirects=False)

    def __enter__(self) -> UserAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(
        self, html: str, action: str, extra: dict | None = None, button: str | None = None, base: str = ""
    ) -> httpx.Response:
        form = next(f for f in forms(html) if f["action"] == action)
        data = [(n, v) for n, v, tag in form["fields"] if tag == "input"]
        if button:
            data += [(n, v) for n, v, tag in form["fields"] if tag == "button" and v == button]
        data = [(n, v) for n, v in data if not extra or n not in extra] + list((extra or {}).items())
        form_type = {"content-type": "application/x-www-form-urlencoded"}
        return self.http.post(base + action, content=urlencode(data), headers=form_type)

    def submit_to(
        self, base: str, html: str, action: str, extra: dict | None = None, button: str | None = None
    ) -> httpx.Response:
        """Submit a form of another site (absolute URL), keeping this agent's cookies."""
        return self.submit(html, action, extra, button, base=base)

    def login(
        self, username: str, password: str = "a long enough password", next_path: str = "/"
    ) -> httpx.Response:
        page = self.get(f"/login?next={next_path}")
        return self.submit(page.text, "/login", {"username": username, "password": password})

    def authorize(self, query: str, *, decision: str = "allow") -> httpx.Response:
        """GET the authorization URL, consent; returns the response that goes back to the client."""
        r = self.get("/oauth/authorize?" + query)
        if r.status_code != 200:
            return r
        return self.submit(r.text, "/oauth/authorize", button=decision)


def code_grant(ua: UserAgent, app: dict, scope: str, redirect_uri: str = "http://127.0.0.1:9/cb") -> dict:
    """The authorization-code flow with PKCE for an agent already logged in: consent, then redeem the code."""
    verifier, challenge = pkce()
    query = urlencode({"response_type": "code", "client_id": app["client_id"], "redirect_uri": redirect_uri, "scope": scope,
                       "state": secrets.token_hex(8), "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    code = redirect_params(ua.authorize(query))["code"]
    r = httpx.post(ua.url + "/oauth/token", auth=(app["client_id"], app["client_secret"]), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def redirect_params(r: httpx.Response) -> dict:
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def same_site(location: str, base: str) -> bool:
    return urlsplit(urljoin(base, location)).netloc == urlsplit(base).netloc


def extract(html: str, pattern: str) -> str:
    m = re.search(pattern, html)
    assert m, pattern
    return m.group(1)


def killed_mid_part(url: str, proc: subprocess.Popen, params: dict, headers: dict, part: bytes) -> None:
    """Half of an upload part reaches the API process at ``url``, then ``proc`` (that process) is killed
    with SIGKILL before the rest arrives; the client sees a failure, no answer."""
    half_sent, finish = threading.Event(), threading.Event()

    def body():
        yield part[: len(part) // 2]
        half_sent.set()
        finish.wait(20)
        yield part[len(part) // 2 :]

    outcome: list = []

    def send():
        try:
            outcome.append(httpx.post(url + "/open/video/upload_video_part", params=params, content=body(),
                                      headers=headers, timeout=30))  # fmt: skip
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    assert half_sent.wait(20)
    time.sleep(0.5)  # the half is in the process's hands
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    finish.set()
    sender.join(30)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome
