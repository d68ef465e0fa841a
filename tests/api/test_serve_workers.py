"""Several API processes over one PostgreSQL: `hutong serve --workers 2` on one port and a second
`hutong serve` on another, sharing the database and the home. Requests are sent to a chosen server on
purpose (the two ports are the honest way to know that two processes answered): sessions, CSRF, OAuth codes
and refresh tokens, webhook deliveries, uploads and the catalogue generation must not live in a process."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from hutong.api.background import Background, free_port
from hutong.keys import create_private
from hutong.media.synth import Piece
from tests.api.conftest import (
    UserAgent,
    api_user,
    bearer,
    code_grant,
    killed_mid_part,
    pkce,
    redirect_params,
    start_server,
)
from tests.conftest import BBB
from tests.platform.conftest import make_policy
from tests.platform.test_webhooks import Receiver
from tests.store.test_postgres import pg_url  # noqa: F401  (the module's temporary PostgreSQL cluster)

ISSUER = "http://hutong.test"  # not loopback: the one installation answers on both ports
REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture(scope="module")
def cluster(pg_url, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("cluster")
    home = tmp / "home"
    (home / "attesters").mkdir(parents=True)
    (home / "attesters" / "kyc.jwks.json").write_text('{"keys": []}')
    receiver, hook_port = Receiver(), free_port()
    env = {
        "HUTONG_DATABASE_URL": pg_url,
        "HUTONG_ISSUER": ISSUER,
        "HUTONG_REVIEW_POLICY": str(make_policy(tmp)),
        "HUTONG_OUTBOUND_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "HUTONG_INGEST_PART_BYTES": str(64 * 1024),
    }
    with Background(receiver.app, hook_port):
        a = start_server(home, env=env, args=("--workers", "2"))  # first: it migrates the schema
        try:
            b = start_server(home, env=env)
            try:
                yield {"a": a, "b": b, "env": env, "home": home, "hook": f"http://127.0.0.1:{hook_port}/fast",
                       "receiver": receiver, "pg": pg_url}  # fmt: skip
            finally:
                b.stop()
        finally:
            a.stop()


@pytest.fixture(scope="module")
def app_and_token(cluster):
    """An app registered through B, authorised by a user whose every step alternates between A and B."""
    a, b = cluster["a"].url, cluster["b"].url
    dev = api_user(b, "cluster-dev")
    r = httpx.post(
        b + "/api/developers", json={"kind": "individual", "display_name": "Dev"}, headers=bearer(dev)
    )
    assert r.status_code in (201, 409), r.text
    r = httpx.post(b + "/api/apps", headers=bearer(dev), json={
        "name": "Two processes", "client_type": "confidential", "redirect_uris": [REDIRECT],
        "scopes": ["openid", "video.create"], "webhook_url": cluster["hook"]})  # fmt: skip
    assert r.status_code == 201, r.text
    app = r.json()
    api_user(a, "cluster-user")
    verifier, challenge = pkce()
    query = urlencode({"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT,
                       "scope": "openid video.create", "state": secrets.token_hex(8), "code_challenge": challenge,
                       "code_challenge_method": "S256"})  # fmt: skip
    with UserAgent(a) as ua:
        assert ua.login("cluster-user").status_code in (302, 303)  # the session is made by A
        consent = ua.http.get(b + "/oauth/authorize?" + query)  # B reads A's session cookie
        assert consent.status_code == 200 and "Two processes" in consent.text, consent.text[:300]
        back = ua.submit(consent.text, "/oauth/authorize", button="allow")  # B's CSRF token, checked by A
    code = redirect_params(back)["code"]
    client = (app["client_id"], app["client_secret"])
    wrong = httpx.post(b + "/oauth/token", auth=client, data={"grant_type": "authorization_code", "code": code,
                       "redirect_uri": REDIRECT, "code_verifier": pkce()[0]})  # fmt: skip
    assert wrong.status_code == 400, wrong.text  # PKCE checked against the challenge A stored
    return app, client, code, verifier


def test_an_authorization_code_made_by_one_process_is_redeemed_once_at_another(cluster, app_and_token):
    a, b = cluster["a"].url, cluster["b"].url
    app, client, code, verifier = app_and_token
    grant = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    r = httpx.post(b + "/oauth/token", auth=client, data=grant)
    assert r.status_code == 200, r.text
    refresh = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}
    refreshed = httpx.post(a + "/oauth/token", auth=client, data=refresh)
    assert refreshed.status_code == 200, refreshed.text
    access = bearer(refreshed.json()["access_token"])
    me = httpx.get(b + "/oauth/userinfo", headers=access)
    assert me.status_code == 200 and me.json()["sub"], me.text
    # the code again, at the other process: refused, and what its first use obtained is revoked everywhere
    assert httpx.post(a + "/oauth/token", auth=client, data=grant).status_code == 400
    assert httpx.get(b + "/oauth/userinfo", headers=access).status_code == 401
    assert httpx.get(a + "/oauth/userinfo", headers=access).status_code == 401


@pytest.fixture(scope="module")
def token(cluster, app_and_token) -> str:
    """A fresh grant for the tests that post videos (the first test revoked its own)."""
    app, *_ = app_and_token
    with UserAgent(cluster["a"].url) as ua:
        ua.login("cluster-user")
        return code_grant(ua, app, "openid video.create")["access_token"]


def _upload(cluster, token: str, data: bytes) -> str:
    """Parts sent alternately to A and B, completed at B; returns the video id."""
    a, b = cluster["a"].url, cluster["b"].url
    init = httpx.post(a + "/open/video/init_video_part_upload", headers=bearer(token),
                      json={"size": len(data), "filename": "clip.mp4"}).json()  # fmt: skip
    size, n, upload_id = init["part_size"], init["part_count"], init["upload_id"]
    assert n >= 2, "the clip must span several parts"
    for k in range(1, n + 1):
        part = data[(k - 1) * size : k * size]
        r = httpx.post((a, b)[k % 2] + "/open/video/upload_video_part", params={"upload_id": upload_id, "part_number": k},
                       content=part, headers={**bearer(token), "X-Part-SHA256": hashlib.sha256(part).hexdigest()})  # fmt: skip
        assert r.status_code == 200, r.text
    r = httpx.post(
        b + "/open/video/complete_video_part_upload", params={"upload_id": upload_id}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    return r.json()["video_id"]


def _post(url: str, token: str, video_id: str) -> dict:
    r = httpx.post(
        url + "/open/video/create_video", headers=bearer(token), json={"video_id": video_id}, timeout=120
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_catalogue_change_is_seen_by_every_process_at_its_next_request(cluster, token, clip_factory):
    """Each process builds its index at its first match; a work registered elsewhere (here: this test's own
    process, as `hutong add` would) moves the catalogue generation, and the next match of every process sees it."""
    from hutong.app import Hutong
    from hutong.config import get_settings

    clip = clip_factory("serve_workers_bbb", [Piece(BBB, 6.0, 6.0, (), seed=5)])
    video_id = _upload(cluster, token, Path(clip.path).read_bytes())
    before = [_post(server.url, token, video_id) for server in (cluster["a"], cluster["a"], cluster["b"])]
    assert [p["status"] for p in before] == ["published"] * 3, before  # nothing registered yet
    h = Hutong.create(get_settings(home=cluster["home"], database_url=cluster["pg"], issuer=ISSUER))
    try:
        h.catalogue.add_one(BBB, title="Big Buck Bunny", holder="Blender Foundation", check_duplicates=False)
    finally:
        h.close()
    after = [_post(server.url, token, video_id) for server in (cluster["a"], cluster["a"], cluster["b"])]
    assert [p["status"] for p in after] == ["held"] * 3, after
    assert all("Big Buck Bunny" in p["reason"] for p in after), after


def test_webhooks_go_out_once_with_three_dispatchers(cluster, app_and_token):
    """A's two processes and B each run a dispatcher over the same deliveries table."""
    from hutong.app import Hutong
    from hutong.config import get_settings

    app, *_ = app_and_token
    receiver = cluster["receiver"]
    h = Hutong.create(get_settings(home=cluster["home"], database_url=cluster["pg"], issuer=ISSUER))
    try:
        ids = [h.platform.webhooks.enqueue(app["client_id"], "webhook.test", {"n": n}) for n in range(12)]
        deadline = time.monotonic() + 60
        while any(d["status"] == "pending" for d in h.platform.webhooks.deliveries(app["client_id"])):
            assert time.monotonic() < deadline, "deliveries still pending after 60 s"
            time.sleep(0.2)
        rows = h.platform.webhooks.deliveries(app["client_id"])
    finally:
        h.close()
    sent = [headers["webhook-id"] for _, headers, _, _ in receiver.calls]
    assert {f"msg_{i}" for i in ids} <= set(sent)
    assert len(sent) == len(set(sent)), "a delivery went out twice"
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in rows), rows


def test_an_upload_survives_the_kill_of_the_process_receiving_it(cluster, token):
    """Resumable ingest: the parts a killed process had received are kept, the half part it was receiving
    is not taken for a part, and the client sends that part again to any process (last test: B stays dead)."""
    data = os.urandom(3 * 64 * 1024 + 1000)  # four parts; completing checks only the whole's SHA-256 here
    r = httpx.post(cluster["a"].url + "/open/video/init_video_part_upload", headers=bearer(token),
                   json={"size": len(data), "filename": "x.mp4"})  # fmt: skip
    upload_id = r.json()["upload_id"]
    part = data[: 64 * 1024]
    headers = {**bearer(token), "X-Part-SHA256": hashlib.sha256(part).hexdigest()}
    assert httpx.post(cluster["b"].url + "/open/video/upload_video_part", params={"upload_id": upload_id, "part_number": 1},
                      content=part, headers=headers).status_code == 200  # fmt: skip
    second = data[64 * 1024 : 2 * 64 * 1024]
    headers = {**bearer(token), "X-Part-SHA256": hashlib.sha256(second).hexdigest()}
    killed_mid_part(
        cluster["b"].url, cluster["b"].proc, {"upload_id": upload_id, "part_number": 2}, headers, second
    )
    folder = cluster["home"] / "uploads" / upload_id
    assert sorted(p.name for p in folder.glob("*.part")) == [
        "1.part"
    ]  # nothing of part 2 under a part's name
    again = httpx.post(cluster["a"].url + "/open/video/upload_video_part", params={"upload_id": upload_id, "part_number": 1},
                       content=part, headers={**bearer(token), "X-Part-SHA256": hashlib.sha256(part).hexdigest()})  # fmt: skip
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["received"] == 1, (
        again.text
    )
    for k in (2, 3, 4):
        piece = data[(k - 1) * 64 * 1024 : k * 64 * 1024]
        r = httpx.post(cluster["a"].url + "/open/video/upload_video_part", params={"upload_id": upload_id, "part_number": k},
                       content=piece, headers={**bearer(token), "X-Part-SHA256": hashlib.sha256(piece).hexdigest()})  # fmt: skip
        assert r.status_code == 200, r.text
    done = httpx.post(cluster["a"].url + "/open/video/complete_video_part_upload", params={"upload_id": upload_id},
                      headers=bearer(token))  # fmt: skip
    # random bytes are not a video: refused as such, which proves the four parts were assembled and probed
    assert done.status_code == 422 and "not a video" in done.json()["detail"], done.text


# -- without servers ---------------------------------------------------------------------------


def test_several_processes_refuse_sqlite_in_memory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    env.update(HUTONG_HOME=str(tmp_path / "home"), HUTONG_DATABASE_URL="sqlite://")
    r = subprocess.run([sys.executable, "-m", "hutong", "serve", "--workers", "2", "--port", str(free_port())],
                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode != 0 and "not SQLite in memory" in r.stderr + r.stdout, r.stderr
    assert "Traceback" not in r.stderr


def test_the_session_key_is_made_once_when_processes_race(tmp_path):
    path = tmp_path / "session.key"
    assert create_private(path, "first") and not create_private(path, "second")
    assert path.read_text() == "first" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["session.key"]  # no temporary file left behind


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
     "sqlite:///file:shared?mode=memory&cache=shared&uri=true"],
)  # fmt: skip
def test_sqlite_in_memory_is_no_shared_database(tmp_path, url):
    from hutong.config import get_settings, shared_database
    from hutong.errors import HutongError

    with pytest.raises(HutongError, match="not SQLite in memory"):
        shared_database(get_settings(home=tmp_path, database_url=url))


def test_a_sqlite_file_or_postgresql_is_a_shared_database(tmp_path):
    from hutong.config import get_settings, shared_database
    from hutong.errors import HutongError

    default = get_settings(home=tmp_path)  # the file in HUTONG_HOME: processes on one machine share it
    assert shared_database(default) == f"sqlite:///{tmp_path / 'hutong.db'}"
    pg = "postgresql+psycopg://hutong@127.0.0.1:5432/hutong"
    assert shared_database(get_settings(home=tmp_path, database_url=pg)) == pg
    with pytest.raises(HutongError, match="is not a database URL"):
        shared_database(get_settings(home=tmp_path, database_url="not a url"))
