"""The legal representative's ID never appears in any response, page, log line or the database file."""

import json

import httpx

from tests.api.conftest import UserAgent, api_user, bearer, pkce
from tests.platform.conftest import resident_id, uscc

REP_ID = resident_id(321, "19630517")
BAD_ID = REP_ID[:17] + ("0" if REP_ID[17] != "0" else "1")  # a typo'd number, refused
REP_NAME = "欧阳明月"


def test_legal_rep_id_is_never_disclosed(server):
    seen: list[str] = []

    def record(response: httpx.Response) -> None:
        response.read()
        seen.append(str(response.headers) + response.text)

    http = httpx.Client(base_url=server.url, event_hooks={"response": [record]})
    with http:
        token = api_user(server.url, "studio-admin")
        enterprise = {"kind": "enterprise", "display_name": "Creator Service Platform", "company_name": "某某文化传媒有限公司",
                      "uscc": uscc(777), "route": "resident_id", "legal_rep_name": REP_NAME}  # fmt: skip
        r = http.post("/api/developers", json={**enterprise, "legal_rep_id": BAD_ID}, headers=bearer(token))
        assert r.status_code == 422 and "check digit" in r.json()["detail"]
        r = http.post("/api/developers", json={**enterprise, "legal_rep_id": REP_ID}, headers=bearer(token))
        assert r.status_code == 201, r.text
        rep = r.json()["legal_representative"]
        assert rep["id_number"] == "*" * 16 + REP_ID[-2:] and rep["name"] == "欧***"
        http.get("/api/developers/me", headers=bearer(token))
        http.get("/api/developers/me/decisions", headers=bearer(token))
        # a second enterprise by the same person, from another account: the HMAC finds it without the ID
        other = api_user(server.url, "studio-two")
        r = http.post(
            "/api/developers",
            json={**enterprise, "uscc": uscc(778), "legal_rep_id": REP_ID},
            headers=bearer(other),
        )
        assert r.status_code == 201
        app = http.post("/api/apps", headers=bearer(token), json={
            "name": "Pusher", "client_type": "confidential", "redirect_uris": ["http://127.0.0.1:9/cb"], "scopes": ["openid"]}).json()  # fmt: skip
        http.get("/openapi.json")
        http.get("/policy/review")
    with UserAgent(server.url) as ua:
        api_user(server.url, "viewer")
        ua.login("viewer")
        _, challenge = pkce()
        consent = ua.get(f"/oauth/authorize?response_type=code&client_id={app['client_id']}&redirect_uri=http://127.0.0.1:9/cb"
                         f"&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256")  # fmt: skip
        assert (
            consent.status_code == 200 and uscc(777) in consent.text
        )  # the enterprise is named, its people are not
        seen.append(consent.text)

    everything = {"responses": "\n".join(seen), "server log": server.log.read_text(errors="replace")}
    everything["database"] = (server.home / "hutong.db").read_bytes().decode("utf-8", errors="replace")
    for wal in server.home.glob("hutong.db-wal"):
        everything["database WAL"] = wal.read_bytes().decode("utf-8", errors="replace")
    for where, text in everything.items():
        for secret in (REP_ID, BAD_ID, REP_NAME, REP_ID[6:14] + REP_ID[14:17]):
            assert secret not in text, f"{secret!r} leaked into the {where}"
    assert "review.decision" in everything["server log"]  # the log was really captured


def test_odd_characters_in_registration_are_a_clear_422(server):
    """Superscript digits in the ID were a 500 (int("²")); a lone surrogate (valid JSON) in a name too."""
    token = api_user(server.url, "studio-odd")
    enterprise = {"kind": "enterprise", "display_name": "Odd Studio", "company_name": "某某文化传媒有限公司",
                  "uscc": uscc(779), "route": "resident_id", "legal_rep_name": REP_NAME}  # fmt: skip
    superscript = REP_ID[:5] + "²" + REP_ID[6:]
    with httpx.Client(base_url=server.url, headers=bearer(token)) as http:
        r = http.post("/api/developers", json={**enterprise, "legal_rep_id": superscript})
        assert r.status_code == 422 and "0-9" in r.json()["detail"], r.text
        for field in ("legal_rep_name", "display_name", "company_name"):
            body = json.dumps({**enterprise, "legal_rep_id": REP_ID, field: "x"}).replace('"x"', '"x\\ud800"')
            r = http.post("/api/developers", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, (field, r.status_code, r.text)
        assert http.get("/api/developers/me").status_code == 404  # nothing stored
