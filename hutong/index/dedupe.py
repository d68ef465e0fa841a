"""Drop near-identical consecutive reference vectors before they are indexed.

Static shots, screencasts and held frames give runs of vectors that are all but equal: indexing every one
of them costs memory and finds nothing more. A vector is kept when it differs from the last kept vector of
the same work (cosine below ``alike``), or when ``max_gap`` seconds have passed since that one, so that the
alignment still sees the run advance (a query frame in a static run matches a kept instant at most
``max_gap`` seconds before its own). Vectors of norm zero (black frames) match nothing and are dropped.

``alike = -1`` makes every vector alike: the index keeps one vector every ``max_gap`` seconds, whatever
they show. That suits a descriptor whose neighbours are unrelated (``audio.bands``: a window of sound
moved by a quarter of a second is another vector, cosine 0.06 at the median) when the query side is
sampled densely enough to meet every kept vector.
"""

from __future__ import annotations

import numpy as np

#: how many predecessors a vector is compared with; a run longer than this keeps a vector at least every
#: ``LOOKBACK`` samples (with 2 samples a second and ``max_gap`` of 1-2 s the gap bounds it first)
LOOKBACK = 8


def keep_distinct(
    vectors: np.ndarray, times: np.ndarray, new_work: np.ndarray, *, alike: float, max_gap: float
) -> np.ndarray:
    """Boolean mask of the vectors to index. ``new_work[i]`` is true where row i starts another work (rows
    of one work are consecutive and in time order)."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, bool)
    if not -1.0 <= alike <= 1.0 or max_gap < 0:
        raise ValueError(f"alike must be in [-1, 1] and max_gap >= 0, got {alike}, {max_gap}")
    live = np.linalg.norm(vectors, axis=1) > 0
    # similar[i, j]: row i is alike to row i-1-j (computed for all rows at once; the loop below only reads it)
    similar = np.zeros((n, LOOKBACK), bool)
    for j in range(LOOKBACK):
        lag = j + 1
        if lag >= n:
            break
        cos = np.einsum("ij,ij->i", vectors[lag:], vectors[:-lag])
        similar[lag:, j] = cos >= alike
    work = np.cumsum(np.asarray(new_work, bool))
    keep = np.zeros(n, bool)
    sim, t, w, lv = similar.tolist(), times.tolist(), work.tolist(), live.tolist()
    last = -1  # row of the last kept vector of the current work, -1 when none yet
    for i in range(n):
        if not lv[i]:
            continue
        if last < 0 or w[last] != w[i]:
            keep[i], last = True, i
            continue
        lag = i - last
        if lag > LOOKBACK or t[i] - t[last] >= max_gap or not sim[i][lag - 1]:
            keep[i], last = True, i
    return keep
