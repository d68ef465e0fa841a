"""schemathesis against the served OpenAPI document, every check on: no input it generates makes the server
fail (5xx), and no response contradicts the document (status codes, content types, headers, bodies). The
document is the contract generated clients are built from."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import api_user

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_generated_requests_meet_the_contract(server, tmp_path):
    token = api_user(server.url, "fuzzer")
    # a developer, so the developer endpoints get past authentication too
    httpx.post(server.url + "/api/developers", json={"kind": "individual", "display_name": "Fuzz"},
               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    proc = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json", "--checks", "all",
         "--header", f"Authorization: Bearer {token}", "--max-examples", os.environ.get("HUTONG_FUZZ_EXAMPLES", "50"),
         "--seed", "7", "--workers", "2", "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    m = re.search(r"(\d+) generated, (\d+) passed", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) > 200, tail  # many cases ran, every one passed
    assert "Traceback" not in server.log.read_text()
