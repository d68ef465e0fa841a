"""Find where the source video sits inside a derivative frame.

二创 rarely shows the source full-frame: vertical re-framing puts it in a band over a blurred or plain
background with title bars; picture-in-picture puts it in a window over other video. Whole-frame hashes fail
there. We look for the boundaries of an embedded video: lines across which the *temporal changes* of
neighbouring pixels stop being correlated (inside one video, neighbours change together; across the edge of
a window, or next to a static bar, they do not). Rectangles bounded by such lines are candidate regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hutong.fingerprint.resample import area_resample


@dataclass(frozen=True)
class Region:
    """A rectangle in relative frame coordinates (0..1), with what kind of layout produced it."""

    x: float
    y: float
    w: float
    h: float
    kind: str = "full"  # full | band | window
    score: float = 1.0

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0 = round(self.x * width), round(self.y * height)
        x1, y1 = round((self.x + self.w) * width), round((self.y + self.h) * height)
        return x0, y0, max(x1, x0 + 2), max(y1, y0 + 2)

    def as_dict(self) -> dict:
        return {
            "x": round(self.x, 3),
            "y": round(self.y, 3),
            "w": round(self.w, 3),
            "h": round(self.h, 3),
            "kind": self.kind,
        }


def _neighbour_decorrelation(d: np.ndarray, axis: int) -> np.ndarray:
    """1 - temporal correlation of each pixel with its neighbour along ``axis`` (2: x, 1: y).

    Pixels that never change on both sides read 0 (no evidence of a boundary).
    """
    # views, not copies, and sums over time without temporaries: this runs per shot on every clip
    a = d[:, :, :-1] if axis == 2 else d[:, :-1, :]
    b = d[:, :, 1:] if axis == 2 else d[:, 1:, :]
    num = np.einsum("tyx,tyx->yx", a, b)
    square = np.einsum("tyx,tyx->yx", d, d)
    ea = square[:, :-1] if axis == 2 else square[:-1, :]
    eb = square[:, 1:] if axis == 2 else square[1:, :]
    energy = np.maximum(ea, eb)
    floor = 1e-3 * float(energy.mean() + 1e-9)
    corr = num / np.sqrt(np.maximum(ea, floor) * np.maximum(eb, floor))
    out = 1.0 - np.clip(corr, -1.0, 1.0)
    out[energy <= floor] = 0.0
    return np.clip(out, 0.0, 1.0)


def _static_border(frames: np.ndarray) -> Region:
    """The box inside constant bars (letterbox/pillarbox), from per-pixel spatial and temporal variation."""
    n, h, w = frames.shape
    act = frames.std(0) + np.abs(np.diff(frames.mean(0), axis=1, prepend=0))
    rows = np.nonzero(act.mean(1) > 2.0)[0]
    cols = np.nonzero(act.mean(0) > 2.0)[0]
    if len(rows) < h * 0.2 or len(cols) < w * 0.2:
        return Region(0.0, 0.0, 1.0, 1.0)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Region(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)


def detect_regions(frames: np.ndarray, *, max_regions: int = 6, min_side: float = 0.25) -> list[Region]:
    """Candidate regions holding an embedded video, best first; the whole frame always comes first.

    ``frames``: (n, h, w) grey frames sampled over a stretch of the clip (a few seconds or more).
    """
    frames = frames.astype(np.float32)
    n, h, w = frames.shape
    regions = [_static_border(frames) if n >= 2 else Region(0.0, 0.0, 1.0, 1.0)]
    if n < 4 or max_regions == 0:
        return regions
    d = np.diff(frames, axis=0)
    d -= d.mean(axis=(1, 2), keepdims=True)  # global flicker/fades say nothing about boundaries
    # A boundary is either a persistent strong edge (a window frame, the edge of a bar) or a line across
    # which changes decorrelate (two independent videos meeting).
    gx = np.count_nonzero(np.abs(np.diff(frames, axis=2)) > 10, axis=0) > 0.8 * n
    gy = np.count_nonzero(np.abs(np.diff(frames, axis=1)) > 10, axis=0) > 0.8 * n
    bx = gx | (_neighbour_decorrelation(d, axis=2) > 0.6)  # (h, w-1): boundary between x and x+1
    by = gy | (_neighbour_decorrelation(d, axis=1) > 0.6)  # (h-1, w)
    # Cumulative sums give the boundary support of any segment in O(1).
    cx = np.vstack([np.zeros((1, w - 1)), np.cumsum(bx, axis=0)])  # along y, per column boundary
    cy = np.hstack([np.zeros((h - 1, 1)), np.cumsum(by, axis=1)])  # along x, per row boundary

    def col_support(xb: int, y0: int, y1: int) -> float:
        if xb <= 0 or xb >= w:
            return 1.0
        seg = cx[y1, xb - 1] - cx[y0, xb - 1]
        near = max(seg, cx[y1, min(xb, w - 2)] - cx[y0, min(xb, w - 2)])
        return near / max(1, y1 - y0)

    def row_support(yb: int, x0: int, x1: int) -> float:
        if yb <= 0 or yb >= h:
            return 1.0
        seg = cy[yb - 1, x1] - cy[yb - 1, x0]
        near = max(seg, cy[min(yb, h - 2), x1] - cy[min(yb, h - 2), x0])
        return near / max(1, x1 - x0)

    def peaks(profile: np.ndarray, k: int) -> list[int]:
        order = np.argsort(profile)[::-1]
        picked: list[int] = []
        for i in order:
            if profile[i] < 0.15 or len(picked) >= k:
                break
            if all(abs(int(i) - p) > 2 for p in picked):
                picked.append(int(i))
        return picked

    xs = sorted({0, w, *[p + 1 for p in peaks(bx.mean(0), 8)]})
    ys = sorted({0, h, *[p + 1 for p in peaks(by.mean(1), 8)]})
    found: list[Region] = []
    for i, x0 in enumerate(xs):
        for x1 in xs[i + 1 :]:
            if x1 - x0 < min_side * w:
                continue
            for j, y0 in enumerate(ys):
                for y1 in ys[j + 1 :]:
                    if y1 - y0 < min_side * h or (x0 == 0 and x1 == w and y0 == 0 and y1 == h):
                        continue
                    sides = [
                        col_support(x0, y0, y1),
                        col_support(x1, y0, y1),
                        row_support(y0, x0, x1),
                        row_support(y1, x0, x1),
                    ]
                    inner = [
                        s
                        for s, at_edge in zip(sides, (x0 == 0, x1 == w, y0 == 0, y1 == h), strict=True)
                        if not at_edge
                    ]
                    score = float(min(inner))
                    if score < 0.3:
                        continue
                    kind = "band" if (x0 == 0 and x1 == w) or (y0 == 0 and y1 == h) else "window"
                    found.append(
                        (len(inner), Region(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h, kind, score))
                    )
    # Strong support first; among equals, rectangles bounded on more sides are the more specific evidence.
    found.sort(key=lambda nr: (-round(nr[1].score, 1), -nr[0], -nr[1].w * nr[1].h))
    if h > 1.2 * w:
        # Portrait canvas: 二创 re-framing nearly always centres the landscape source; try the usual
        # aspect ratios even when the band's edges are too soft to detect (blurred backgrounds).
        for aspect in (16 / 9, 2.39, 1.85, 4 / 3):
            bh = w / aspect / h
            found.insert(0, (2, Region(0.0, 0.5 - bh / 2, 1.0, bh, "band", 0.5)))
    for _, r in found:
        if len(regions) > max_regions:
            break
        if all(_iou(r, q) < 0.8 for q in regions):
            regions.append(r)
    return regions


def _iou(a: Region, b: Region) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)


# --- Layout per shot -------------------------------------------------------------------------------------
# A montage changes layout at its cuts (a full-frame use, then a picture-in-picture one, then a band), so the
# layout is detected per shot, between cuts, rather than per fixed window; and once per clip, shared by every
# video signal (:func:`clip_layout`).

THUMB = (9, 16)  # rows, columns of the grey thumbnail a cut is judged on
#: mean absolute grey-level change (0-255) between consecutive 16x9 thumbnails from which two samples lie in
#: different shots. Measured on the benchmark's montages at 2 samples/s: the samples on either side of each
#: of their 48 joins differ by 29-174; next to a join (the pair before or after it) by 0-16; within the
#: footage half of all pairs differ by < 5 (the rest are mostly the footage's own cuts, which count as cuts).
CUT = 22.0
MIN_SHOT = 4  # samples: a shorter shot joins a neighbour (too few changes to see a layout in)
MAX_SHOT = 48
CONTEXT = 16  # samples: the stretch a short shot's layout is also looked for in


@dataclass(frozen=True)
class Shot:
    """Samples ``start:stop`` of a clip and the regions where a source may sit in them (whole frame first)."""

    start: int
    stop: int
    regions: tuple[Region, ...]


def _thumbs(frames: np.ndarray) -> np.ndarray:
    # area resampling as two matrix products: a tenth of the cost of block sums through cumulative sums
    return area_resample(frames.astype(np.float32), *THUMB)


def cut_strength(frames: np.ndarray) -> np.ndarray:
    """(n-1,) mean absolute change between the grey thumbnails of consecutive samples ``frames`` (n, h, w)."""
    if len(frames) < 2:
        return np.zeros(0, np.float32)
    t = _thumbs(frames)
    return np.abs(np.diff(t, axis=0)).mean(axis=(1, 2))


def shots(frames: np.ndarray, *, cut: float = CUT, min_len: int = MIN_SHOT, max_len: int = MAX_SHOT) -> list:
    """``(start, stop)`` sample ranges between cuts; short shots merged into the neighbour they resemble."""
    n = len(frames)
    if n == 0:
        return []
    strength = cut_strength(frames)
    bounds = [0, *[i + 1 for i in np.nonzero(strength >= cut)[0]], n]
    spans = [[a, b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    # merge the shortest shot into its neighbour across the weaker of its two cuts, until none is too short
    while len(spans) > 1:
        k = min(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
        if spans[k][1] - spans[k][0] >= min_len:
            break
        left = strength[spans[k][0] - 1] if k > 0 else np.inf
        right = strength[spans[k][1] - 1] if k < len(spans) - 1 else np.inf
        j = k - 1 if left <= right else k + 1
        a, b = min(j, k), max(j, k)
        spans[a : b + 1] = [[spans[a][0], spans[b][1]]]
    out = []
    for a, b in spans:
        pieces = max(1, round((b - a) / max_len))
        edges = np.linspace(a, b, pieces + 1).round().astype(int)
        out.extend((int(x), int(y)) for x, y in zip(edges[:-1], edges[1:], strict=True))
    return out


def clip_layout(frames: np.ndarray, *, max_regions: int = 6) -> list[Shot]:
    """The clip's shots and each shot's candidate regions (``frames``: (n, h, w) grey samples in time order).

    Each signal takes the first regions it can afford (the whole frame always comes first).
    """
    out = []
    for a, b in shots(frames):
        regions = detect_regions(frames[a:b], max_regions=max_regions)
        if b - a < CONTEXT:
            # a short shot has few changes to see a window's edges in: add what a longer stretch around it
            # shows (a picture-in-picture window often outlives the cuts of the video inside it)
            c = max(0, (a + b - CONTEXT) // 2)
            for r in detect_regions(frames[c : c + CONTEXT], max_regions=max_regions)[1:]:
                if len(regions) <= max_regions and all(_iou(r, q) < 0.8 for q in regions):
                    regions.append(r)
        out.append(Shot(a, b, tuple(regions)))
    return out
