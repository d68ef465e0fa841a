"""Peers run on the same queries: framewise pHash (imagehash), Meta's vPDQ, videohash, Chromaprint (fpcalc).

Framewise peers (pHash, vPDQ) get hutong's own temporal alignment, so the comparison isolates the frame
signal. videohash gives one 64-bit hash per video, so a match claims the whole clip against the whole work.
Chromaprint's raw fingerprints are aligned by the usual sliding bit-error rate.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from hutong.match.align import Hits, align, merge
from hutong.media import probe, sample_frames
from hutong.media.synth import ffmpeg_exe


def _popcount64(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.view(np.uint8), axis=-1).reshape(*x.shape[:-1], -1).sum(-1)


class FramewisePeer:
    """A peer that hashes frames; hits are hash pairs within ``max_distance`` bits."""

    name = ""
    bits = 64
    max_distance = 10
    fps = 2.0

    def hashes(self, path: str) -> tuple[np.ndarray, np.ndarray]:  # (times, packed uint8 hashes)
        raise NotImplementedError

    def index(self, works: dict[int, str]) -> None:
        self._ref: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._dur = {}
        for wid, path in works.items():
            t, h = self.hashes(path)
            self._ref.append((wid, t, h))
            self._dur[wid] = probe(path).duration

    def match(self, path: str) -> list[dict]:
        qt, qh = self.hashes(path)
        if len(qt) == 0:
            return []
        works, tq, tr, sims = [], [], [], []
        for wid, rt, rh in self._ref:
            if len(rt) == 0:
                continue
            dist = _popcount64(np.bitwise_xor(qh[:, None, :], rh[None, :, :]))
            qi, ri = np.nonzero(dist <= self.max_distance)
            works.append(np.full(len(qi), wid))
            tq.append(qt[qi])
            tr.append(rt[ri])
            sims.append(1.0 - dist[qi, ri] / self.bits)
        hits = Hits(
            np.concatenate(works),
            np.concatenate(tq),
            np.concatenate(tr),
            np.concatenate(sims),
            np.zeros(sum(map(len, works)), np.int32),
        )
        thr = 1.0 - self.max_distance / self.bits
        found = align(
            hits,
            query_step=1 / self.fps,
            ref_durations=self._dur,
            query_duration=probe(path).duration,
            threshold=thr,
            signal=self.name,
        )
        return [
            {
                "work_id": a.work_id,
                "query_start": a.query_start,
                "query_end": a.query_end,
                "ref_start": a.ref_start,
                "ref_end": a.ref_end,
            }
            for a in merge(found)
        ]


class PHashPeer(FramewisePeer):
    name = "pHash (imagehash, framewise)"
    max_distance = 10

    def hashes(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        import imagehash
        from PIL import Image

        times, out = [], []
        for t, img in sample_frames(path, self.fps):
            h = imagehash.phash(Image.fromarray(img)).hash.reshape(-1)
            out.append(np.packbits(h))
            times.append(t)
        return np.asarray(times, np.float32), np.asarray(out, np.uint8).reshape(len(out), -1)


class VPDQPeer(FramewisePeer):
    name = "vPDQ (Meta)"
    bits = 256
    max_distance = 31  # PDQ's recommended match threshold
    quality = 50

    def hashes(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        import vpdq

        feats = [
            f for f in vpdq.computeHash(path, seconds_per_hash=1 / self.fps) if f.quality >= self.quality
        ]
        times = np.asarray([f.timestamp for f in feats], np.float32)
        hashes = np.asarray([np.frombuffer(bytes.fromhex(f.hex), np.uint8) for f in feats], np.uint8).reshape(
            len(feats), 32
        )
        return times, hashes


class VideoHashPeer:
    """One hash per video (akamhy/videohash); a match claims the whole clip against the whole work."""

    name = "videohash"
    max_distance = 10

    def __init__(self) -> None:
        import PIL.Image

        if not hasattr(PIL.Image, "ANTIALIAS"):  # videohash 3.0.1 still uses the name Pillow 10 removed
            PIL.Image.ANTIALIAS = PIL.Image.LANCZOS
        self._bin = tempfile.mkdtemp(prefix="videohash-bin-")
        os.symlink(ffmpeg_exe(), os.path.join(self._bin, "ffmpeg"))
        os.environ["PATH"] = self._bin + os.pathsep + os.environ["PATH"]

    def _hash(self, path: str) -> int | None:
        from videohash import VideoHash

        try:
            return int(VideoHash(path=path).hash, 2)
        except Exception:
            return None

    def index(self, works: dict[int, str]) -> None:
        self._ref = {wid: (self._hash(p), probe(p).duration) for wid, p in works.items()}

    def match(self, path: str) -> list[dict]:
        h = self._hash(path)
        if h is None:
            return []
        dur = probe(path).duration
        return [
            {"work_id": wid, "query_start": 0.0, "query_end": dur, "ref_start": 0.0, "ref_end": rd}
            for wid, (rh, rd) in self._ref.items()
            if rh is not None and bin(h ^ rh).count("1") <= self.max_distance
        ]


class ChromaprintPeer:
    """Chromaprint (``fpcalc -raw``): 32-bit sub-fingerprints every ~0.124 s, aligned by bit-error rate."""

    name = "Chromaprint (fpcalc)"
    item = 4096 / 3 / 11025  # seconds per sub-fingerprint
    max_ber = 0.35

    @staticmethod
    def available() -> bool:
        return shutil.which("fpcalc") is not None

    def _fp(self, path: str) -> np.ndarray:
        out = subprocess.run(["fpcalc", "-raw", "-length", "0", path], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.startswith("FINGERPRINT="):
                return np.array([int(x) for x in line[12:].split(",") if x], dtype=np.int64).astype(np.uint32)
        return np.zeros(0, np.uint32)

    def index(self, works: dict[int, str]) -> None:
        self._ref = {wid: (self._fp(p), probe(p).duration) for wid, p in works.items() if probe(p).has_audio}

    def match(self, path: str) -> list[dict]:
        q = self._fp(path)
        if len(q) < 16:
            return []
        dur = len(q) * self.item
        best = []
        for wid, (r, rdur) in self._ref.items():
            if len(r) < 16:
                continue
            best_ber, best_off = 1.0, 0
            for off in range(-len(q) + 16, len(r) - 16):
                a0, b0 = max(0, off), max(0, -off)
                n = min(len(r) - a0, len(q) - b0)
                if n < 16:
                    continue
                x = np.bitwise_xor(r[a0 : a0 + n], q[b0 : b0 + n])
                ber = _popcount64(x.astype(np.uint64)[:, None]).sum() / (32 * n)
                if ber < best_ber:
                    best_ber, best_off = ber, off
            if best_ber <= self.max_ber:
                ref_start = best_off * self.item
                best.append({"work_id": wid, "query_start": max(0.0, -ref_start), "query_end": dur,
                             "ref_start": max(0.0, ref_start), "ref_end": min(rdur, ref_start + dur)})  # fmt: skip
        return best


class SSCDNaivePeer:
    """The learned descriptor used naively: SSCD on the whole frame at 2 fps, the frame and its mirror image,
    hits above a fixed similarity, and simple voting for a constant offset (work time - clip time)."""

    name = "SSCD naive (whole frame)"
    fps = 2.0
    threshold = 0.5  # SSCD's usual copy threshold; unrelated frames stay below ~0.35 on this footage
    bin = 1.0  # seconds of offset per vote bin
    min_votes = 4  # clip instants agreeing on one offset
    max_gap = 3.0  # seconds between agreeing instants within one segment

    @staticmethod
    def available() -> bool:
        from hutong.fingerprint import learned

        return learned.available()

    def __init__(self) -> None:
        from hutong.fingerprint.learned import SSCDSignal

        self._sig = SSCDSignal("sscd_distilled")

    def _vectors(self, path: str, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
        from hutong.fingerprint.learned import thumbnail

        times, thumbs = [], []
        for t, img in sample_frames(path, self.fps):
            thumb = thumbnail(img, (0, 0, img.shape[1], img.shape[0]))
            if thumb is None:
                continue
            for m in (False, True) if mirror else (False,):
                times.append(t)
                thumbs.append(np.ascontiguousarray(thumb[:, ::-1]) if m else thumb)
        return np.asarray(times, np.float32), self._sig.embed(thumbs)

    def index(self, works: dict[int, str]) -> None:
        self._ref = {wid: (*self._vectors(p, mirror=False), probe(p).duration) for wid, p in works.items()}

    def match(self, path: str) -> list[dict]:
        qt, qv = self._vectors(path, mirror=True)
        out = []
        for wid, (rt, rv, rdur) in self._ref.items():
            if len(rt) == 0 or len(qt) == 0:
                continue
            qi, ri = np.nonzero(qv @ rv.T >= self.threshold)
            offsets = np.round((rt[ri] - qt[qi]) / self.bin).astype(int)
            while len(qi):
                values, counts = np.unique(offsets, return_counts=True)
                best = values[np.argmax(counts)]
                near = np.abs(offsets - best) <= 1
                instants = np.unique(qt[qi[near]])
                if len(instants) < self.min_votes:
                    break
                # the longest run of agreeing instants without a gap over max_gap
                runs = np.split(instants, np.nonzero(np.diff(instants) > self.max_gap)[0] + 1)
                run = max(runs, key=len)
                if len(run) >= self.min_votes:
                    q0, q1 = float(run[0]), float(run[-1]) + 1 / self.fps
                    off = best * self.bin
                    out.append({"work_id": wid, "query_start": q0, "query_end": q1,
                                "ref_start": max(0.0, q0 + off), "ref_end": min(rdur, q1 + off)})  # fmt: skip
                used = near & (qt[qi] >= run[0]) & (qt[qi] <= run[-1])
                if not used.any():
                    break
                qi, offsets = qi[~used], offsets[~used]
        return out


def video_peers(log=print) -> list:
    """The peers that can run here, in the order of the report (a missing one is said, not hidden)."""
    out: list = [PHashPeer()]
    try:
        import vpdq  # noqa: F401

        out.append(VPDQPeer())
    except ImportError:
        log("vPDQ is not installed here (pip install vpdq): its row is left out of this run")
    out.append(VideoHashPeer())
    if SSCDNaivePeer.available():
        out.append(SSCDNaivePeer())
    else:
        log("the learned descriptor is not installed here: the SSCD naive peer is left out of this run")
    return out


def clean_tmp(peer) -> None:
    b = getattr(peer, "_bin", None)
    if b:
        shutil.rmtree(b, ignore_errors=True)
        os.environ["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != b)


__all__ = [
    "ChromaprintPeer",
    "PHashPeer",
    "SSCDNaivePeer",
    "VPDQPeer",
    "VideoHashPeer",
    "clean_tmp",
    "video_peers",
]
