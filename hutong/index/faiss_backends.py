"""FAISS backends: exact flat inner product (default), and IVF-PQ for thousands of hours."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from hutong.index.base import IndexBackend

#: most vectors the IVF-PQ quantisers train on (fewer where 40 per list are enough)
TRAIN_POOL = 256_000


def _no_precomputed_table(ivf: faiss.IndexIVFPQ) -> None:
    """Search without FAISS's precomputed distance tables. FAISS keeps, by default, a float per list x
    sub-quantiser x centroid (nlist x M x 256) to speed up residual search: at 1,000 h of ``video.dct`` 46 MB,
    as much as the codes and ids of every row. Without it each probed list costs M x 256 small distance
    sums more per query vector (measured on 512-d vectors, 586 query vectors, 24 lists each: 0.05 s -> 0.20 s
    of CPU); the memory ``nbytes`` reports is then all the index holds."""
    ivf.use_precomputed_table = -1
    ivf.precomputed_table.resize(0)


def _uniform_sample(chunks: Iterable[np.ndarray], dim: int) -> tuple[np.ndarray, int]:
    """(at most ``TRAIN_POOL`` rows drawn uniformly from ``chunks`` without replacement, how many rows there
    were), in one reading of unknown length: each row gets a random key and the smallest keys are kept. Rows
    come back in reading order, so a catalogue that fits whole is trained on exactly as ``build`` would."""
    rng = np.random.default_rng(0)
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (keys, positions, rows), merged now and then
    cut, held, seen = np.inf, 0, 0
    for x in chunks:
        keys = rng.random(len(x))
        pick = keys < cut  # once the pool is full, only rows that would displace one of it
        if pick.any():
            kept.append((keys[pick], np.arange(seen, seen + len(x))[pick], x[pick]))
            held += int(pick.sum())
        seen += len(x)
        if held > 2 * TRAIN_POOL:  # merge: keep the smallest keys, and raise the bar for the next rows
            kept = [_smallest(kept)]
            cut, held = float(kept[0][0].max()), len(kept[0][0])
    if not kept:
        return np.zeros((0, dim), np.float32), seen
    _, positions, rows = _smallest(kept)
    return rows[np.argsort(positions)], seen


def _smallest(kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    keys, positions, rows = (np.concatenate([k[i] for k in kept]) for i in range(3))
    if len(keys) > TRAIN_POOL:
        top = np.argpartition(keys, TRAIN_POOL - 1)[:TRAIN_POOL]
        keys, positions, rows = keys[top], positions[top], rows[top]
    return keys, positions, rows


class _FaissIndex(IndexBackend):
    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._index: faiss.Index = self._empty()

    def _empty(self) -> faiss.Index:
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self._index.ntotal == 0 or len(q) == 0:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        sims, ids = self._index.search(q, k)
        sims[ids < 0] = -np.inf
        return sims, ids

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> _FaissIndex:
        idx = cls(dim)
        idx._index = faiss.read_index(str(path))
        idx._loaded()
        return idx

    def _loaded(self) -> None:
        pass


class FaissFlatIndex(_FaissIndex):
    """Exact search; 4 bytes per dimension. Right up to a few hundred hours of reference."""

    name = "faiss-flat"

    def _empty(self) -> faiss.Index:
        return faiss.IndexFlatIP(self.dim)

    def build(self, vectors: np.ndarray) -> None:
        self._index = self._empty()
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def nbytes(self) -> int:
        return int(self._index.ntotal) * self.dim * 4


class FaissIVFPQIndex(_FaissIndex):
    """Inverted lists over product-quantised codes, for thousands of hours of reference.

    Per vector it holds a code of ``code_bytes`` and the 8-byte id FAISS keeps in its lists; the caller may
    choose the ids (``stores_ids``), so that an id carries what the caller would otherwise keep beside the
    index (``RecognitionIndex`` puts the work and the instant in it). Codes are 10 bytes up to 64
    dimensions (8 lost 2 of 7 segments at 1,000 h on the scale bench; 10 found all 7 at 100 h where 8 found
    6, for 94 MB per 1,000 h) and 8 bytes above, after an OPQ rotation (learned 512-d descriptors spread
    their energy unevenly over dimensions; the rotation balances it between sub-quantisers). For
    ``video.sscd`` 8 bytes against 16 moved the similarity error (true - estimated, pairs truly >= 0.5, bench
    footage among 100,000 synthetic vectors) from -0.002 / 0.020 / 0.089 to -0.022 / 0.036 / 0.125 at the
    median / 95th / 99th percentile; the copy threshold (0.5) sits far above unrelated pictures (< 0.36).

    Vectors are unit norm and searched by inner product, residuals included: the estimate is then
    <q, centroid> + <q, code>, whose table of query-to-codebook products is the same for every list, so a
    probed list costs only the scan of its codes. By L2 each probed list needs its own table (or FAISS's
    precomputed one, nlist x M x 256 floats), and 1 - d²/2 overestimates every candidate by half the energy
    the codes lose. Measured on real ``video.sscd`` vectors of the bench footage among synthetic ones
    (95,645 indexed, the 586 vectors of a 60 s query, 24 lists, one thread): search 0.213 -> 0.068 CPU-s;
    pairs truly >= 0.5 estimated >= 0.44: 0.676 -> 0.653; pairs truly < 0.36 estimated >= 0.44 (noise
    that reaches alignment): 5,359 -> 39. ``audio.bands`` (93,219): 0.182 -> 0.057 CPU-s, 0.337 -> 0.414,
    1,642 -> 275. The codes keep less than a vector's energy (0.80 of it at 1,000 h of ``audio.bands``), and
    a copy's inner product with them shrinks with it, so ``search`` divides by that share
    (:meth:`code_energy`): the raw inner product found 3 of 7 ``audio.bands`` segments at 100 h on the scale
    bench, L2 6, this 6, in 0.14 CPU-s against L2's 0.35. Checkpoints built by L2 still load and answer as
    before (``search`` reads the metric).
    """

    name = "faiss-ivfpq"
    stores_ids = True
    builds_from_batches = True
    nprobe = 24
    #: fewer vectors than this are searched exactly: too few to train a quantiser, and exact is cheap
    min_train = 4096
    #: OPQ rotation training rounds. FAISS's default of 50 cost 13x the time of 10 and found no more: real
    #: ``video.sscd`` vectors of the bench footage (2,358, lightly edited copies as queries) among 100,000
    #: synthetic ones, copies truly >= 0.5 found in the top 10 at 10 / 20 / 50 rounds: 0.764 / 0.781 / 0.772,
    #: similarity error (true - estimated) at the median 0.108 / 0.106 / 0.107, 99th percentile 0.269 /
    #: 0.263 / 0.266; building took 222 / 317 / 2,841 s on the busy 2-core machine
    opq_iterations = 20

    def __init__(self, dim: int) -> None:
        self.code_bytes = 10 if dim <= 64 else 8
        self._pad = (-dim) % self.code_bytes if dim <= 64 else 0  # sub-quantisers split dimensions evenly
        # measured on the scale bench's video.dct vectors (with 8-byte codes; 10 are finer), of neighbours truly above 0.8: the
        # estimate lies below the truth by 0.006 at the median, 0.046 at the 95th percentile, 0.093 at the 99th
        self.similarity_slack = 0.06
        self._energy: float | None = None
        super().__init__(dim)

    def _empty(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatL2(self.dim + self._pad))

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(len(x), dtype=np.int64) if ids is None else np.ascontiguousarray(ids, np.int64)
        if len(ids) != len(x):
            raise ValueError(f"{len(ids)} ids for {len(x)} vectors")
        self.train(x, total=len(x))
        self.add(x, ids)

    def build_from(
        self, batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], n: int | None = None
    ) -> None:
        """Index the rows given as (vectors, ids) batches, never all in memory at once: the first reading
        counts them and draws a uniform sample of at most ``TRAIN_POOL`` to train the quantisers on
        (``train`` draws its points from it), the second adds them. ``n``, where the caller knows it, is
        checked against both readings."""
        pool, seen = _uniform_sample((np.asarray(x, np.float32) for x, _ in batches()), self.dim)
        if n is not None and seen != n:
            raise ValueError(f"{seen} vectors given for a build of {n}")
        self.train(pool, total=seen)
        added = 0
        for x, ids in batches():
            self.add(x, ids)
            added += len(x)
        if added != seen:  # the batches changed between the two readings
            raise ValueError(f"{added} vectors added for a build of {seen}")

    def train(self, sample: np.ndarray, total: int) -> None:
        """Start an empty index for ``total`` vectors, its quantisers trained on ``sample`` of them (added
        later with ``add``, in chunks if need be: the bench streams 10,000 hours through this)."""
        x = np.ascontiguousarray(sample, dtype=np.float32)
        self._energy = None
        if total < self.min_train or len(x) < self.min_train:
            self._index = self._empty()
            return
        nlist = int(min(16384, max(1, 2 * np.sqrt(total))))
        d = self.dim + self._pad
        # coarse centroids in half precision: at 1,000 h of a 512-d signal they were a tenth of the index in
        # float32 (9.6 MB); fp16 keeps each coordinate to 0.05 %, far finer than what tells lists apart
        quantizer = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        # spherical k-means (FAISS's choice for an inner-product IVF): unit centroids, nearest by L2 as well
        ivf = faiss.IndexIVFPQ(quantizer, d, nlist, self.code_bytes, 8, faiss.METRIC_INNER_PRODUCT)
        ivf.by_residual = True
        index: faiss.Index = ivf
        if self.dim > 64:
            opq = faiss.OPQMatrix(d, self.code_bytes)
            opq.niter = self.opq_iterations
            index = faiss.IndexPreTransform(opq, ivf)
        train = x[
            np.random.default_rng(0).choice(len(x), size=min(len(x), 40 * nlist, TRAIN_POOL), replace=False)
        ]
        index.train(self._padded(train))
        ivf.nprobe = self.nprobe
        _no_precomputed_table(ivf)
        self._index = index

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(ids) != len(x):
            raise ValueError(f"{len(ids)} ids for {len(x)} vectors")
        if len(x):
            self._index.add_with_ids(self._padded(x), np.ascontiguousarray(ids, np.int64))
            self._energy = None

    def _padded(self, x: np.ndarray) -> np.ndarray:
        if not self._pad:
            return x
        return np.ascontiguousarray(np.hstack([x, np.zeros((len(x), self._pad), np.float32)]))

    def _loaded(self) -> None:
        if self._index.d != self.dim + self._pad:
            raise ValueError(f"checkpoint holds {self._index.d}-d (padded) vectors, not {self.dim}-d ones")
        self.set_nprobe(self.nprobe)
        ivf = self._ivf()
        if ivf is not None:
            _no_precomputed_table(ivf)  # reading a checkpoint computes one again

    def set_nprobe(self, nprobe: int) -> None:
        """How many lists a query vector scans: fewer answer sooner and miss more (``bench.scale --nprobe``)."""
        if nprobe < 1:
            raise ValueError(f"nprobe must be at least 1, got {nprobe}")
        self.nprobe = nprobe
        ivf = self._ivf()
        if ivf is not None:
            ivf.nprobe = nprobe

    def _ivf(self) -> faiss.IndexIVFPQ | None:
        try:
            return faiss.downcast_index(faiss.extract_index_ivf(self._index))
        except RuntimeError:  # the exact index of a small catalogue
            return None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index.ntotal == 0 or len(queries) == 0:
            return super().search(queries, k)
        d, ids = self._index.search(self._padded(np.ascontiguousarray(queries, dtype=np.float32)), k)
        sims = 1.0 - d / 2.0 if self._index.metric_type == faiss.METRIC_L2 else d / self.code_energy()
        sims[ids == -1] = -np.inf  # FAISS's mark of a missing neighbour; any other id is the caller's
        return sims.astype(np.float32), ids

    def code_energy(self, lists: int = 64) -> float:
        """Mean squared norm of what the codes reconstruct (coarse centroid + decoded residual), over the
        codes of up to ``lists`` inverted lists spread over the index; 1.0 where nothing is quantised.
        Were the error e of a unit vector x orthogonal to what is kept (x - e), a copy q at similarity s
        would score <q, x - e> ≈ s (1 - |e|²), and dividing by the kept energy would undo that. With
        spherical centroids it is not quite so (on isotropic noise the codes keep nearly all the energy and
        copies still score low): the division is a calibration, chosen on the scale bench (see the class).
        Read from the index itself, once per content: a checkpoint needs nothing beside it."""
        if self._energy is None:
            ivf = self._ivf()
            squares = []
            if ivf is not None:
                inv = ivf.invlists
                for i in np.unique(np.linspace(0, inv.nlist - 1, min(lists, inv.nlist)).astype(int)):
                    n = inv.list_size(int(i))
                    if n == 0:
                        continue
                    codes = np.array(faiss.rev_swig_ptr(inv.get_codes(int(i)), n * ivf.code_size))
                    kept = ivf.pq.decode(codes.reshape(n, ivf.code_size)) + ivf.quantizer.reconstruct(int(i))
                    squares.append((kept * kept).sum(axis=1))
            self._energy = float(np.concatenate(squares).mean()) if squares else 1.0
        return self._energy

    def nbytes(self) -> int:
        """Everything searching needs in memory: codes and ids of every entry, coarse centroids, the
        sub-quantisers' codebooks and the rotation."""
        ivf = self._ivf()
        if ivf is None:
            return int(self._index.ntotal) * (self.dim * 4 + 8)
        inv = ivf.invlists
        entries = sum(inv.list_size(i) for i in range(inv.nlist))
        pq = ivf.pq
        tables = pq.M * pq.ksub * pq.dsub * 4
        # an OPQ rotation only where one was trained (above 64 dimensions): two SWIG proxies of one index
        # are never ``is`` each other, so ask what the index is
        rotated = isinstance(faiss.downcast_index(self._index), faiss.IndexPreTransform)
        rotation = self._index.d * self._index.d * 4 if rotated else 0
        table = ivf.precomputed_table.size() * 4  # none since it is turned off
        # code sizes of the index itself: a checkpoint may predate a change of ``code_bytes`` or of the
        # quantiser (float32 centroids before half precision)
        centroids = ivf.quantizer.ntotal * faiss.downcast_index(ivf.quantizer).code_size
        return int(entries * (pq.code_size + 8) + centroids + tables + rotation + table)
