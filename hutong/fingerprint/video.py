"""``video.dct`` signal: a compact low-frequency descriptor of each sampled frame, with query-side variants.

Reference side (cheap, compact): every ``1/fps`` s, the frame inside its letterbox is reduced to a 32x32
thumbnail of its *central* part, the thumbnail is standardised (zero mean, unit spread: brightness and contrast
changes cancel), and the 8x8 lowest 2-D DCT coefficients without
the DC term are kept: 63 numbers, unit-normalised. Low frequencies ignore re-encoding, noise, blur, frame-rate
changes and small overlays.

Query side (where the work is allowed to be): the clip's layout is analysed (:mod:`.layout`) to find where the
source sits (full frame, vertical band, picture-in-picture window); for each such region we also try crop
hypotheses (the region shows only part of the source) and the mirror image. A horizontal flip only changes
the sign of odd horizontal DCT frequencies, so mirroring costs one multiplication.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np

from hutong.fingerprint.base import Fingerprint, SignalType, Variant
from hutong.fingerprint.layout import Region, Shot, clip_layout, detect_regions
from hutong.fingerprint.resample import area_matrix, area_resample
from hutong.media.reader import MediaInfo, sample_frames

GRID = 32
KEEP = 8
FLAT = 10.0  # grey-level spread below which a picture is treated as blank (fog, asphalt, fades)
CENTRE = 0.70  # the reference descriptor covers the central 70 % of the picture: crops of up to 30 % keep it
#: (kept fraction of the source, horizontal position, vertical position): where the query region sits in the
#: source when the creator cropped it. (1, .5, .5) is "not cropped".
CROP_HYPOTHESES = (
    (1.0, 0.5, 0.5),
    (0.8, 0.5, 0.5),
)


@cache
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m[:KEEP].astype(np.float32)


_MIRROR = np.array([(-1.0) ** u for v in range(KEEP) for u in range(KEEP)], dtype=np.float32)[1:]


def describe(img: np.ndarray, box: tuple[int, int, int, int], flat: float = FLAT) -> np.ndarray:
    """Descriptor (63 floats, unit norm) of ``img[y0:y1, x0:x1]`` where ``box = (x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    patch = img[y0:y1, x0:x1].astype(np.float32)
    thumb = area_matrix(GRID, patch.shape[0]) @ patch @ area_matrix(GRID, patch.shape[1]).T
    if float(thumb.std()) < flat:
        return np.zeros(KEEP * KEEP - 1, dtype=np.float32)  # black frames, fades, bars: nothing to recognise
    z = (thumb - thumb.mean()) / float(thumb.std())
    d = _dct_matrix(GRID)
    coef = (d @ z @ d.T).reshape(-1)[1:]
    norm = float(np.linalg.norm(coef))
    return coef / norm if norm > 0 else coef


def describe_many(imgs: np.ndarray, box: tuple[int, int, int, int], flat: float = FLAT) -> np.ndarray:
    """:func:`describe` of the same box of every picture in ``imgs`` (n, h, w), as one batch: (n, 63)."""
    x0, y0, x1, y1 = box
    thumb = area_resample(imgs[:, y0:y1, x0:x1].astype(np.float32), GRID, GRID)
    spread = thumb.std(axis=(1, 2))
    d = _dct_matrix(GRID)
    # the DCT of a constant has only a DC term, and the vector is unit-normalised: standardising the
    # thumbnail (as :func:`describe` does) changes nothing in the kept coefficients but their scale
    coef = (d @ thumb @ d.T).reshape(len(thumb), -1)[:, 1:]
    norm = np.linalg.norm(coef, axis=1, keepdims=True)
    out = coef / np.where(norm > 0, norm, 1.0)
    out[spread < flat] = 0.0  # black frames, fades, bars: nothing to recognise
    return out.astype(np.float32)


def _centre_box(
    region: Region, width: int, height: int, keep: float, px: float, py: float
) -> tuple[int, int, int, int]:
    """Pixels of the query that show the source's central part, if ``region`` shows a ``keep`` crop of it."""
    m = (1 - CENTRE) / 2
    off_x, off_y = (1 - keep) * px, (1 - keep) * py

    def span(lo: float, size: float, off: float) -> tuple[float, float]:
        a = lo + size * max(0.0, (m - off) / keep)
        b = lo + size * min(1.0, (1 - m - off) / keep)
        return a, b

    ax, bx = span(region.x, region.w, off_x)
    ay, by = span(region.y, region.h, off_y)
    return Region(ax, ay, bx - ax, by - ay).pixels(width, height)


class VideoDCTSignal(SignalType):
    name = "video.dct"
    media = "video"
    dim = KEEP * KEEP - 1
    threshold = 0.86  # cosine similarity that counts as a frame hit
    flat = FLAT  # thumbnail spread below which a picture gives no vector
    # Where the learned descriptor also looked at the clip, a segment that only this signal found is dropped:
    # measured on the benchmark, every such segment was a false alarm (at 32x32 unrelated shots can agree).
    confirmed_by = "video.sscd"

    def __init__(self, fps: float = 2.0, query_fps: float = 2.0) -> None:
        self.fps = fps
        self.query_fps = query_fps

    def reference(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        frames = frames if frames is not None else list(sample_frames(path, self.fps, info=info))
        return self.reference_from_frames(frames, info.duration)

    def pictures(self, frames: list[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
        """What the descriptor looks at: the frames themselves (motion signals override this)."""
        return frames

    def reference_from_frames(
        self, frames: Iterable[tuple[float, np.ndarray]], duration: float
    ) -> Fingerprint:
        frames = list(frames)
        if not frames:
            return Fingerprint.empty(self.name, self.dim, duration)
        stack = np.stack([f for _, f in frames[:: max(1, len(frames) // 64)]])
        full = detect_regions(stack, max_regions=0)[0]  # letterbox only: references are shown as published
        pics = self.pictures(frames)
        if not pics:
            return Fingerprint.empty(self.name, self.dim, duration)
        times = np.array([t for t, _ in pics], dtype=np.float32)
        vecs = np.stack(
            [
                describe(f, _centre_box(full, f.shape[1], f.shape[0], 1.0, 0.5, 0.5), self.flat)
                for _, f in pics
            ]
        )
        return Fingerprint(self.name, times, vecs.astype(np.float32), duration)

    def query(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        frames = frames if frames is not None else list(sample_frames(path, self.query_fps, info=info))
        return self.query_from_frames(frames, info.duration)

    def query_from_frames(
        self, frames: list[tuple[float, np.ndarray]], duration: float, *, layout: list[Shot] | None = None
    ) -> Fingerprint:
        """Variants per frame: layout regions (per shot: ``layout`` is the clip's, from
        :func:`~hutong.fingerprint.layout.clip_layout`, detected here when not given), crop hypotheses, and
        mirror. Every picture of a shot is described at once per variant (one batch of matrix products)."""
        if not frames:
            return Fingerprint.empty(self.name, self.dim, duration)
        if layout is None:
            layout = clip_layout(np.stack([f for _, f in frames]))
        variants: list[Variant] = []
        index: dict[tuple, int] = {}
        times, vecs, vids = [], [], []
        pics = dict(self.pictures(frames))
        for shot in layout:
            sel = [(t, pics[t]) for t, _ in frames[shot.start : shot.stop] if t in pics]
            if not sel:
                continue
            shot_times = np.array([t for t, _ in sel], dtype=np.float32)
            imgs = np.stack([p for _, p in sel])
            h, w = imgs.shape[1:]
            for region in shot.regions:
                for keep, px, py in CROP_HYPOTHESES if region.kind != "window" else CROP_HYPOTHESES[:1]:
                    v = describe_many(imgs, _centre_box(region, w, h, keep, px, py), self.flat)
                    for mirrored in (False, True):
                        key = (region.x, region.y, region.w, region.h, region.kind, keep, px, py, mirrored)
                        if key not in index:
                            index[key] = len(variants)
                            variants.append(
                                Variant(
                                    region=region.as_dict(),
                                    crop=None if keep == 1.0 else {"kept": keep, "x": px, "y": py},
                                    mirror=mirrored,
                                )
                            )
                        times.append(shot_times)
                        vecs.append(v * _MIRROR if mirrored else v)
                        vids.append(np.full(len(sel), index[key], np.int32))
        if not times:
            return Fingerprint.empty(self.name, self.dim, duration)
        return Fingerprint(
            self.name,
            np.concatenate(times),
            np.concatenate(vecs).astype(np.float32),
            duration,
            variant_ids=np.concatenate(vids),
            variants=variants,
        )


class VideoMotionSignal(VideoDCTSignal):
    """``video.motion``: the same descriptor on the *change* between consecutive samples.

    Appearance alone cannot tell apart moments of a static-camera shot or a screencast (every frame looks
    the same at low resolution); what moves can. Static overlays (logos, subtitles, bars) cancel out of a
    difference, and a still moment gives no vector rather than a misleading one.
    """

    name = "video.motion"
    threshold = 0.84
    flat = 2.5
    confirmed_by = None  # what moves is specific enough on its own (static footage relies on it)

    def pictures(self, frames: list[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
        return [
            (t, frames[i][1].astype(np.float32) - frames[i - 1][1].astype(np.float32))
            for i, (t, _) in enumerate(frames)
            if i > 0
        ]
