"""FAISS backends: exact flat inner product (default), and IVF-PQ for thousands of hours."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from hutong.index.base import IndexBackend


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
    """Inverted lists over product-quantised codes: ``code_bytes`` per vector plus an 8-byte id.

    Vectors are unit norm, so L2 ranking equals inner-product ranking and similarity = 1 - d²/2.
    """

    name = "faiss-ivfpq"
    similarity_slack = 0.04
    code_bytes = 16
    nprobe = 24

    def _empty(self) -> faiss.Index:
        return faiss.IndexFlatL2(self.dim)

    def build(self, vectors: np.ndarray) -> None:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = int(min(16384, max(1, 2 * np.sqrt(max(1, len(x))))))
        if len(x) < 4096:  # too few to train a quantiser: exact search is both better and cheaper
            self._index = faiss.IndexFlatL2(self.dim)
            self._index.add(x)
            return
        pad = (-self.dim) % self.code_bytes
        quantizer = faiss.IndexFlatL2(self.dim + pad)
        ivf = faiss.IndexIVFPQ(quantizer, self.dim + pad, nlist, self.code_bytes, 8)
        ivf.by_residual = True
        train = x[
            np.random.default_rng(0).choice(len(x), size=min(len(x), 40 * nlist, 256_000), replace=False)
        ]
        if pad:
            self._pad = pad
        ivf.train(self._padded(train))
        ivf.add(self._padded(x))
        ivf.nprobe = self.nprobe
        self._index = ivf

    _pad = 0

    def _padded(self, x: np.ndarray) -> np.ndarray:
        if not self._pad:
            return x
        return np.ascontiguousarray(np.hstack([x, np.zeros((len(x), self._pad), np.float32)]))

    def _loaded(self) -> None:
        self._pad = self._index.d - self.dim
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = self.nprobe

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index.ntotal == 0 or len(queries) == 0:
            return super().search(queries, k)
        d, ids = self._index.search(self._padded(np.ascontiguousarray(queries, dtype=np.float32)), k)
        sims = 1.0 - d / 2.0
        sims[ids < 0] = -np.inf
        return sims.astype(np.float32), ids

    def nbytes(self) -> int:
        if isinstance(self._index, faiss.IndexIVF):
            inv = self._index.invlists
            codes = sum(inv.list_size(i) for i in range(inv.nlist)) * (self.code_bytes + 8)
            return int(codes + self._index.quantizer.ntotal * self._index.d * 4)
        return int(self._index.ntotal) * self.dim * 4
