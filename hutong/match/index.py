"""The recognition index of one signal: a backend plus which work and instant each row stands for.

Derived from the database, checkpointed under ``HUTONG_HOME/index`` with the catalogue generation it was
built from, and rebuilt whenever that generation moved on.

Several processes share one checkpoint (``hutong match`` runs, a server): each checkpoint has a lock file
next to it. Reading takes it shared, rebuilding and writing take it exclusive, so two processes never
rebuild at once: the second waits, then finds the fresh checkpoint and loads it. Files are written under
unique temporary names and moved into place.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from hutong.fingerprint import Fingerprint, SignalType
from hutong.index import IndexBackend, backend
from hutong.store import CatalogueState, Database, WorkFingerprint


@dataclass
class RecognitionIndex:
    signal: str
    backend: IndexBackend
    work_ids: np.ndarray  # (n,) int32
    times: np.ndarray  # (n,) float32
    generation: int

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.backend.search(vectors, k)

    @classmethod
    def build(
        cls, signal: SignalType, rows: list[tuple[int, Fingerprint]], backend_name: str, generation: int
    ) -> RecognitionIndex:
        be = backend(backend_name)(signal.dim)
        if rows:
            vecs = np.concatenate([fp.vectors for _, fp in rows])
            work_ids = np.concatenate([np.full(len(fp), wid, np.int32) for wid, fp in rows])
            times = np.concatenate([fp.times for _, fp in rows])
        else:
            vecs = np.zeros((0, signal.dim), np.float32)
            work_ids, times = np.zeros(0, np.int32), np.zeros(0, np.float32)
        be.build(vecs)
        return cls(signal.name, be, work_ids, times, generation)

    def save(self, folder: Path) -> None:
        with checkpoint_lock(folder, self.signal, self.backend.name, exclusive=True):
            self._write(folder)

    def _write(self, folder: Path) -> None:
        """Write the checkpoint; the caller holds its lock exclusively."""
        base = folder / f"{self.signal}.{self.backend.name}"
        # any temporary file of this checkpoint still here was left by a writer that died: we hold the lock
        for orphan in folder.glob(f".{base.name}.*.tmp"):
            orphan.unlink(missing_ok=True)
        tmp_idx, tmp_meta = _temp_path(folder, base.name), _temp_path(folder, base.name)
        try:
            self.backend.save(tmp_idx)
            with open(tmp_meta, "wb") as fh:
                np.savez(fh, work_ids=self.work_ids, times=self.times, generation=np.int64(self.generation))
            os.replace(tmp_idx, base.with_suffix(".idx"))  # atomic: readers see old or new, never half
            os.replace(tmp_meta, base.with_suffix(".meta.npz"))
        finally:
            for tmp in (tmp_idx, tmp_meta):
                tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, signal: SignalType, backend_name: str) -> RecognitionIndex | None:
        if not folder.is_dir():
            return None
        with checkpoint_lock(folder, signal.name, backend_name, exclusive=False):
            return cls._read(folder, signal, backend_name)

    @classmethod
    def _read(cls, folder: Path, signal: SignalType, backend_name: str) -> RecognitionIndex | None:
        """The checkpoint, or None when there is none or it is damaged; the caller holds its lock."""
        base = folder / f"{signal.name}.{backend_name}"
        idx, meta = base.with_suffix(".idx"), base.with_suffix(".meta.npz")
        if not (idx.exists() and meta.exists()):
            return None
        try:
            with np.load(meta) as m:
                work_ids, times, gen = m["work_ids"], m["times"], int(m["generation"])
            be = backend(backend_name).load(idx, signal.dim)
        except Exception:  # a damaged checkpoint is only a cache: rebuild from the database
            return None
        if len(be) != len(work_ids):
            return None
        return cls(signal.name, be, work_ids, times, gen)


def _temp_path(folder: Path, name: str) -> Path:
    fd, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return Path(path)


@contextmanager
def checkpoint_lock(folder: Path, signal: str, backend_name: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the lock of one checkpoint (an advisory ``flock``, released if the process dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{signal}.{backend_name}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            with suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)


def catalogue_generation(db: Database) -> int:
    with db.session() as s:
        state = s.get(CatalogueState, 1)
        return state.generation if state else 0


def load_fingerprints(db: Database, signal: SignalType) -> list[tuple[int, Fingerprint]]:
    with db.session() as s:
        rows = s.execute(
            select(WorkFingerprint)
            .where(WorkFingerprint.signal == signal.name)
            .order_by(WorkFingerprint.work_id)
        ).scalars()
        return [
            (r.work_id, Fingerprint.unpack(signal.name, signal.dim, r.times, r.vectors, 0.0))
            for r in rows
            if r.count
        ]


def open_index(db: Database, signal: SignalType, folder: Path, backend_name: str) -> RecognitionIndex:
    """The current index for ``signal``: the checkpoint if it is up to date, else rebuilt and saved.

    Only one process rebuilds a stale checkpoint; the others wait for it and load what it wrote.
    """
    gen = catalogue_generation(db)
    idx = RecognitionIndex.load(folder, signal, backend_name)
    if idx is not None and idx.generation == gen:
        return idx
    with checkpoint_lock(folder, signal.name, backend_name, exclusive=True):
        idx = RecognitionIndex._read(folder, signal, backend_name)  # another process may have rebuilt it
        gen = catalogue_generation(db)
        if idx is not None and idx.generation == gen:
            return idx
        idx = RecognitionIndex.build(signal, load_fingerprints(db, signal), backend_name, gen)
        idx._write(folder)
    return idx
