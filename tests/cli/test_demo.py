"""The README's first command: the whole story on the shipped samples, run twice in one home."""

import json
from pathlib import Path

from tests.cli.test_cli import hutong


def test_demo_story_end_to_end(tmp_path: Path):
    home = tmp_path / "demo"
    r = hutong(tmp_path / "unused", "demo", "--home", str(home), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
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

    # again in the same home: the licence already covers every work, so the check passes at once
    again = json.loads(hutong(tmp_path / "unused", "demo", "--home", str(home), "--json").stdout)
    assert again["first_check"]["compliant"] and again["verification"]["code"] == "valid"
