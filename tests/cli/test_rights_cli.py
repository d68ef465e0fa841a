"""creators → licences → check → certificate → verify, through the installed command."""

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import hutong


@pytest.fixture
def home(registered_home: Path, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(registered_home, h)
    return h


def test_check_certify_verify_revoke(home: Path, tmp_path: Path, two_work_clip):
    clip = str(two_work_clip.path)
    assert hutong(home, "creators", "add", "alice", "--verified").returncode == 0
    assert hutong(home, "creators", "add", "bob").returncode == 0
    r = hutong(
        home, "licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--work", "2",
        "--platform", "douyin", "--until", "2030-01-01", "--max-segment", "30",
        "--forbid", "1 25-29 credits", "--attribution", "© Blender", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["terms"]["forbidden"][0]["label"] == "credits"

    cert, svg = tmp_path / "c.jws", tmp_path / "t.svg"
    r = hutong(home, "check", clip, "--creator", "alice", "--platform", "douyin", "--certificate", str(cert),
               "--timeline", str(svg), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["compliant"] and out["certificate"]["claims"]["licences"] == ["L-1@v1"]
    assert cert.read_text().count(".") == 2 and svg.read_text().startswith("<svg")

    jwks = tmp_path / "jwks.json"
    jwks.write_text(hutong(home, "certificate", "jwks").stdout)
    r = hutong(home, "certificate", "verify", clip, str(cert), "--jwks", str(jwks))
    assert r.returncode == 0 and r.stdout.startswith("valid"), r.stdout + r.stderr

    r = hutong(home, "check", clip, "--creator", "bob", "--platform", "douyin")
    assert r.returncode == 1 and "@bob is not verified" in r.stdout

    assert hutong(home, "licences", "revoke", "L-1", "--reason", "sold").returncode == 0
    status = tmp_path / "status.jws"
    status.write_text(hutong(home, "certificate", "status").stdout)
    r = hutong(
        home, "certificate", "verify", clip, str(cert), "--jwks", str(jwks), "--status", str(status), "--json"
    )
    assert r.returncode == 1 and json.loads(r.stdout)["code"] == "revoked"
    r = hutong(home, "licences", "history", "L-1")
    assert "v1 created" in r.stdout and "v1 revoked" in r.stdout and "sold" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "douyin",
          "--from", "2027-01-01", "--until", "2026-01-01"], "wrong order"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "douyin",
          "--until", "2030-01-01", "--forbid", "one 2-3"], "WORK START-END"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "9", "--platform", "douyin",
          "--until", "2030-01-01"], "unknown work 9"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--until", "2030-01-01"],
         "missing --platform"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "x",
          "--until", "soon"], "not an ISO 8601"),
        (["certificate", "verify", "nofile.mp4", "nocert.jws"], "cannot read the certificate"),
        (["check", "nofile.mp4", "--creator", "zed", "--platform", "douyin"], "no creator @zed"),
        (["licences", "revoke", "L-3", "--reason", "x"], "no licence L-3"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_changes_nothing(home: Path, args, needle):
    r = hutong(home, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert json.loads(hutong(home, "licences", "list", "--json").stdout)["licences"] == []


def test_verify_reads_the_c2pa_copy_and_flags_tampering(home: Path, tmp_path: Path, two_work_clip):
    hutong(home, "creators", "add", "alice", "--verified")
    hutong(home, "licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--work", "2",
           "--platform", "*", "--until", "2030-01-01")  # fmt: skip
    copy = tmp_path / "c2pa.mp4"
    r = hutong(
        home,
        "check",
        str(two_work_clip.path),
        "--creator",
        "alice",
        "--platform",
        "weibo",
        "--c2pa",
        str(copy),
    )
    assert r.returncode == 0 and copy.exists(), r.stdout + r.stderr
    r = hutong(
        home, "certificate", "verify", str(copy), "--c2pa-trust", str(home / "keys" / "c2pa" / "ca.pem")
    )
    assert r.returncode == 0 and "C2PA: Trusted" in r.stdout, r.stdout + r.stderr
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    r = hutong(home, "certificate", "verify", str(copy))
    assert r.returncode == 1 and "C2PA manifest does not match" in r.stdout
