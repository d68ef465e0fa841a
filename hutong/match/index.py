"""The recognition index of one signal: a backend plus which work and instant each row stands for.

Every row has a key, ``work_id << 32 | milliseconds``: the work and the instant the vector was taken at. A
backend that stores ids (FAISS IVF-PQ, Milvus) holds the keys itself, so nothing beside it grows with hours
of reference; for the others ``keys`` maps row numbers to keys. Near-identical consecutive vectors of a work
are dropped before indexing (:mod:`hutong.index.dedupe`).

Derived from the database, checkpointed under ``HUTONG_HOME/index`` with the catalogue generation it was
built from. When that generation moves on, an in-process index is rebuilt; an incremental backend (Milvus)
follows the catalogue instead: the checkpoint records which fingerprint of each work the index holds, and
only the works added, removed or fingerprinted again since are applied. Keys name the work and the instant,
so a change applied twice, or by two processes, gives the same index. It is rebuilt whole when the checkpoint
is missing, damaged or of another format, when the collection does not hold what the checkpoint says, or
when most of the catalogue changed.

Several processes share one checkpoint (``hutong match`` runs, a server): each checkpoint has a lock file
next to it. Reading takes it shared, rebuilding and writing take it exclusive, so two processes never
rebuild at once: the second waits, then finds the fresh checkpoint and loads it. Files are written under
unique temporary names and moved into place.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from hutong.errors import Unavailable
from hutong.fingerprint import Fingerprint, SignalType
from hutong.index import IndexBackend
from hutong.index import backend as backend_class
from hutong.index import load as load_backend
from hutong.index import make as make_backend
from hutong.index.dedupe import keep_distinct
from hutong.store import CatalogueState, Database, WorkFingerprint

if TYPE_CHECKING:
    from hutong.config import Settings

#: checkpoints of another layout are rebuilt (2: keys name the work id and the instant; near-duplicates
#: dropped; an incremental backend's held keys and fingerprint versions)
FORMAT = 2
#: per signal, (cosine above which a vector repeats the last kept one, seconds after which one is kept all
#: the same); see ``hutong.index.dedupe``. Measured on the benchmark footage: at 0.98, 50 % of consecutive
#: ``video.dct`` vectors (37 % of ``video.sscd``) repeat their predecessor, and segments found are unchanged.
#: ``audio.bands`` keeps one window of sound every 0.75 s of the 4 it describes a second: its neighbours are
#: unrelated (median cosine 0.06), so nothing repeats, but queries describe a window every 62.5 ms and so
#: meet each kept one within 31 ms; a third of the vectors is 77 MB per 1,000 h instead of 242
DEDUPE: dict[str, tuple[float, float]] = {
    "video.dct": (0.98, 1.0),
    "video.sscd": (0.98, 1.0),
    "audio.bands": (-1.0, 0.75),
}
TIME_BITS = 32  # keys hold instants in milliseconds below this bit (49 days per work), the work id above
_TIME_UNIT = 1000
NO_VERSIONS = np.zeros((0, 2), np.int64)
#: a rebuild through ``build_streamed`` reads this many works' fingerprints at a time (10,000 h of
#: ``video.dct`` is 18 GB of float32: never all at once)
REBUILD_WORKS = 64


class CatalogueChanged(Exception):
    """Fingerprints read for a rebuild changed between two readings."""


def row_keys(work_ids: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The key of each row: its work id and its instant (ms)."""
    ms = np.clip(np.rint(np.asarray(times, np.float64) * _TIME_UNIT), 0, (1 << TIME_BITS) - 1)
    return (np.asarray(work_ids, np.int64) << TIME_BITS) | ms.astype(np.int64)


class _KeyField:
    """Reads one field (the work, or the instant) out of row keys, indexed like an array: ``field[keys]``."""

    def __init__(self, decode) -> None:
        self._decode = decode

    def __getitem__(self, keys) -> np.ndarray:
        return self._decode(np.asarray(keys, np.int64))


def _work_of(keys: np.ndarray) -> np.ndarray:
    return (keys >> TIME_BITS).astype(np.int32)


def _time_of(keys: np.ndarray) -> np.ndarray:
    return ((keys & ((1 << TIME_BITS) - 1)) / _TIME_UNIT).astype(np.float32)


def reference_step(signal: SignalType) -> float:
    """Seconds between the reference vectors of ``signal`` the index holds: the signal's own sampling, or
    the gap of a thinning by time alone (``alike = -1``). Alignment counts query instants on this grid, so
    that each kept reference vector is one instant's evidence."""
    alike, gap = DEDUPE.get(signal.name, (1.0, 0.0))
    return max(1.0 / signal.fps, gap) if alike <= -1.0 else 1.0 / signal.fps


def _dedupe_of(signal: str) -> np.ndarray:
    """The near-duplicate settings a checkpoint of ``signal`` is built with (zeros: none)."""
    return np.asarray(DEDUPE.get(signal, (0.0, 0.0)), np.float64)


def _distinct(signal: str, vecs: np.ndarray, wids: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Mask of the rows worth indexing (rows of a work consecutive and in time order)."""
    if not len(vecs):
        return np.zeros(0, bool)
    if signal in DEDUPE:
        alike, max_gap = DEDUPE[signal]
        new_work = np.r_[True, wids[1:] != wids[:-1]]
        return keep_distinct(vecs, times, new_work, alike=alike, max_gap=max_gap)
    return np.linalg.norm(vecs, axis=1) > 0  # a zero vector matches nothing


@dataclass
class RecognitionIndex:
    signal: str
    backend: IndexBackend
    keys: np.ndarray | None  # (n,) int64 row -> key; None when the backend returns keys itself
    generation: int
    #: an incremental backend's keys, ascending: what the collection holds according to this checkpoint
    held: np.ndarray | None = None
    #: (work id, fingerprint row id) of each work the index holds: what a later catalogue is compared with
    versions: np.ndarray = field(default_factory=lambda: NO_VERSIONS)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, keys); -1 where there is no neighbour."""
        sims, found = self.backend.search(vectors, k)
        if self.keys is not None:
            return sims, np.where(found >= 0, self.keys[np.maximum(found, 0)], -1)
        if self.held is None:
            return sims, found
        # a key this checkpoint does not know (a change another process made since) counts as no neighbour
        pos = np.searchsorted(self.held, found).clip(0, max(len(self.held) - 1, 0))
        known = (found >= 0) & (len(self.held) > 0)
        if len(self.held):
            known &= self.held[pos] == found
        return np.where(known, sims, -np.inf).astype(np.float32), np.where(known, found, -1)

    @property
    def work_ids(self) -> _KeyField:
        return _KeyField(_work_of)

    @property
    def times(self) -> _KeyField:
        return _KeyField(_time_of)

    def all_keys(self) -> np.ndarray | None:
        """Every key the index holds, where that is known without asking the backend."""
        return self.keys if self.keys is not None else self.held

    def nbytes(self) -> int:
        """Memory that answering needs: the backend's, plus the keys held beside it."""
        return self.backend.nbytes() + (0 if self.keys is None else self.keys.nbytes)

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
        chunks = [(fp.vectors, np.full(len(fp), wid, np.int64), fp.times) for wid, fp in rows]
        idx = cls.from_chunks(signal.name, signal.dim, chunks, backend_name, generation, settings=settings)
        if idx.held is not None:
            idx.versions = NO_VERSIONS if versions is None else np.asarray(versions, np.int64).reshape(-1, 2)
        return idx

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
        settings: Settings | None = None,
    ) -> RecognitionIndex:
        """Index chunks of (vectors, work ids, times), each chunk whole works in time order. A backend that
        trains on a ``sample`` and adds in chunks (given ``total``, the number of vectors to come) never
        holds all vectors at once; ``stats`` receives the vectors seen and kept."""
        be = make_backend(backend_name, dim, settings)
        streaming = (
            sample is not None and total is not None and hasattr(be, "train") and be.stores_ids
            and not be.incremental
        )  # fmt: skip
        if streaming:
            be.train(sample, total=total)
        kept_v, kept_k, seen, kept = [], [], 0, 0
        for vecs, wids, times in chunks:
            vecs = np.asarray(vecs, np.float32)
            wids = np.asarray(wids, np.int64)
            times = np.asarray(times, np.float32)
            seen += len(vecs)
            mask = _distinct(signal, vecs, wids, times)
            vecs, keys = vecs[mask], row_keys(wids[mask], times[mask])
            kept += len(vecs)
            if streaming:
                be.add(vecs, keys)
            else:
                kept_v.append(vecs)
                kept_k.append(keys)
        if stats is not None:
            stats.update(seen=seen, kept=kept)
        if streaming:
            return cls(signal, be, None, generation)
        vecs = np.concatenate(kept_v) if kept_v else np.zeros((0, dim), np.float32)
        keys = np.concatenate(kept_k) if kept_k else np.zeros(0, np.int64)
        if be.incremental:
            order = np.argsort(keys, kind="stable")
            be.build(vecs[order], keys[order])
            return cls(signal, be, None, generation, held=keys[order])
        if be.stores_ids:
            be.build(vecs, keys)
            return cls(signal, be, None, generation)
        be.build(vecs)
        return cls(signal, be, keys, generation)

    @classmethod
    def build_streamed(
        cls,
        signal: SignalType,
        read: Callable[[], Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]],
        backend_name: str,
        generation: int,
        versions: np.ndarray,
        settings: Settings | None = None,
    ) -> RecognitionIndex:
        """Index what ``read()`` gives, (vectors, work ids, times) of whole works in work id order, read
        afresh on each call and never held all at once (a backend that ``builds_from_batches``), as the
        backend needs: FAISS IVF-PQ a training sample (and the count), then the rows; Milvus the keys it
        will hold, a digest of the content, then the rows where no collection holds them yet."""
        be = make_backend(backend_name, signal.dim, settings)

        def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for vecs, wids, times in read():
                mask = _distinct(signal.name, vecs, wids, times)
                yield vecs[mask], row_keys(wids[mask], times[mask])

        if be.incremental:  # it keeps the keys it holds beside it (8 bytes a row): follow needs them
            held = np.sort(np.concatenate([np.zeros(0, np.int64), *(k for _, k in batches())]))
            be.build_from(batches, len(held))
            return cls(signal.name, be, None, generation, held=held, versions=versions)
        be.build_from(batches)
        return cls(signal.name, be, None, generation)

    def follow(self, db: Database, signal: SignalType, generation: int) -> bool:
        """Apply the catalogue's changes since this index's generation to an incremental backend; False
        when a whole rebuild is the better way (nothing recorded, or most works changed)."""
        if not self.backend.incremental or self.held is None:
            return False
        current = fingerprint_versions(db, signal)
        held = {int(w): int(v) for w, v in self.versions}
        if not held and len(self.held):
            return False  # a checkpoint that does not say what it holds
        gone = np.array([w for w, v in held.items() if current.get(w) != v], np.int64)
        changed = sorted(w for w, v in current.items() if held.get(w) != v)
        if len(gone) + len(changed) > max(8, len(current) // 2):
            return False
        keep = ~np.isin(_work_of(self.held), gone)
        if len(gone):
            self.backend.remove(self.held[~keep])
        rows = load_fingerprint_versions(db, signal, changed) if changed else []
        fresh = []
        for w, _, fp in rows:
            wids = np.full(len(fp), w, np.int64)
            mask = _distinct(signal.name, fp.vectors, wids, fp.times)
            fresh.append((fp.vectors[mask], row_keys(wids[mask], fp.times[mask])))
        if fresh:
            vecs = np.concatenate([v for v, _ in fresh])
            keys = np.concatenate([k for _, k in fresh])
            if len(keys):
                self.backend.add(vecs, keys)
        else:
            keys = np.zeros(0, np.int64)
        all_keys = np.unique(np.concatenate([self.held[keep], keys]))
        try:
            self.backend.confirm(len(all_keys))
        except ValueError:
            return False  # the collection does not hold what we think: rebuild it from the database
        self.held = all_keys
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
        idx_path, meta_path = checkpoint_paths(folder, self.signal, self.backend.name)
        # any temporary file of this checkpoint still here was left by a writer that died: we hold the lock
        for orphan in folder.glob(f".{self.signal}.{self.backend.name}.*.tmp"):
            orphan.unlink(missing_ok=True)
        name = f"{self.signal}.{self.backend.name}"
        tmp_idx, tmp_meta = _temp_path(folder, name), _temp_path(folder, name)
        empty = np.zeros(0, np.int64)
        try:
            self.backend.save(tmp_idx)
            with open(tmp_meta, "wb") as fh:
                np.savez(
                    fh,
                    keys=empty if self.keys is None else self.keys,
                    stored_keys=np.bool_(self.keys is None),
                    held=empty if self.held is None else self.held,
                    incremental=np.bool_(self.held is not None),
                    versions=self.versions,
                    rows=np.int64(len(self.backend)),
                    generation=np.int64(self.generation),
                    format=np.int64(FORMAT),
                    dedupe=_dedupe_of(self.signal),
                )
            os.replace(tmp_idx, idx_path)  # atomic: readers see old or new, never half
            os.replace(tmp_meta, meta_path)
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
        """The checkpoint, or None when there is none, it is damaged or of another format; the caller
        holds its lock."""
        idx, meta = checkpoint_paths(folder, signal.name, backend_name)
        if not (idx.exists() and meta.exists()):
            return None
        try:
            with np.load(meta) as m:
                if int(m["format"]) != FORMAT:
                    return None
                # rows were chosen with other near-duplicate settings: the index holds other rows
                if "dedupe" not in m or not np.array_equal(m["dedupe"], _dedupe_of(signal.name)):
                    return None
                gen, rows = int(m["generation"]), int(m["rows"])
                keys = None if bool(m["stored_keys"]) else m["keys"]
                held = m["held"] if bool(m["incremental"]) else None
                versions = m["versions"].reshape(-1, 2)
            be = load_backend(backend_name, idx, signal.dim, settings)
        except Exception:  # a damaged checkpoint is only a cache: rebuild from the database
            return None
        if len(be) != rows or (keys is not None and len(keys) != rows):
            return None
        if be.incremental and (held is None or len(held) != rows):
            return None
        return cls(signal.name, be, keys, gen, held, versions)


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


def indexed_rows(
    db: Database, signal: SignalType, works: list[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """work id -> (keys, unit vectors at full precision) of the rows an index of ``signal`` holds for it
    (the same near-duplicates dropped): what an approximate index's candidates are checked against."""
    return {
        wid: held_rows(signal.name, wid, fp) for wid, _, fp in load_fingerprint_versions(db, signal, works)
    }


def held_rows(signal: str, work_id: int, fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    """(keys, unit vectors at full precision) of the rows an index of ``signal`` holds for one work's
    stored fingerprint ``fp`` (the same near-duplicates dropped)."""
    wids = np.full(len(fp), work_id, np.int64)
    keep = _distinct(signal, fp.vectors, wids, fp.times)
    return row_keys(wids[keep], fp.times[keep]), np.ascontiguousarray(fp.vectors[keep], np.float32)


def read_fingerprints(
    db: Database, signal: SignalType, rows: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(vectors, work ids, times) of the fingerprint rows ``rows`` (in work id order), a few works at a
    time; ``CatalogueChanged`` once the reading is over if some of them are gone."""
    seen = 0
    for start in range(0, len(rows), REBUILD_WORKS):
        batch = [int(r) for r in rows[start : start + REBUILD_WORKS]]
        q = select(WorkFingerprint).where(WorkFingerprint.id.in_(batch)).order_by(WorkFingerprint.work_id)
        with db.session() as s:
            found = [
                (r.work_id, Fingerprint.unpack(signal.name, signal.dim, r.times, r.vectors, 0.0))
                for r in s.execute(q).scalars()
            ]
        seen += len(found)
        for wid, fp in found:
            yield fp.vectors, np.full(len(fp), wid, np.int64), fp.times
    if seen != len(rows):
        raise CatalogueChanged(f"{len(rows) - seen} of {len(rows)} fingerprints changed while being read")


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
    if backend_class(backend_name).builds_from_batches:
        for _ in range(2):  # a work removed or fingerprinted again during the rebuild: once more
            versions = np.array(sorted(fingerprint_versions(db, signal).items()), np.int64).reshape(-1, 2)
            try:
                return RecognitionIndex.build_streamed(
                    signal, lambda v=versions: read_fingerprints(db, signal, v[:, 1]), backend_name,
                    generation, versions, settings,
                )  # fmt: skip
            except CatalogueChanged:
                continue
        raise Unavailable(f"the catalogue kept changing while the {signal.name} index was rebuilt; retry")
    rows = load_fingerprint_versions(db, signal)
    versions = np.array([(w, v) for w, v, _ in rows], np.int64).reshape(-1, 2)
    return RecognitionIndex.build(
        signal, [(w, fp) for w, _, fp in rows], backend_name, generation, versions, settings
    )
