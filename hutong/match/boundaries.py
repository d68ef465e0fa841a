"""Segment ends to the frame: an edit puts a use of a work between two cuts, and a cut is findable to the
frame by decoding only the half second around it.

Alignment places a use's ends on the 0.5 s sample grid: its first matching sample may come up to one step
after the use begins, its end one step after the last matching sample. VCSL-style scoring (and a person
checking a claim) counts every part of a second, so the final answer moves each end onto the cut within
that step, where the clip has one: the frame whose picture differs from the one before it by far more than
any other frame in the window does. A window without a clear cut (a fade, a continuous shot) keeps its end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hutong.errors import MediaError
from hutong.match.align import Alignment
from hutong.media import picture_changes

#: mean grey-level change (0-255, 64 px wide) from one frame to the next at least at a cut between shots
CUT = 10.0
#: ... and how far it must stand out from the largest other change in its window (motion, a flash)
CUT_RATIO = 2.5
#: how far past the sample step a window reaches (frame times are not exactly on the grid)
SLACK = 0.04


def find_cut(times: np.ndarray, changes: np.ndarray) -> float | None:
    """The time of the first frame after the one clear cut among ``changes``, or None."""
    times, changes = np.asarray(times, float), np.asarray(changes, float)
    if len(changes) == 0 or len(times) != len(changes):
        return None
    i = int(np.argmax(changes))
    others = np.delete(changes, i)
    runner_up = float(others.max()) if len(others) else 0.0
    if changes[i] >= CUT and changes[i] >= CUT_RATIO * max(runner_up, 1.0):
        return float(times[i])
    return None


def refine_ends(clip: str | Path, found: list[Alignment], *, duration: float, step: float) -> int:
    """Move the ends of the picture segments in ``found`` (in place) onto the cuts within ``step`` of them;
    work times follow each segment's line. Returns how many ends moved. A clip that cannot be decoded
    there (an audio-only file, a damaged one) keeps its ends."""
    if step <= 0:
        raise ValueError(f"sample step must be positive, got {step}")
    windows: list[tuple[float, float]] = []
    where: list[tuple[int, str]] = []
    for k, a in enumerate(found):
        if not any(s.startswith("video") for s in a.signals):
            continue  # a soundtrack's use need not start at a cut of the picture
        if a.query_start > SLACK:  # the use began after the first matching sample's predecessor
            windows.append((max(0.0, a.query_start - step - SLACK), a.query_start + SLACK))
            where.append((k, "start"))
        if a.query_end < duration - SLACK:  # ... and ended before the sample after its last
            windows.append((max(0.0, a.query_end - step + SLACK), min(duration, a.query_end + SLACK)))
            where.append((k, "end"))
    if not windows:
        return 0
    try:
        changes = picture_changes(clip, windows)
    except MediaError:
        return 0
    moved = 0
    for (k, end), (times, diffs) in zip(where, changes, strict=True):
        cut = find_cut(times, diffs)
        a = found[k]
        if cut is None:
            continue
        if end == "start" and cut < a.query_end:
            a.query_start = cut
            a.ref_start = max(0.0, a.speed * cut + a.offset)
            moved += 1
        elif end == "end" and cut > a.query_start:
            a.query_end = cut
            a.ref_end = max(a.ref_start, a.speed * cut + a.offset)
            moved += 1
    return moved
