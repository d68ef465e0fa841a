"""Ingest: a post held for using a registered work without a certificate gets the holder's claim (policy
permitting), bound to the post, so the post's revenue goes to the holder."""

import shutil

from hutong.app import Hutong
from hutong.claims import PolicyRules
from hutong.config import get_settings
from tests.claims.conftest import HOLDER
from tests.conftest import SINTEL
from tests.platform.test_ingest import upload


def test_held_post_is_claimed_under_the_holders_policy(tmp_path, registered_home):
    home = tmp_path / "home"
    shutil.copytree(registered_home, home)
    h = Hutong.create(get_settings(home=home, ingest_part_bytes=64 * 1024))
    try:
        h.policies.set(HOLDER, PolicyRules.parse({"default": "monetise"}), work=2)
        p = h.platform
        account = p.accounts.register("xiaoming", "a long enough password").id
        post = p.ingest.create("app_x", account, video_id=upload(p, account, SINTEL.read_bytes()))
        assert post["status"] == "held"
        (claim,) = h.claims.list()
        assert (claim["post_id"], claim["source"], claim["creator"], claim["action"]) == (
            post["post_id"], "ingest", "xiaoming", "monetise")  # fmt: skip
        assert claim["segments"][0]["rule"] == "no-certificate" and claim["segments"][0]["work_id"] == 2
        rep = h.ledger.report("app_x", "r1", post["post_id"], 880, "CNY", app="app_x")
        assert rep["legs"][1] == {"account": f"holder:{HOLDER}", "amount_minor": 880}
    finally:
        h.close()
