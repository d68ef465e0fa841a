"""The recognition index of one signal: a backend plus which work and instant each row stands for.

Derived from the database, checkpointed under ``HUTONG_HOME/index`` with the catalogue generation it was
built from, and rebuilt whenever that generation moved on.
"""

from __future__ import annotations

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
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"{self.signal}.{self.backend.name}"
        tmp_idx, tmp_meta = base.with_suffix(".idx.tmp"), base.with_suffix(".meta.tmp.npz")
        self.backend.save(tmp_idx)
        np.savez(tmp_meta, work_ids=self.work_ids, times=self.times, generation=np.int64(self.generation))
        tmp_idx.replace(base.with_suffix(".idx"))  # replace() is atomic: readers see old or new, never half
        tmp_meta.replace(base.with_suffix(".meta.npz"))

    @classmethod
    def load(cls, folder: Path, signal: SignalType, backend_name: str) -> RecognitionIndex | None:
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
    """The current index for ``signal``: the checkpoint if it is up to date, else rebuilt and saved."""
    gen = catalogue_generation(db)
    idx = RecognitionIndex.load(folder, signal, backend_name)
    if idx is not None and idx.generation == gen:
        return idx
    idx = RecognitionIndex.build(signal, load_fingerprints(db, signal), backend_name, gen)
    idx.save(folder)
    return idx
