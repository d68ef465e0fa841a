"""Fingerprint: signal types (video, audio) behind one small interface, and their registry.

A signal's ``name`` is a storage key: rename it and stored fingerprints no longer apply.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from hutong.errors import HutongError
from hutong.fingerprint import learned
from hutong.fingerprint.audio import AudioBandsSignal
from hutong.fingerprint.base import Fingerprint, SignalType, Variant
from hutong.fingerprint.layout import clip_layout
from hutong.fingerprint.learned import SSCDSignal
from hutong.fingerprint.video import VideoDCTSignal, VideoMotionSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    s.name: s for s in (VideoDCTSignal, VideoMotionSignal, AudioBandsSignal, SSCDSignal)
}
#: signals that need nothing beyond the core dependencies
CLASSICAL = (VideoDCTSignal.name, VideoMotionSignal.name, AudioBandsSignal.name)
#: what ``"auto"`` runs where the learned descriptor is installed: the soundtrack and the learned picture
#: descriptor. On the benchmark the classical video signals found nothing more beside them (segment F1 0.956
#: with all four signals, 0.956 with these two; every family within 0.02), while at 1,000 h of reference
#: they would add 0.5-0.6 CPU s of searching each to every 60 s clip (measured while FAISS still kept its
#: precomputed table: more without) and ~95 MB of index each
LEARNED = (AudioBandsSignal.name, SSCDSignal.name)


def default_signals(names: str | list[str] = "auto") -> list[SignalType]:
    """The signals to run: ``"auto"`` is the learned descriptor and the soundtrack where the learned one is
    installed, else the classical three; otherwise a list of names (or a comma-separated string of them)."""
    if names == "auto":
        names = list(LEARNED if learned.available() else CLASSICAL)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIGNAL_TYPES]
    if unknown or not names:
        raise HutongError(
            f"unknown signal {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(SIGNAL_TYPES)} or 'auto'"
        )
    return [SIGNAL_TYPES[n]() for n in dict.fromkeys(names)]


def extract(
    signals: list[SignalType],
    path: str,
    info,
    *,
    query: bool,
    frames: dict[float, list] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Fingerprint]:
    """Run every applicable signal on one file, decoding its picture once for all video signals.

    ``frames`` (sample rate -> sampled frames) is filled as a cache: pass the same dict to extract a file's
    query and reference fingerprints from one decode. ``timings``, when given, gets the CPU seconds spent
    decoding pictures (``decode``), finding a query's shots and layout once for all video signals
    (``layout``) and in each signal (``descriptor:<name>``; audio signals decode their own sound inside).

    The matrix products of the descriptors are small: they run on this thread alone (numpy's BLAS would
    otherwise start a thread per core that spins waiting for the decoder's threads; measured on a 720p
    reference, the SSCD thumbnails cost 23 ms CPU each that way against 0.2 ms on one thread).
    """
    with threadpool_limits(1, user_api="blas"):
        return _extract(signals, path, info, query=query, frames=frames, timings=timings)


def _extract(signals, path, info, *, query, frames, timings) -> dict[str, Fingerprint]:
    import time

    from hutong.media import sample_frames

    timings = {} if timings is None else timings

    frames = {} if frames is None else frames
    layouts: dict[float, list] = {}  # sample rate -> the query's shots and their regions
    out: dict[str, Fingerprint] = {}
    for sig in signals:
        if not sig.applies_to(info):
            continue
        shared = None
        if sig.media == "video":
            rate = getattr(sig, "query_fps", sig.fps) if query else sig.fps
            if rate not in frames:
                t0 = time.process_time()
                # one width for references and queries: thumbnails made the same way compare best
                # (128 px references measured slightly worse: a false alarm appeared)
                frames[rate] = list(sample_frames(path, rate, info=info))
                timings["decode"] = timings.get("decode", 0.0) + time.process_time() - t0
            shared = frames[rate]
        # a video signal that can use the clip's shots and layout (found once, here) takes them; a plug-in
        # without ``query_from_frames`` gets the shared frames through ``query`` as before
        if query and shared is not None and hasattr(sig, "query_from_frames"):
            if rate not in layouts:
                t0 = time.process_time()
                layouts[rate] = clip_layout(np.stack([f for _, f in shared])) if shared else []
                timings["layout"] = timings.get("layout", 0.0) + time.process_time() - t0
            t0 = time.process_time()
            out[sig.name] = sig.query_from_frames(shared, info.duration, layout=layouts[rate])
        else:
            t0 = time.process_time()
            out[sig.name] = (sig.query if query else sig.reference)(path, info, shared)
        key = f"descriptor:{sig.name}"
        timings[key] = timings.get(key, 0.0) + time.process_time() - t0
    return out


__all__ = [
    "CLASSICAL",
    "LEARNED",
    "SIGNAL_TYPES",
    "SSCDSignal",
    "extract",
    "AudioBandsSignal",
    "Fingerprint",
    "SignalType",
    "Variant",
    "VideoDCTSignal",
    "VideoMotionSignal",
    "default_signals",
]
