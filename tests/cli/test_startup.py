"""Start-up: the command tree loads without the heavy libraries, so `hutong --help` answers at once.

Checked on ``sys.modules`` in a fresh interpreter (not by timing, which depends on the machine's load).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "av", "faiss", "sqlalchemy", "fastapi", "onnxruntime", "httpx", "hutong.app", "structlog")

PROBE = """
import json, sys
{imports}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(imports: str) -> list[str]:
    code = PROBE.format(imports=imports, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_command_tree_imports_no_heavy_module() -> None:
    assert loaded_after("import hutong.cli.app\nimport hutong.cli") == []


def test_help_runs_without_heavy_modules() -> None:
    imports = (
        "from typer.testing import CliRunner\nfrom hutong.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0 and 'match' in r.output, r.output"
    )
    assert loaded_after(imports) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # the check above can fail: a module that does import numpy is reported
    assert loaded_after("import hutong.match") != []
