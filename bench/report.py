"""Write docs/benchmarks.md from the JSON results of each benchmark."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def write_report() -> None:
    pass
