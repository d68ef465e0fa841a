"""Turn frame hits into segments: find straight lines on the query x reference time plane.

A derivative clip reuses a stretch of a work at some speed: reference time = speed x query time + offset.
Hits that agree on one (speed, offset) pair vote together (a Hough transform over a grid of speeds);
runs of agreeing hits become segments. Random look-alike frames do not line up, which is what keeps
unrelated clips at zero segments.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

FAR = 2.5  # seconds off the line beyond which a reference frame is "elsewhere in the work"
SPECIFIC_MARGIN = 0.015  # how much better than elsewhere the on-line frame must be to count as specific
SPEEDS = np.round(np.arange(0.76, 1.5601, 0.02), 3)  # creators use 0.8-1.5x
#: a query instant "pins" a time in the work when the reference frames that match it about as well as its
#: best match (within ``PIN_NEAR``) lie within ``PIN_SPREAD`` seconds: a still picture (title card, static
#: shot) matches a whole stretch equally well and says nothing about speed
PIN_NEAR = 0.02
PIN_SPREAD = 1.0
#: instants (and seconds of clip they must span) needed to pin a slope rather than only an offset
SLOPE_SAMPLES = 6
SLOPE_SPAN = 3.0
#: two segments of one work are one use when they overlap (or touch) in the clip and their lines agree
#: within ``SAME_LINE`` seconds of work time everywhere on their joint stretch
SAME_LINE = 2.0
TOUCH = 0.5
#: the vote weight of a hit that is not its query instant's best
BEHIND = 0.85
#: a short use (montages cut 2 s of a work between other footage): ``SHORT_SAMPLES`` instants may make a
#: segment when every one of them is specific to this moment of the work by at least ``SHORT_MARGIN``;
#: the recognizer then asks a second signal to agree (see ``hutong.match.service.SHORT_USE``)
SHORT_SAMPLES = 4
SHORT_MARGIN = 0.05


@dataclass
class Hits:
    """Parallel arrays, one entry per (query vector, reference vector) pair above threshold."""

    work: np.ndarray
    tq: np.ndarray
    tr: np.ndarray
    sim: np.ndarray
    variant: np.ndarray
    #: how much better than the best *competing* neighbour (another work, or elsewhere in this one) the
    #: hit is: frames that look like many places (black, title cards, still rooms) have no margin
    margin: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.margin is None:
            self.margin = np.ones(len(self.sim), np.float32)


@dataclass
class Alignment:
    work_id: int
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    speed: float
    offset: float
    similarity: float
    coverage: float
    variant: int
    signals: list[str] = field(default_factory=list)
    transform: dict = field(default_factory=dict)
    #: for a joined segment, the evidence of the piece its transform came from (see ``_strength``)
    transform_evidence: float | None = None

    @property
    def score(self) -> float:
        return round(float(self.similarity * min(1.0, self.coverage / 0.8)), 3)


def align(
    hits: Hits,
    *,
    query_step: float,
    ref_durations: dict[int, float],
    query_duration: float,
    threshold: float,
    signal: str,
    tolerance: float | None = None,
    max_gap: float = 3.0,
    min_samples: int = 5,
    min_span: float = 2.5,
    min_specific: float = 0.4,
    extent: float | None = None,
) -> list[Alignment]:
    """Segments of one signal's hits, per work: lines found by voting, split into runs of agreeing instants.

    ``query_step`` is the grid on which query instants are counted; ``tolerance`` (default 1.5 steps) is how
    far off a line a hit may lie; ``extent`` (default one step) how much media past its start one query vector
    describes (a segment ends that far after its last matching instant: 1 s for a window of sound).
    """
    tol = tolerance if tolerance is not None else 1.5 * query_step
    found: list[Alignment] = []
    for work in np.unique(hits.work):
        m = hits.work == work
        tq, tr, sim, var, margin = hits.tq[m], hits.tr[m], hits.sim[m], hits.variant[m], hits.margin[m]
        weight = np.maximum(sim - threshold + 0.02, 0.01) * np.where(margin >= SPECIFIC_MARGIN, 1.0, 0.1)
        # Query instants are counted on a grid of ``query_step``: a signal may sample the query more densely
        # than its references (audio does, to land close to every reference window).
        inst = np.floor(tq / query_step + 1e-6).astype(np.int64)
        pins = _pins_time(inst, tr, sim)
        # an instant's best hit votes in full, its others at half: on static footage (a fixed camera, a
        # screencast) every moment of the work matches almost equally, and only the best hits trace the
        # line at the speed the creator chose; a tie would otherwise go to 1x
        weight = weight * np.where(_best_of_instant(inst, sim), 1.0, BEHIND)
        alive = np.ones(len(tq), bool)
        fruitless = 0  # lines in a row that made no segment: past a few, what is left is noise
        for _ in range(64):
            if fruitless >= 6:
                break
            if alive.sum() < min(SHORT_SAMPLES, min_samples):
                break
            best = _vote(tq[alive], tr[alive], weight[alive], inst[alive], bin_width=2 * tol)
            if best is None or best[2] < min_samples * min_specific * 0.02:
                break  # no line left that could hold enough specific evidence for a segment
            speed, offset, _ = best
            # The vote's grid is coarse: pull the line through its own inliers (best hit per instant), twice.
            for _ in range(2):
                inl = alive & (np.abs(tr - (speed * tq + offset)) <= tol)
                speed, offset = _fit_line(inl, pins, inst, sim, tq, tr, speed, offset)
            inl = alive & (np.abs(tr - (speed * tq + offset)) <= tol)
            runs = _runs(np.unique(tq[inl]), max_gap)
            fruitless += 1
            for q0, q1 in runs:
                sel = inl & (tq >= q0) & (tq <= q1)
                times = np.unique(inst[sel])
                # one hit per query instant, the most similar: static shots match many reference frames
                first = _first_per_instant(sel, inst, sim)
                if len(times) < min_samples or q1 - q0 < min_span - query_step:
                    short = (
                        len(times) >= min(SHORT_SAMPLES, min_samples)
                        and q1 - q0 >= (min(SHORT_SAMPLES, min_samples) - 1) * query_step - 1e-6
                    )
                    if not (short and np.all(margin[first] >= SHORT_MARGIN)):
                        continue
                s, b = _fit_line(sel, pins, inst, sim, tq, tr, speed, offset)
                best_sim = sim[first]
                if np.mean(margin[first] >= SPECIFIC_MARGIN) < min_specific:
                    continue  # a still picture matching a still stretch: any line would fit, so none is evidence
                expected = (q1 - q0) / query_step + 1
                end = min(query_duration, q1 + (extent if extent is not None else query_step))
                fruitless = 0
                found.append(
                    Alignment(
                        work_id=int(work),
                        query_start=float(q0),
                        query_end=float(end),
                        ref_start=float(np.clip(s * q0 + b, 0, ref_durations.get(int(work), np.inf))),
                        ref_end=float(np.clip(s * end + b, 0, ref_durations.get(int(work), np.inf))),
                        speed=float(s),
                        offset=float(b),
                        similarity=float(np.mean(best_sim)),
                        coverage=float(min(1.0, len(times) / expected)),
                        variant=_variant(sel, pins, inst, sim, tq, var),
                        signals=[signal],
                    )
                )
                # a segment explains its instants that pin no time (a still picture) wholesale: their hits
                # elsewhere in the same still stretch would only make the same claim again on another line
                alive &= ~(np.isin(inst, times) & ~pins)
            if not inl.any():
                break
            alive &= ~inl  # whatever this line explained (or failed to) is not voted on again
    return found


def _vote(
    tq: np.ndarray, tr: np.ndarray, w: np.ndarray, inst: np.ndarray, bin_width: float
) -> tuple[float, float, float] | None:
    """Best (speed, offset, score): every speed at once, one vote per query instant per offset bin (its
    strongest hit: many variants of one frame are one piece of evidence)."""
    if len(tq) == 0:
        return None
    _, inst_idx = np.unique(inst, return_inverse=True)
    n_inst = int(inst_idx.max()) + 1
    offsets = tr[None, :] - SPEEDS[:, None] * tq[None, :]  # (speeds, hits)
    lo = offsets.min(axis=1, keepdims=True)
    prior = 1.0 - 0.05 * np.abs(SPEEDS - 1.0)  # most clips keep the original speed; ties go to 1x
    weights = np.broadcast_to(w, offsets.shape).ravel()
    best = None
    for shift in (0.0, 0.5):
        bins = np.floor((offsets - lo) / bin_width + shift).astype(np.int64)
        n_bins = int(bins.max()) + 1
        key = ((np.arange(len(SPEEDS))[:, None] * n_bins + bins) * n_inst + inst_idx[None, :]).ravel()
        order = np.argsort(key, kind="stable")
        k, wk = key[order], weights[order]
        starts = np.r_[0, np.nonzero(np.diff(k))[0] + 1]
        hist = np.bincount(
            k[starts] // n_inst, weights=np.maximum.reduceat(wk, starts), minlength=len(SPEEDS) * n_bins
        )
        hist = hist.reshape(len(SPEEDS), n_bins) * prior[:, None]
        si, bi = np.unravel_index(int(hist.argmax()), hist.shape)
        if best is None or hist[si, bi] > best[2]:
            in_bin = bins[si] == bi
            best = (float(SPEEDS[si]), float(np.median(offsets[si, in_bin])), float(hist[si, bi]))
    return best


def _best_of_instant(inst: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Per hit: whether it is the most similar hit of its query instant."""
    if len(inst) == 0:
        return np.zeros(0, bool)
    _, idx = np.unique(inst, return_inverse=True)
    best = np.full(int(idx.max()) + 1, -np.inf)
    np.maximum.at(best, idx, sim)
    return sim >= best[idx]


def _first_per_instant(sel: np.ndarray, inst: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Indices of the most similar hit of each query instant among ``sel``."""
    idx = np.nonzero(sel)[0]
    if len(idx) == 0:
        return idx
    order = idx[np.lexsort((-sim[idx], inst[idx]))]
    return order[np.r_[True, np.diff(inst[order]) > 0]]


def _pins_time(inst: np.ndarray, tr: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Per hit: whether its query instant pins one time in the work (see ``PIN_NEAR``)."""
    if len(inst) == 0:
        return np.zeros(0, bool)
    _, idx = np.unique(inst, return_inverse=True)
    n = int(idx.max()) + 1
    best = np.full(n, -np.inf)
    np.maximum.at(best, idx, sim)
    near = sim >= best[idx] - PIN_NEAR
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(lo, idx[near], tr[near])
    np.maximum.at(hi, idx[near], tr[near])
    return (hi - lo <= PIN_SPREAD)[idx]


def _pinning(sel: np.ndarray, pins: np.ndarray, inst: np.ndarray, tq: np.ndarray) -> np.ndarray:
    """``sel`` restricted to instants that pin a time when they are enough to pin a slope; else all of
    ``sel`` (static footage, where few instants pin anything: there the many instants of the shot, each
    a little off, still average out to the line)."""
    p = sel & pins
    return p if len(np.unique(inst[p])) >= SLOPE_SAMPLES and np.ptp(tq[p]) >= SLOPE_SPAN else sel


def _fit_line(sel, pins, inst, sim, tq, tr, speed: float, offset: float) -> tuple[float, float]:
    """The line through the best hit of each instant of ``sel``, taken from instants that pin a time
    where there are enough of them: a still stretch would tilt the line anywhere within it."""
    first = _first_per_instant(_pinning(sel, pins, inst, tq), inst, sim)
    return _refit(tq[first], tr[first], speed, offset)


def _variant(sel, pins, inst, sim, tq, var) -> int:
    """The variant (region, crop, mirror) that best matched most instants: counting every hit instead
    would let a near miss that matches many neighbours (a crop hypothesis on a slow shot) outvote the
    exact one. Ties go to the variant with the higher total similarity."""
    first = _first_per_instant(_pinning(sel, pins, inst, tq), inst, sim)
    votes = Counter(var[first].tolist())
    total: dict[int, float] = {}
    for v, x in zip(var[first].tolist(), sim[first].tolist(), strict=True):
        total[v] = total.get(v, 0.0) + x
    return max(votes, key=lambda v: (votes[v], total[v], -v))


def _runs(times: np.ndarray, max_gap: float) -> list[tuple[float, float]]:
    if len(times) == 0:
        return []
    cuts = np.nonzero(np.diff(times) > max_gap)[0]
    starts = np.r_[0, cuts + 1]
    ends = np.r_[cuts, len(times) - 1]
    return [(float(times[a]), float(times[b])) for a, b in zip(starts, ends, strict=True)]


def _refit(tq: np.ndarray, tr: np.ndarray, speed: float, offset: float) -> tuple[float, float]:
    """Least-squares line through the hits when they span enough time to pin the slope (and the slope is
    one creators use); otherwise keep the speed and re-centre the offset."""
    if len(tq) == 0:
        return speed, offset
    b0 = float(np.median(tr - speed * tq))
    if np.ptp(tq) < SLOPE_SPAN or len(tq) < SLOPE_SAMPLES:
        return speed, b0
    s, b = np.polyfit(tq, tr, 1)
    if not SPEEDS[0] - 0.05 <= s <= SPEEDS[-1] + 0.05:
        return speed, b0
    return float(s), float(b)


def merge(alignments: list[Alignment]) -> list[Alignment]:
    """One segment per use of a work: join what signals (or separate runs of one signal) found on one line
    of one work where they overlap in the clip, and drop a weaker claim that contradicts a stronger one on
    the same stretch of the clip. Claims are taken in order of evidence (see ``evidence``), so a short claim
    that scores high (a recurring picture lining up at the wrong moment) does not displace a long one that
    several signals agree on. Joining repeats until nothing joins: a joined segment grows and may then meet
    another piece of the same use."""
    pending = [(a, False) for a in sorted(alignments, key=lambda a: (-evidence(a), -a.score, a.query_start))]
    kept: list[Alignment] = []
    while pending:
        a, joined = pending.pop(0)
        for i, k in enumerate(kept):
            if _same_use(a, k):
                kept.pop(i)
                pending.insert(0, (_join(k, a), True))
                break
            overlap = min(a.query_end, k.query_end) - max(a.query_start, k.query_start)
            shorter = min(a.query_end - a.query_start, k.query_end - k.query_start)
            if not joined and overlap > 0.5 * shorter:
                break  # a weaker, contradicting claim on the same stretch of the clip
        else:
            kept.append(a)
    return sorted(kept, key=lambda a: a.query_start)


def evidence(a: Alignment) -> float:
    """How much a claim rests on: its score times the seconds of clip it explains times the signals that
    found it. One score alone would let 2 s of a recurring logo outrank 7 s that sound and picture agree on."""
    return a.score * (a.query_end - a.query_start) * len(a.signals)


def _same_use(a: Alignment, b: Alignment) -> bool:
    """Same work, overlapping or touching in the clip, and one line explains both: the lines' work times
    differ by at most ``SAME_LINE`` s over the joint stretch (the difference of two lines is largest at its
    ends)."""
    if a.work_id != b.work_id:
        return False
    if max(a.query_start, b.query_start) - min(a.query_end, b.query_end) > TOUCH:
        return False
    ends = (min(a.query_start, b.query_start), max(a.query_end, b.query_end))
    return all(abs((a.speed - b.speed) * t + a.offset - b.offset) <= SAME_LINE for t in ends)


def _join(k: Alignment, a: Alignment) -> Alignment:
    """One segment for two pieces of one use: the union of their clip stretches on one line (the sharper
    signal's, else the stronger piece's), the stronger piece's transform, and both pieces' signals."""
    strong = max((k, a), key=_strength)
    # audio (4 Hz, no static shots) pins time best; between equals, the better-scoring piece
    line = max((k, a), key=lambda x: (_temporal_rank(x), x.score))
    q0, q1 = min(k.query_start, a.query_start), max(k.query_end, a.query_end)
    ref_start = max(0.0, line.speed * q0 + line.offset)
    # clip time covered by either piece (inclusion-exclusion over their overlap)
    len_k, len_a = k.query_end - k.query_start, a.query_end - a.query_start
    both = max(0.0, min(k.query_end, a.query_end) - max(k.query_start, a.query_start))
    covered = k.coverage * len_k + a.coverage * len_a - both * min(k.coverage, a.coverage)
    return Alignment(
        work_id=k.work_id,
        query_start=q0,
        query_end=q1,
        ref_start=ref_start,
        ref_end=max(ref_start, line.speed * q1 + line.offset),
        speed=line.speed,
        offset=line.offset,
        similarity=max((k, a), key=lambda x: x.score).similarity,
        coverage=float(np.clip(covered / (q1 - q0), 0.0, 1.0)) if q1 > q0 else 1.0,
        variant=strong.variant,
        signals=sorted(set(k.signals) | set(a.signals)),
        transform=dict(strong.transform),
        transform_evidence=_strength(strong)[1],
    )


def _strength(a: Alignment) -> tuple[bool, float]:
    """Which piece says how the picture was transformed: one that has a transform (audio has none), then
    the one with more evidence (score over the clip time it covers; for a joined segment, that of the piece
    its transform came from, so the order in which pieces join does not decide)."""
    if a.transform_evidence is not None:
        return bool(a.transform), a.transform_evidence
    return bool(a.transform), a.score * (a.query_end - a.query_start)


def _temporal_rank(a: Alignment) -> int:
    return 1 if any(sig.startswith("audio") for sig in a.signals) else 0
