"""Taking a job row for one worker, whichever process or machine it runs on: the row is locked with
``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL: a second worker passes over a row
another is taking instead of waiting for it), then changed by one UPDATE whose WHERE repeats the
conditions, so exactly one worker's UPDATE counts a row (SQLite, which has no row locks, serialises
writers: there the UPDATE alone, and its rowcount)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session


def take(s: Session, model: Any, job_id: int, where: list[ColumnElement[bool]], values: dict) -> bool:
    """True when this session took job ``job_id`` of ``model`` (its ``id`` column), setting ``values``;
    False when it does not meet ``where`` or another worker holds or just took it."""
    conditions = [model.id == job_id, *where]
    if s.get_bind().dialect.name != "sqlite":
        locked = s.execute(select(model.id).where(*conditions).with_for_update(skip_locked=True)).first()
        if locked is None:
            return False
    # SQLite: no SELECT first. A read would start the transaction on a snapshot that any other commit (a
    # heartbeat) makes stale, and its write would then fail at once ("database is locked") instead of
    # waiting its turn; one UPDATE waits for the write lock and re-reads the row
    return s.execute(update(model).where(*conditions).values(**values)).rowcount == 1
