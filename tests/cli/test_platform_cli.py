"""The staff commands, on a real home: appeals, manual review, data-key rotation, retention."""

import json
from pathlib import Path

from hutong.app import Hutong
from hutong.config import get_settings
from tests.cli.test_cli import hutong
from tests.platform.conftest import resident_id, uscc


def test_appeal_is_resolved_from_the_command_line(tmp_path: Path):
    home = tmp_path / "home"
    h = Hutong.create(get_settings(home=home))
    try:
        p = h.platform
        first = p.accounts.register("first", "a long enough password").id
        second = p.accounts.register("second", "a long enough password").id
        ent = dict(
            display_name="S",
            company_name="C",
            uscc=uscc(1),
            route="resident_id",
            legal_rep_name="李四",
            legal_rep_id=resident_id(1),
        )
        p.developers.register_enterprise(first, **ent)
        p.developers.register_enterprise(second, **ent)
        [decision] = p.developers.decisions(second)
        p.developers.appeal(second, decision.id, "The first account belonged to a former employee.")
    finally:
        h.close()
    r = hutong(home, "platform", "appeals", "--json")
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)["appeals"]
    assert row["decision"]["rule"] == "uscc-unique" and "李四" not in r.stdout
    r = hutong(
        home, "platform", "resolve", str(decision.id), "--overturn", "--note", "employment records seen"
    )
    assert r.returncode == 0 and "overturned" in r.stdout
    assert json.loads(hutong(home, "platform", "appeals", "--json").stdout)["appeals"] == []
    r = hutong(home, "platform", "resolve", str(decision.id), "--uphold", "--note", "again")
    assert r.returncode == 2 and "no open appeal" in r.stderr
    r = hutong(home, "platform", "rotate-data-key")
    assert r.returncode == 0 and "re-encrypted" in r.stdout
    r = hutong(home, "platform", "purge")
    assert r.returncode == 0 and "purged" in r.stdout


def test_serve_refuses_a_missing_config_file(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HUTONG_HOME": str(tmp_path), "HUTONG_CONFIG": str(tmp_path / "nope.toml")}
    r = subprocess.run(
        [sys.executable, "-m", "hutong", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_suspend_refuses_unknown_apps_and_a_missing_reason(tmp_path: Path):
    home = tmp_path / "home"
    h = Hutong.create(get_settings(home=home))
    try:
        p = h.platform
        acc = p.accounts.register("dev1", "a long enough password").id
        p.developers.register_individual(acc, "Dev")
        app, _ = p.apps.register(p.developers.verified_developer_id(acc), name="A", client_type="public",
                                 redirect_uris=["http://127.0.0.1/cb"], scopes=["openid"])  # fmt: skip
    finally:
        h.close()
    r = hutong(home, "platform", "suspend", "app_nope", "--reason", "spam")
    assert r.returncode == 2 and "no app app_nope" in r.stderr and "Traceback" not in r.stderr
    r = hutong(home, "platform", "suspend", app["client_id"], "--reason", " ")
    assert r.returncode == 2 and "reason" in r.stderr
    r = hutong(home, "platform", "unsuspend", app["client_id"], "--reason", "was never suspended")
    assert r.returncode == 2 and "already active" in r.stderr
    r = hutong(home, "platform", "suspend", app["client_id"], "--reason", "phishing pages")
    assert r.returncode == 0 and "suspended" in r.stdout


def test_roles_grant_show_and_revoke_with_clear_refusals(tmp_path: Path):
    home = tmp_path / "home"
    h = Hutong.create(get_settings(home=home))
    try:
        h.platform.accounts.register("qingshan", "a long enough password")
        h.creators.add("xiaoming", name="Xiaoming")
    finally:
        h.close()
    r = hutong(
        home,
        "platform",
        "roles",
        "grant",
        "qingshan",
        "--holder",
        "Studio",
        "--creator",
        "@XiaoMing",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert (
        shown["holders"] == ["Studio"]
        and shown["creators"] == ["xiaoming"]
        and shown["roles"] == ["holder", "creator"]
    )
    r = hutong(home, "platform", "roles", "grant", "qingshan", "--staff")
    assert r.returncode == 0 and "staff (reviewer)" in r.stdout
    # refusals: an unknown account, an unknown creator, no role named, revoking what was never granted
    r = hutong(home, "platform", "roles", "grant", "nobody", "--holder", "Studio")
    assert r.returncode != 0 and "no account 'nobody'" in r.stderr and "Traceback" not in r.stderr
    r = hutong(home, "platform", "roles", "grant", "qingshan", "--creator", "ghost")
    assert r.returncode != 0 and "no creator with handle 'ghost'" in r.stderr
    r = hutong(home, "platform", "roles", "grant", "qingshan")
    assert r.returncode != 0 and "name at least one role" in r.stderr
    r = hutong(home, "platform", "roles", "revoke", "qingshan", "--holder", "Other Studio")
    assert r.returncode != 0 and "has no holder role for 'Other Studio'" in r.stderr
    r = hutong(home, "platform", "roles", "revoke", "qingshan", "--holder", "Studio", "--staff", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["roles"] == ["creator"]
    shown = json.loads(hutong(home, "platform", "roles", "show", "qingshan", "--json").stdout)
    assert shown == {"username": "qingshan", "roles": ["creator"], "holders": [], "creators": ["xiaoming"],
                     "staff": False, "developer": False}  # fmt: skip
