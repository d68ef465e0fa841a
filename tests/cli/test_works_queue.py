"""`hutong works add --queue` on the embedded queue (no Redis): per-file jobs in one batch, run by a consumer
in the command while it follows the batch; `hutong works jobs` lists batches and one batch's files; bad
inputs are refused with the reason before anything is queued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.test_cli import hutong
from tests.conftest import SAMPLES


def test_a_folder_queued_without_redis_is_registered_and_listed(tmp_path: Path):
    home, folder = tmp_path / "h", tmp_path / "media"
    folder.mkdir()
    shutil.copy(SAMPLES / "chaplin_unregistered.mp4", folder / "chaplin.mp4")
    (folder / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really matroska" * 30)
    r = hutong(home, "works", "add", str(folder), "--queue", "--holder", "Studio", "--json")
    assert r.returncode == 1, r.stderr  # one added, one refused
    out = json.loads(r.stdout)
    assert [w["title"] for w in out["works"]] == ["chaplin"] and out["summary"]["refused"] == 1
    assert out["failed"][0]["path"].endswith("broken.mkv") and "FFmpeg" in out["failed"][0]["reason"]
    listed = json.loads(hutong(home, "works", "jobs", "--json").stdout)["batches"]
    assert [(b["batch"], b["total"], b["counts"]["done"], b["counts"]["failed"]) for b in listed] == [
        (out["batch"], 2, 1, 1)
    ]
    one = json.loads(hutong(home, "works", "jobs", out["batch"], "--json").stdout)
    assert sorted((j["filename"], j["state"], j["attempts"]) for j in one["jobs"]) == [
        ("broken.mkv", "failed", 1), ("chaplin.mp4", "done", 1)]  # fmt: skip
    # queued without waiting: the batch id, then nothing runs it here
    again = hutong(home, "works", "add", str(folder / "chaplin.mp4"), "--queue", "--no-wait", "--json")
    assert again.returncode == 0, again.stderr
    waiting = json.loads(again.stdout)
    assert waiting["counts"]["queued"] == 1 and waiting["total"] == 1


def test_a_title_for_several_queued_files_is_refused_before_anything_is_queued(tmp_path: Path):
    home = tmp_path / "h"
    r = hutong(home, "works", "add", str(SAMPLES / "bbb_30s.mp4"), str(SAMPLES / "cars_unregistered.mp4"),
               "--queue", "--title", "One")  # fmt: skip
    assert r.returncode == 2 and "exactly one file" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (home / "queue.sqlite3").exists()  # the queue was never opened: nothing queued
