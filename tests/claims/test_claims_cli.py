"""The claims commands through the installed `hutong` command: policy → scan → dispute → fix → revenue →
statement, each with --json, and bad input answered with one line and exit code 2."""

import json
import shutil
from pathlib import Path

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.media.synth import Piece
from hutong.rights import LicenceTerms
from tests.claims.conftest import post_of
from tests.cli.test_cli import hutong
from tests.conftest import CARS, SINTEL

HOLDER = "Blender Foundation"


def ok(home, *args):
    r = hutong(home, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_claims_walk_through_the_cli(registered_home: Path, tmp_path: Path, two_work_clip, clip_factory):
    home = tmp_path / "home"
    shutil.copytree(registered_home, home)
    with _open(home) as h:  # set-up the rights commands already test: alice, and a licence for Sintel only
        h.creators.add("alice", name="Alice", verified=True)
        h.licences.grant(HOLDER, LicenceTerms.parse({"works": [2], "scope": {"kind": "verified"},
                         "platforms": ["douyin"], "valid_from": "2026-01-01", "valid_until": "2030-01-01"}))  # fmt: skip
    rules = tmp_path / "policy.toml"
    rules.write_text('default = "track"\n[[rules]]\naction = "monetise"\nwhen = { min_seconds = 3 }\n')
    p = ok(home, "policies", "set", HOLDER, "--rules", str(rules), "--reason", "first policy")
    assert p["ref"] == "MP-1@v1" and p["rules"]["rules"][0]["action"] == "monetise"

    scan = ok(home, "claims", "scan", str(two_work_clip.path), "--creator", "alice", "--platform", "douyin",
              "--territory", "CN")  # fmt: skip
    (claim,) = [c for c in scan["claims"] if c["status"] != "tracked"]
    code = claim["code"]
    assert claim["action"] == "monetise" and claim["fix"][0]["do"] == "trim"

    # revenue of a post of that clip is held while the claim is disputed
    with _open(home) as h:
        post = post_of(h, "unused")
        from hutong.store import Post, Video

        with h.db.session() as s:
            s.get(Video, s.get(Post, post).video_id).sha256 = scan["clip_sha256"]
    assert (
        ok(home, "disputes", "open", code, "--creator", "alice", "--reason", "fair-use")["status"]
        == "disputed"
    )
    rep = ok(
        home,
        "statements",
        "revenue",
        post,
        "--amount-minor",
        "1000",
        "--currency",
        "CNY",
        "--report-id",
        "r1",
    )
    assert rep["legs"][1] == {"account": f"held:{code}", "amount_minor": 1000}

    fixed = clip_factory("claims_fixed", [Piece(SINTEL, 14.0, 8.0, ("mirror",), seed=11),
                                          Piece(CARS, 2.0, 3.0, from_work=False, seed=12)])  # fmt: skip
    cert = tmp_path / "fixed.jws"
    done = ok(
        home, "claims", "recheck", code, str(fixed.path), "--creator", "alice", "--certificate", str(cert)
    )
    assert done["fixed"] and done["status"] == "released" and done["certificate"]
    assert cert.read_text().count(".") == 2
    shown = ok(home, "claims", "show", code)
    assert [e["action"] for e in shown["events"]] == ["created", "disputed", "fixed"]
    assert shown["dispute"]["state"] == "released"

    st = ok(home, "statements", "show", "--creator", "alice", "--csv", str(tmp_path / "alice.csv"))
    assert st["totals"] == {"CNY": 1000} and st["lines"][0]["kind"] == "settle"
    assert (tmp_path / "alice.csv").read_text().splitlines()[0].startswith("at,kind,post_id,claim,amount")

    # work 1's own reference holds no other holder's work: no ownership conflict
    assert ok(home, "exclusions", "scan", "1") == {"conflicts": []}
    assert ok(home, "exclusions", "quarantined") == {"quarantined": []}

    # bad input: one line on stderr, exit code 2, nothing changed
    for args, needle in [
        (("disputes", "open", code, "--creator", "alice", "--reason", "fair-use"), "already disputed"),
        (
            ("statements", "revenue", post, "--amount-minor", "-1", "--currency", "CNY", "--report-id", "r2"),
            "negative",
        ),
        (
            (
                "claims",
                "add",
                HOLDER,
                "--creator",
                "alice",
                "--work",
                "1",
                "--sha256",
                "ab" * 32,
                "--segment",
                "3-9",
            ),
            "timestamps are mandatory",
        ),
    ]:
        r = hutong(home, *args)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


class _open:
    def __init__(self, home):
        self.h = Hutong.create(get_settings(home=home))

    def __enter__(self):
        return self.h

    def __exit__(self, *exc):
        self.h.close()
