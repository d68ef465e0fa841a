"""Banks, for the micro-deposit route. Real banks cannot be reached from here, so :class:`FakeBank` stands in
for them: it records each deposit in a statement file that the applicant "reads from their bank"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from hutong.platform.ids import mask
from hutong.store import utcnow


class Bank(Protocol):
    def deposit(self, account_number: str, amount_cents: int, reference: str) -> None: ...


class FakeBank:
    def __init__(self, folder: Path) -> None:
        self.statement = folder / "statement.jsonl"

    def deposit(self, account_number: str, amount_cents: int, reference: str) -> None:
        self.statement.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "at": utcnow().isoformat(),
            "account": mask(account_number),
            "amount_cents": amount_cents,
            "reference": reference,
        }
        with self.statement.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def last_deposit(self, reference: str) -> int | None:
        """What the account holder sees on their statement (used by tests and the demo)."""
        if not self.statement.exists():
            return None
        found = None
        for line in self.statement.read_text().splitlines():
            entry = json.loads(line)
            if entry["reference"] == reference:
                found = entry["amount_cents"]
        return found
