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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from hutong.fingerprint import Fingerprint, SignalType
from hutong.index import IndexBackend, backend
from hutong.index.dedupe import keep_distinct
from hutong.store import CatalogueState, Database, WorkFingerprint

#: checkpoints of another layout are rebuilt (1: work and instant in the row's key; near-duplicates dropped)
FORMAT = 1
#: per signal, (cosine above which a vector repeats the last kept one, seconds after which one is kept all
#: the same); see ``hutong.index.dedupe``. Measured on the benchmark footage: at 0.98, 50 % of consecutive
#: ``video.dct`` vectors (37 % of ``video.sscd``) repeat their predecessor, and segments found are unchanged
DEDUPE: dict[str, tuple[float, float]] = {"video.dct": (0.98, 1.0), "video.sscd": (0.98, 1.0)}
_TIME_UNIT = 1000  # keys hold instants in milliseconds
_TIME_BITS = 32


class _KeyField:
    """Reads one field (the work, or the instant) out of row keys, indexed like an array: ``field[keys]``."""

    def __init__(self, decode) -> None:
        self._decode = decode

    def __getitem__(self, keys) -> np.ndarray:
        return self._decode(np.asarray(keys, np.int64))


@dataclass
class RecognitionIndex:
    """Rows are found by key: ``(work position << 32) | milliseconds``. A backend that stores ids keeps
    the keys itself (no array beside it); for the others ``keys`` maps row numbers to keys."""

    signal: str
    backend: IndexBackend
    works: np.ndarray  # (w,) int64: the work id of each work position
    keys: np.ndarray | None  # (n,) int64 row -> key, None when the backend returns keys itself
    generation: int

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, keys); missing neighbours have key -1."""
        sims, rows = self.backend.search(vectors, k)
        if self.keys is None:
            return sims, rows
        return sims, np.where(rows >= 0, self.keys[np.maximum(rows, 0)], -1)

    @property
    def work_ids(self) -> _KeyField:
        return _KeyField(lambda k: self.works[k >> _TIME_BITS].astype(np.int32))

    @property
    def times(self) -> _KeyField:
        return _KeyField(lambda k: ((k & ((1 << _TIME_BITS) - 1)) / _TIME_UNIT).astype(np.float32))

    def nbytes(self) -> int:
        """Memory that answering needs: the backend's, plus the keys and works held beside it."""
        return self.backend.nbytes() + self.works.nbytes + (0 if self.keys is None else self.keys.nbytes)

    @classmethod
    def build(
        cls, signal: SignalType, rows: list[tuple[int, Fingerprint]], backend_name: str, generation: int
    ) -> RecognitionIndex:
        chunks = [(fp.vectors, np.full(len(fp), wid, np.int64), fp.times) for wid, fp in rows]
        return cls.from_chunks(signal.name, signal.dim, chunks, backend_name, generation)

    @classmethod
    def from_chunks(
        cls,
        signal: str,
        dim: int,
        chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
        backend_name: str,
        generation: int,
        *,
        sample: np.ndarray | None = None,
        total: int | None = None,
        stats: dict | None = None,
    ) -> RecognitionIndex:
        """Index chunks of (vectors, work ids, times), each chunk whole works in time order. A backend that
        trains on a ``sample`` and adds in chunks (given ``total``, the number of vectors to come) never
        holds all vectors at once; ``stats`` receives the vectors seen and kept."""
        be = backend(backend_name)(dim)
        alike, max_gap = DEDUPE.get(signal, (1.0, 0.0))
        streaming = sample is not None and total is not None and hasattr(be, "train") and be.stores_ids
        if streaming:
            be.train(sample, total=total)
        works: dict[int, int] = {}
        kept_v, kept_k, seen, kept = [], [], 0, 0
        for vecs, wids, times in chunks:
            vecs = np.asarray(vecs, np.float32)
            wids = np.asarray(wids, np.int64)
            times = np.asarray(times, np.float32)
            seen += len(vecs)
            if not len(vecs):
                continue
            new_work = np.r_[True, wids[1:] != wids[:-1]]
            if signal in DEDUPE:
                mask = keep_distinct(vecs, times, new_work, alike=alike, max_gap=max_gap)
            else:
                mask = np.linalg.norm(vecs, axis=1) > 0  # a zero vector matches nothing
            vecs, wids, times = vecs[mask], wids[mask], times[mask]
            kept += len(vecs)
            uniq, inverse = np.unique(wids, return_inverse=True)
            pos = np.array([works.setdefault(int(w), len(works)) for w in uniq], np.int64)[inverse]
            ms = np.clip(np.rint(times.astype(np.float64) * _TIME_UNIT), 0, (1 << _TIME_BITS) - 1)
            keys = (pos << _TIME_BITS) | ms.astype(np.int64)
            if streaming:
                be.add(vecs, keys)
            else:
                kept_v.append(vecs)
                kept_k.append(keys)
        if stats is not None:
            stats.update(seen=seen, kept=kept)
        work_array = np.array(sorted(works, key=works.__getitem__), np.int64)
        if streaming:
            return cls(signal, be, work_array, None, generation)
        vecs = np.concatenate(kept_v) if kept_v else np.zeros((0, dim), np.float32)
        keys = np.concatenate(kept_k) if kept_k else np.zeros(0, np.int64)
        if be.stores_ids:
            be.build(vecs, keys)
            return cls(signal, be, work_array, None, generation)
        be.build(vecs)
        return cls(signal, be, work_array, keys, generation)

    def save(self, folder: Path) -> None:
        with checkpoint_lock(folder, self.signal, self.backend.name, exclusive=True):
            self._write(folder)

    def _write(self, folder: Path) -> None:
        """Write the checkpoint; the caller holds its lock exclusively."""
        idx_path, meta_path = checkpoint_paths(folder, self.signal, self.backend.name)
        # any temporary file of this checkpoint still here was left by a writer that died: we hold the lock
        for orphan in folder.glob(f".{self.signal}.{self.backend.name}.*.tmp"):
            orphan.unlink(missing_ok=True)
        name = f"{self.signal}.{self.backend.name}"
        tmp_idx, tmp_meta = _temp_path(folder, name), _temp_path(folder, name)
        try:
            self.backend.save(tmp_idx)
            with open(tmp_meta, "wb") as fh:
                np.savez(
                    fh,
                    works=self.works,
                    keys=np.zeros(0, np.int64) if self.keys is None else self.keys,
                    stored_keys=np.bool_(self.keys is None),
                    rows=np.int64(len(self.backend)),
                    generation=np.int64(self.generation),
                    format=np.int64(FORMAT),
                )
            os.replace(tmp_idx, idx_path)  # atomic: readers see old or new, never half
            os.replace(tmp_meta, meta_path)
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
        """The checkpoint, or None when there is none, it is damaged or of another format; the caller
        holds its lock."""
        idx, meta = checkpoint_paths(folder, signal.name, backend_name)
        if not (idx.exists() and meta.exists()):
            return None
        try:
            with np.load(meta) as m:
                if int(m["format"]) != FORMAT:
                    return None
                works, gen, rows = m["works"], int(m["generation"]), int(m["rows"])
                keys = None if bool(m["stored_keys"]) else m["keys"]
            be = backend(backend_name).load(idx, signal.dim)
        except Exception:  # a damaged checkpoint is only a cache: rebuild from the database
            return None
        if len(be) != rows or (keys is not None and len(keys) != rows):
            return None
        return cls(signal.name, be, works, keys, gen)


def checkpoint_paths(folder: Path, signal: str, backend_name: str) -> tuple[Path, Path]:
    """The index file and the metadata file of one checkpoint. Both names keep the signal and the backend
    whole (``video.dct.faiss-flat.idx``): two backends of one signal never share a checkpoint."""
    return folder / f"{signal}.{backend_name}.idx", folder / f"{signal}.{backend_name}.meta.npz"


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
