"""The installed ``hutong`` command, run as a user would (subprocess, real HUTONG_HOME)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BBB, CHAPLIN, SINTEL


def hutong(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUTONG_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hutong", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_add_list_match_json(tmp_path: Path, clip_factory):
    home = tmp_path / "h"
    r = hutong(home, "works", "add", str(BBB), str(SINTEL), "--holder", "Blender", "--json")
    assert r.returncode == 0, r.stderr
    works = json.loads(r.stdout)["works"]
    assert [w["title"] for w in works] == ["bbb_30s", "sintel_trailer"] and all("work_id" in w for w in works)

    r = hutong(home, "works", "list", "--json")
    assert len(json.loads(r.stdout)["works"]) == 2

    from hutong.media.synth import Piece

    clip = clip_factory("cli_mirror", [Piece(SINTEL, 20, 8, ("mirror",), seed=3)])
    r = hutong(home, "match", str(clip.path), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)  # exactly one JSON object, nothing else on stdout
    assert report["clip"] == str(clip.path) and report["duration"] == pytest.approx(8, abs=0.2)
    seg = report["segments"][0]
    assert seg["work_title"] == "sintel_trailer" and seg["transform"]["mirror"] is True
    assert {"work_id", "query_start", "query_end", "ref_start", "ref_end", "score", "transform"} <= set(seg)
    assert 0 <= seg["score"] <= 1

    r = hutong(home, "match", str(clip.path))
    assert r.returncode == 0 and "sintel_trailer" in r.stdout

    r = hutong(home, "works", "show", str(works[0]["work_id"]), "--json")
    assert json.loads(r.stdout)["sha256"]
    r = hutong(home, "works", "remove", str(works[0]["work_id"]))
    assert r.returncode == 0 and "removed" in r.stdout


def test_unrelated_clip_prints_no_segments(tmp_path: Path):
    home = tmp_path / "h"
    hutong(home, "works", "add", str(BBB))
    r = hutong(home, "match", str(CHAPLIN), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["segments"] == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["match", "/nonexistent/clip.mp4"], "no such file"),
        (["works", "show", "99"], "no work with id 99"),
        (["works", "remove", "99"], "no work with id 99"),
        (["works", "add", "/nonexistent/folder/"], "no such file"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, args, needle):
    r = hutong(tmp_path / "h", *args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) <= 2


def test_duplicate_add_exit_code_and_message(tmp_path: Path):
    home = tmp_path / "h"
    assert hutong(home, "works", "add", str(BBB)).returncode == 0
    r = hutong(home, "works", "add", str(BBB))
    assert r.returncode == 2 and "already registered" in r.stderr and "Traceback" not in r.stderr
