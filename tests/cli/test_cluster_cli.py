"""`hutong cluster up|down` refusals (the cluster itself runs in tests/distribute/test_cluster.py): what is
missing is named, a second cluster of one HUTONG_HOME is refused, `down` with nothing running says so."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def hutong(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = (
        {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
        | {"HUTONG_HOME": str(home)}
        | env
    )
    return subprocess.run(
        [sys.executable, "-m", "hutong", *args], capture_output=True, text=True, env=full, timeout=120
    )


def test_up_names_what_is_missing_and_starts_nothing(tmp_path):
    r = hutong(tmp_path / "h", "cluster", "up", HUTONG_CLUSTER_POSTGRES_BIN=str(tmp_path / "no-postgres"))
    assert r.returncode == 2, r.stderr
    assert "hutong cluster up needs PostgreSQL 15 server" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "h" / "cluster").exists()


def test_a_second_cluster_of_one_home_is_refused(tmp_path):
    home = tmp_path / "h"
    (home / "cluster").mkdir(parents=True)
    # the state file of a running `cluster up`: this test's own process stands in for it
    (home / "cluster" / "cluster.json").write_text(json.dumps({"pid": os.getpid(), "parts": []}))
    r = hutong(home, "cluster", "up")
    if "needs" in r.stderr:  # this machine lacks a part: the check for what is missing comes first
        pytest.skip(r.stderr)
    assert r.returncode == 2 and "already runs" in r.stderr and "hutong cluster down" in r.stderr, r.stderr


def test_down_with_nothing_running(tmp_path):
    r = hutong(tmp_path / "h", "cluster", "down", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"stopped": False, "pid": None}
    home = tmp_path / "h2"
    (home / "cluster").mkdir(parents=True)
    (home / "cluster" / "cluster.json").write_text(json.dumps({"pid": 2**22 + 12345}))  # no such process
    r = hutong(home, "cluster", "down")
    assert r.returncode == 0 and "no cluster runs" in r.stdout
    assert not (home / "cluster" / "cluster.json").exists(), "a stale state file is cleared"
