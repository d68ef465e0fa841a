"""The console's message ids: every ``_("…")`` in its templates and Python. A test checks that each has
a translation in every catalogue, so a new English string cannot ship untranslated."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "web" / "templates" / "console",
    ROOT / "api" / "routers" / "console",
    ROOT / "api" / "console.py",
]
_CALL = re.compile(r"""\b(?:_|gettext)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)""")


def message_ids() -> dict[str, list[str]]:
    """Each message id with the files that use it."""
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        files = (
            [source]
            if source.is_file()
            else sorted(p for p in source.rglob("*") if p.suffix in (".html", ".py"))
        )
        for path in files:
            for m in _CALL.finditer(path.read_text(encoding="utf-8")):
                text = m.group(1) if m.group(1) is not None else m.group(2)
                found.setdefault(text.encode().decode("unicode_escape") if "\\" in text else text, []).append(
                    str(path.relative_to(ROOT))
                )
    return found
