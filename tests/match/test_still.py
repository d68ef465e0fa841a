"""A still picture in the clip is no evidence of a copy, however well it matches."""

import numpy as np

from hutong.fingerprint import Fingerprint
from hutong.match.align import Alignment
from hutong.match.service import _is_still


def _fp(vectors: np.ndarray) -> Fingerprint:
    n = len(vectors)
    return Fingerprint(
        "video.dct",
        np.arange(n, dtype=np.float32) / 2,
        vectors.astype(np.float32),
        n / 2,
        variant_ids=np.zeros(n, np.int32),
    )


def _alignment(q0: float, q1: float) -> Alignment:
    return Alignment(1, q0, q1, 0.0, q1 - q0, 1.0, 0.0, 0.95, 1.0, variant=0)


def test_unchanging_picture_is_still_and_changing_one_is_not():
    rng = np.random.default_rng(0)
    base = rng.normal(size=63)
    still = np.stack([base + 0.01 * rng.normal(size=63) for _ in range(10)])
    still /= np.linalg.norm(still, axis=1, keepdims=True)
    moving = rng.normal(size=(10, 63))
    moving /= np.linalg.norm(moving, axis=1, keepdims=True)
    assert _is_still(_fp(still), _alignment(0, 5))
    assert not _is_still(_fp(moving), _alignment(0, 5))


def test_only_the_segment_stretch_counts():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(12, 63))
    v[:6] = v[0]  # still for the first 3 s, moving after
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert _is_still(_fp(v), _alignment(0, 2.5))
    assert not _is_still(_fp(v), _alignment(2.0, 6.0))
