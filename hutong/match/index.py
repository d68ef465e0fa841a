"""The recognition index of one signal: a backend plus which work and instant each row stands for.

Derived from the database, checkpointed under ``HUTONG_HOME/index`` with the catalogue generation it was
built from. When that generation moves on, an in-process index is rebuilt; an incremental backend (Milvus)
follows the catalogue instead: the checkpoint records which fingerprint of each work the index holds, and
only the works added, removed or fingerprinted again since are applied. Such a backend's row ids name the
work and the row (``work_id << ROW_BITS | row``), so a change applied twice, or by two processes, gives
the same index. It is rebuilt whole when the checkpoint is missing or damaged, when the collection does not
hold what the checkpoint says, or when most of the catalogue changed.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from hutong.fingerprint import Fingerprint, SignalType
from hutong.index import IndexBackend
from hutong.index import load as load_backend
from hutong.index import make as make_backend
from hutong.store import CatalogueState, Database, WorkFingerprint

if TYPE_CHECKING:
    from hutong.config import Settings

ROW_BITS = 24  # rows per work's fingerprint: 16.7 million, far above 6 hours at any sampling rate
NO_VERSIONS = np.zeros((0, 2), np.int64)


def row_ids(rows: list[tuple[int, Fingerprint]]) -> np.ndarray:
    """The ids an incremental backend gives these rows: the work id and the row within its fingerprint."""
    if not rows:
        return np.zeros(0, np.int64)
    return np.concatenate([(np.int64(w) << ROW_BITS) + np.arange(len(fp), dtype=np.int64) for w, fp in rows])


def _stack(signal: SignalType, rows: list[tuple[int, Fingerprint]]) -> tuple[np.ndarray, ...]:
    if not rows:
        return np.zeros((0, signal.dim), np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32)
    return (
        np.concatenate([fp.vectors for _, fp in rows]),
        np.concatenate([np.full(len(fp), wid, np.int32) for wid, fp in rows]),
        np.concatenate([fp.times for _, fp in rows]),
    )


@dataclass
class RecognitionIndex:
    signal: str
    backend: IndexBackend
    work_ids: np.ndarray  # (n,) int32
    times: np.ndarray  # (n,) float32
    generation: int
    #: an incremental backend's id of each row, ascending (None: row i has id i)
    ids: np.ndarray | None = None
    #: (work id, fingerprint row id) of each work the index holds: what a later catalogue is compared with
    versions: np.ndarray = field(default_factory=lambda: NO_VERSIONS)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, rows), rows indexing ``work_ids`` and ``times``; -1 where there is no neighbour."""
        sims, found = self.backend.search(vectors, k)
        if self.ids is None:
            return sims, found
        # an incremental backend answers with its ids: find each one's row; an id this checkpoint does not
        # know (a change another process made since) counts as no neighbour
        pos = np.searchsorted(self.ids, found).clip(0, max(len(self.ids) - 1, 0))
        known = (found >= 0) & (len(self.ids) > 0)
        if len(self.ids):
            known &= self.ids[pos] == found
        return np.where(known, sims, -np.inf).astype(np.float32), np.where(known, pos, -1)

    @classmethod
    def build(
        cls,
        signal: SignalType,
        rows: list[tuple[int, Fingerprint]],
        backend_name: str,
        generation: int,
        versions: np.ndarray | None = None,
        settings: Settings | None = None,
    ) -> RecognitionIndex:
        """The index of ``rows`` (ascending work ids); ``versions``: their fingerprints' row ids."""
        be = make_backend(backend_name, signal.dim, settings)
        vecs, work_ids, times = _stack(signal, rows)
        if not be.incremental:
            be.build(vecs)
            return cls(signal.name, be, work_ids, times, generation)
        ids = row_ids(rows)
        order = np.argsort(ids, kind="stable")
        be.build(vecs[order], ids[order])
        held = NO_VERSIONS if versions is None else np.asarray(versions, np.int64).reshape(-1, 2)
        return cls(signal.name, be, work_ids[order], times[order], generation, ids[order], held)

    def follow(self, db: Database, signal: SignalType, generation: int) -> bool:
        """Apply the catalogue's changes since this index's generation to an incremental backend; False
        when a whole rebuild is the better way (nothing recorded, or most works changed)."""
        if not self.backend.incremental or self.ids is None:
            return False
        current = fingerprint_versions(db, signal)
        held = {int(w): int(v) for w, v in self.versions}
        if not held and len(self.work_ids):
            return False  # a checkpoint that does not say what it holds
        gone = np.array([w for w, v in held.items() if current.get(w) != v], np.int64)
        changed = sorted(w for w, v in current.items() if held.get(w) != v)
        if len(gone) + len(changed) > max(8, len(current) // 2):
            return False
        keep = ~np.isin(self.work_ids, gone)
        if len(gone):
            self.backend.remove(self.ids[~keep])
        rows = load_fingerprint_versions(db, signal, changed) if changed else []
        fresh = [(w, fp) for w, _, fp in rows]
        vecs, work_ids, times = _stack(signal, fresh)
        ids = row_ids(fresh)
        if len(ids):
            self.backend.add(vecs, ids)
        all_ids = np.concatenate([self.ids[keep], ids])
        order = np.argsort(all_ids, kind="stable")
        try:
            self.backend.confirm(len(all_ids))
        except ValueError:
            return False  # the collection does not hold what we think: rebuild it from the database
        self.ids = all_ids[order]
        self.work_ids = np.concatenate([self.work_ids[keep], work_ids])[order]
        self.times = np.concatenate([self.times[keep], times])[order]
        versions = {w: v for w, v in held.items() if w not in set(gone.tolist())}
        versions.update({w: v for w, v, _ in rows})
        self.versions = np.array(sorted(versions.items()), np.int64).reshape(-1, 2)
        self.generation = generation
        return True

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
                extra = {} if self.ids is None else {"ids": self.ids, "versions": self.versions}
                np.savez(
                    fh,
                    work_ids=self.work_ids,
                    times=self.times,
                    generation=np.int64(self.generation),
                    **extra,
                )
            os.replace(tmp_idx, base.with_suffix(".idx"))  # atomic: readers see old or new, never half
            os.replace(tmp_meta, base.with_suffix(".meta.npz"))
        finally:
            for tmp in (tmp_idx, tmp_meta):
                tmp.unlink(missing_ok=True)

    @classmethod
    def load(
        cls, folder: Path, signal: SignalType, backend_name: str, settings: Settings | None = None
    ) -> RecognitionIndex | None:
        if not folder.is_dir():
            return None
        with checkpoint_lock(folder, signal.name, backend_name, exclusive=False):
            return cls._read(folder, signal, backend_name, settings)

    @classmethod
    def _read(
        cls, folder: Path, signal: SignalType, backend_name: str, settings: Settings | None = None
    ) -> RecognitionIndex | None:
        """The checkpoint, or None when there is none or it is damaged; the caller holds its lock."""
        base = folder / f"{signal.name}.{backend_name}"
        idx, meta = base.with_suffix(".idx"), base.with_suffix(".meta.npz")
        if not (idx.exists() and meta.exists()):
            return None
        try:
            with np.load(meta) as m:
                work_ids, times, gen = m["work_ids"], m["times"], int(m["generation"])
                ids = m["ids"] if "ids" in m.files else None
                versions = m["versions"] if "versions" in m.files else NO_VERSIONS
            be = load_backend(backend_name, idx, signal.dim, settings)
        except Exception:  # a damaged checkpoint is only a cache: rebuild from the database
            return None
        if len(be) != len(work_ids) or (ids is not None and len(ids) != len(work_ids)):
            return None
        if be.incremental and ids is None:
            return None  # written before the backend followed the catalogue: its ids are row numbers
        return cls(signal.name, be, work_ids, times, gen, ids, versions)


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
    return [(w, fp) for w, _, fp in load_fingerprint_versions(db, signal)]


def load_fingerprint_versions(
    db: Database, signal: SignalType, works: list[int] | None = None
) -> list[tuple[int, int, Fingerprint]]:
    """(work id, fingerprint row id, fingerprint) of every work (or of ``works``), ascending work ids."""
    q = select(WorkFingerprint).where(WorkFingerprint.signal == signal.name, WorkFingerprint.count > 0)
    if works is not None:
        q = q.where(WorkFingerprint.work_id.in_(works))
    with db.session() as s:
        rows = s.execute(q.order_by(WorkFingerprint.work_id)).scalars()
        return [
            (r.work_id, r.id, Fingerprint.unpack(signal.name, signal.dim, r.times, r.vectors, 0.0))
            for r in rows
        ]


def fingerprint_versions(db: Database, signal: SignalType) -> dict[int, int]:
    """work id → the row id of its fingerprint: a new fingerprint of a work is a new row."""
    q = select(WorkFingerprint.work_id, WorkFingerprint.id).where(
        WorkFingerprint.signal == signal.name, WorkFingerprint.count > 0
    )
    with db.session() as s:
        return {int(w): int(i) for w, i in s.execute(q)}


def open_index(
    db: Database, signal: SignalType, folder: Path, backend_name: str, settings: Settings | None = None
) -> RecognitionIndex:
    """The current index for ``signal``: the checkpoint if it is up to date, else rebuilt and saved.

    Only one process rebuilds a stale checkpoint; the others wait for it and load what it wrote.
    """
    gen = catalogue_generation(db)
    idx = RecognitionIndex.load(folder, signal, backend_name, settings)
    if idx is not None and idx.generation == gen:
        return idx
    with checkpoint_lock(folder, signal.name, backend_name, exclusive=True):
        idx = RecognitionIndex._read(
            folder, signal, backend_name, settings
        )  # another process may have rebuilt it
        gen = catalogue_generation(db)
        if idx is not None and idx.generation == gen:
            return idx
        if idx is None or not idx.follow(db, signal, gen):
            idx = build_index(db, signal, backend_name, gen, settings)
        idx._write(folder)
    return idx


def build_index(
    db: Database, signal: SignalType, backend_name: str, generation: int, settings: Settings | None = None
) -> RecognitionIndex:
    """The whole index of the catalogue as it is now (``generation`` read before)."""
    rows = load_fingerprint_versions(db, signal)
    versions = np.array([(w, v) for w, v, _ in rows], np.int64).reshape(-1, 2)
    return RecognitionIndex.build(
        signal, [(w, fp) for w, _, fp in rows], backend_name, generation, versions, settings
    )
