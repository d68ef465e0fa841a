"""The signal-type interface: how a kind of fingerprint is extracted and compared.

In the spirit of python-threatexchange's ``SignalType``: each signal has a stable ``name`` (it becomes a
storage key), extracts a :class:`Fingerprint` for a reference (compact, stored) and for a query (may carry
several *variants* per instant: regions, crops, mirror), and says what similarity counts as a hit.
Every signal's vectors are unit-normalised float32, so one index interface (inner product) serves all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from hutong.media.reader import MediaInfo


@dataclass(frozen=True)
class Variant:
    """How a query vector was taken from the clip; becomes the ``transform`` of a matched segment."""

    region: dict | None = None
    crop: dict | None = None
    mirror: bool = False

    def as_dict(self) -> dict:
        out: dict = {"mirror": self.mirror}
        if self.region is not None:
            out["layout"] = self.region.get("kind", "full")
            out["region"] = {k: self.region[k] for k in ("x", "y", "w", "h")}
        if self.crop is not None:
            out["crop"] = self.crop
        return out


def mirror_twins(variants: list[Variant]) -> np.ndarray:
    """For each variant, the one that looks at the same region mirrored the other way (-1 where none)."""
    twin = np.full(len(variants), -1, np.int64)
    seen: dict[tuple, int] = {}
    for i, v in enumerate(variants):
        place = (tuple(sorted((v.region or {}).items())), tuple(sorted((v.crop or {}).items())))
        j = seen.get((place, not v.mirror))
        if j is not None:
            twin[i], twin[j] = j, i
        seen[(place, v.mirror)] = i
    return twin


@dataclass
class Fingerprint:
    signal: str
    times: np.ndarray  # (n,) float32 seconds
    vectors: np.ndarray  # (n, dim) float32, unit norm
    duration: float
    variant_ids: np.ndarray | None = None  # (n,) int32 index into ``variants`` (queries only)
    variants: list[Variant] = field(default_factory=list)
    #: work a signal left for :meth:`SignalType.refine` (queries only, never stored); None when complete
    pending: object | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, signal: str, dim: int, duration: float) -> Fingerprint:
        return cls(signal, np.zeros(0, np.float32), np.zeros((0, dim), np.float32), duration)

    def __len__(self) -> int:
        return len(self.times)

    # Compact storage: int8 vectors (unit vectors lose < 1 % similarity at this precision), float32 times.
    def pack(self) -> tuple[bytes, bytes]:
        q = np.clip(np.round(self.vectors * 127.0), -127, 127).astype(np.int8)
        return self.times.astype(np.float32).tobytes(), q.tobytes()

    @classmethod
    def unpack(cls, signal: str, dim: int, times: bytes, vectors: bytes, duration: float) -> Fingerprint:
        t = np.frombuffer(times, dtype=np.float32).copy()
        v = np.frombuffer(vectors, dtype=np.int8).reshape(len(t), dim).astype(np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v /= np.where(norms > 0, norms, 1.0)
        return cls(signal, t, v, duration)


class SignalType(ABC):
    name: ClassVar[str]
    media: ClassVar[str]  # "video" or "audio": which stream the signal needs
    dim: ClassVar[int]
    threshold: ClassVar[float]  # cosine similarity from which a vector pair counts as a hit
    #: seconds between reference samples, used to size alignment tolerances
    fps: float
    #: whether a hit must beat the same work's other moments too (not only other works) to count as evidence:
    #: a coarse descriptor sees a still shot, a screencast or a fixed camera match many moments alike, and
    #: such a hit proves nothing. A descriptor that is specific to the picture (learned) sets this False: its
    #: hits on a static work still name the work, and the alignment picks the time from the best hits.
    time_specific: ClassVar[bool] = True
    #: a signal whose lone claims need another signal to agree when that one also looked (its name), else None
    confirmed_by: ClassVar[str | None] = None
    #: an approximate index is searched with every n-th query vector: its hits only name candidate works,
    #: which every query vector is then compared with exactly (a signal sampled more densely than its
    #: references lose nothing by it)
    candidate_stride: ClassVar[int] = 1

    @abstractmethod
    def reference(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        """Fingerprint of a registered work (stored). ``frames``: already sampled ``(t, grey)`` frames at
        ``fps``, shared between video signals so a file is decoded once."""

    @abstractmethod
    def query(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        """Fingerprint of a clip to recognise, possibly with several variants per instant."""

    def refine(self, fp: Fingerprint, wanted: Mapping[int, np.ndarray]) -> Fingerprint:
        """A query fingerprint completed where a first search found something.

        A costly signal may answer :meth:`query` with a coarse fingerprint (``fp.pending`` set): some
        variants sampled sparsely. The recognizer searches it, then calls this with the variants that got
        hits, each with the clip times of its hits (a signal may complete a variant only around them); the
        result holds ``fp``'s rows first, then the added ones, and ``pending`` None once nothing is left to
        ask for (set again, the recognizer searches the added rows and asks once more: each round must leave
        less pending than the last). Signals that extract everything at once keep this default."""
        return fp

    def complete(self, fp: Fingerprint) -> Fingerprint:
        """``fp`` with everything a cascade left pending embedded: every variant at every sample, the most
        a recognition can search (benchmarks size searches with it)."""
        while fp.pending is not None:
            fp = self.refine(fp, {v: fp.times for v in range(len(fp.variants))})
        return fp

    def applies_to(self, info: MediaInfo) -> bool:
        return info.has_video if self.media == "video" else info.has_audio
