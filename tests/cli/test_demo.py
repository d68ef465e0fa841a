"""The README's first command: the whole story on the shipped samples, run twice in one home."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import hutong


def path_without_espeak(tmp_path: Path) -> str:
    """A PATH with every command of this one except espeak-ng/espeak, as on a fresh machine."""
    farm = tmp_path / "bin"
    farm.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if not name.startswith("espeak") and not (farm / name).exists():
                (farm / name).symlink_to(Path(d) / name)
    return str(farm)


def test_demo_story_end_to_end(tmp_path: Path):
    home = tmp_path / "demo"
    # first without espeak-ng, as the README's first command meets a fresh machine
    env = {**os.environ, "HUTONG_HOME": str(tmp_path / "unused"), "PATH": path_without_espeak(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "hutong", "demo", "--home", str(home), "--json"],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["voiceover"] is False and out["kept"] is True
    assert {s["work_id"] for s in out["segments"]} == {1, 2, 3}
    assert not out["first_check"]["compliant"]  # Tears of Steel is not licensed at first
    assert [s["rule"] for s in out["first_check"]["segments"]].count("no-licence") == 1
    assert out["check"]["compliant"] and out["verification"]["code"] == "valid"
    assert out["c2pa_verification"] == "valid"
    assert out["reencoded_copy"] == {"by_bytes": "clip-mismatch", "by_fingerprint": "valid-copy"}
    assert (home / "evidence.html").exists() and (home / "timeline.svg").exists()
    # the cross-platform step: B accepts A's certified clip, refuses a tampered copy and an uncertified one
    ic = out["interconnect"]
    assert ic["post"]["status"] == "published" and ic["post"]["certificate_issuer"] == ic["platform_a"]
    assert ic["tampered"]["reason"].startswith("clip-mismatch") and ic["uncertified"]["reason"].startswith(
        "no-certificate"
    )
    ingest = next(r for r in ic["reciprocity"] if r["capability"].startswith("ingest"))
    assert ingest["b_to_a"] and not ingest["a_to_b"]
    # claims: one claim disputed, released after the fix, the held revenue to the creator; the statements
    claims = out["claims"]
    assert claims["fixed"] and claims["claim"]["status"] == "released"
    assert [e["action"] for e in claims["claim"]["events"]] == ["created", "disputed", "fixed"]
    assert claims["holder_statement"]["totals"] == {"CNY": 1000}
    assert claims["creator_statement"]["totals"] == {"CNY": 600}

    # again in the same home: the licence already covers every work, so the check passes at once
    again = json.loads(hutong(tmp_path / "unused", "demo", "--home", str(home), "--json").stdout)
    assert again["first_check"]["compliant"] and again["verification"]["code"] == "valid"
    assert again["voiceover"] is True  # espeak-ng is on this machine's PATH (./run test installs it)
    assert again["interconnect"]["platform_a"] == ic["platform_a"]  # one issuer per home, kept


def test_demo_says_its_temporary_folder_goes_and_what_the_platform_lines_mean():
    """The text a new user reads (the story itself is checked above; this run is not --json)."""
    r = subprocess.run([sys.executable, "-m", "hutong", "demo"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "a temporary folder deleted when the demo ends" in r.stdout and "--home DIR" in r.stdout
    assert "what each platform opens to the other" in r.stdout and "A→B" in r.stdout
