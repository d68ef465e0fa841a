"""The index-backend interface: nearest neighbours by inner product over unit vectors.

The database is the source of truth; an index is derived from it, saved as a checkpoint and rebuilt when
stale. Changing backend is a re-index, never a migration. Every backend must pass
``tests/index/test_backends.py`` (the contract), which the trivial numpy backend defines by example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np


class IndexBackend(ABC):
    name: ClassVar[str]
    #: how far below the true similarity a returned similarity may lie (0 for exact backends); matching
    #: lowers its hit threshold by this much so quantisation does not silently drop true hits
    similarity_slack: ClassVar[float] = 0.0
    #: whether the index can follow the catalogue (``add``/``remove`` by id) instead of being rebuilt whole;
    #: such a backend takes the ids to give its rows at ``build`` and returns those ids from ``search``
    incremental: ClassVar[bool] = False
    #: whether the backend is built with the installation's settings (a server's address), not the dimension
    #: alone: ``hutong.index.make`` and ``hutong.index.load`` pass them
    takes_settings: ClassVar[bool] = False
    #: whether ``build(vectors, ids)`` takes the ids to return (kept in the index at no extra cost); other
    #: backends return row numbers
    stores_ids: ClassVar[bool] = False
    #: whether ``build_from(batches, n=None)`` builds from (vectors, ids) batches read more than once, never
    #: holding them all (a rebuild of tens of thousands of hours), counting the rows as it first reads them
    #: (``n``, where given, is checked); such a backend also ``stores_ids``
    builds_from_batches: ClassVar[bool] = False

    def __init__(self, dim: int) -> None:
        self.dim = dim

    @abstractmethod
    def build(self, vectors: np.ndarray) -> None:
        """Index ``vectors`` (n, dim) float32; row i gets id i."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, ids), each (m, k); missing neighbours have id -1."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def nbytes(self) -> int:
        """Memory the index holds for its vectors (what scales with hours of reference)."""

    @abstractmethod
    def save(self, path: Path) -> None: ...

    # -- incremental backends only ---------------------------------------------------------------------
    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Index more rows under ``ids`` (adding a row with an id already held replaces it)."""
        raise NotImplementedError(f"index backend {self.name} is rebuilt whole")

    def remove(self, ids: np.ndarray) -> None:
        """Forget the rows with these ids (ids not held are ignored)."""
        raise NotImplementedError(f"index backend {self.name} is rebuilt whole")

    def confirm(self, rows: int) -> None:
        """Return once searches see every change made so far; ValueError when the index does not hold
        ``rows`` rows then (another writer, or a damaged index: the caller rebuilds)."""
        raise NotImplementedError(f"index backend {self.name} is rebuilt whole")

    @classmethod
    @abstractmethod
    def load(cls, path: Path, dim: int) -> IndexBackend: ...


class NumpyFlatIndex(IndexBackend):
    """Trivial exact reference implementation: brute-force matrix product."""

    name = "numpy-flat"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._v = np.zeros((0, dim), np.float32)

    def build(self, vectors: np.ndarray) -> None:
        self._v = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = len(queries)
        sims = np.full((m, k), -np.inf, np.float32)
        ids = np.full((m, k), -1, np.int64)
        if len(self._v) == 0 or m == 0:
            return sims, ids
        s = queries.astype(np.float32) @ self._v.T
        kk = min(k, s.shape[1])
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1)
        top = np.take_along_axis(top, order, 1)
        sims[:, :kk] = np.take_along_axis(s, top, 1)
        ids[:, :kk] = top
        return sims, ids

    def __len__(self) -> int:
        return len(self._v)

    def nbytes(self) -> int:
        return self._v.nbytes

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, self._v)

    @classmethod
    def load(cls, path: Path, dim: int) -> NumpyFlatIndex:
        idx = cls(dim)
        idx._v = np.load(path)
        return idx
