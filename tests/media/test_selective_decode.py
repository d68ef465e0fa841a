"""Sampling without decoding the frames nobody refers to: the same samples as a full decode, real files."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from hutong.errors import MediaError
from hutong.media import probe, sample_frames
from tests.conftest import BBB


def _encode(
    path: Path,
    *,
    seconds: float = 12.0,
    jitter: bool,
    gaps: bool = False,
    faststart: bool = False,
    codec: str = "libx264",
) -> Path:
    """An H.264 (or ``codec``) clip with B-frames (some not referred to), 30 fps, a moving pattern; with ``jitter`` the
    timestamps wander by up to 12 ms, as in variable-frame-rate phone footage; with ``gaps`` the three frames
    from every other sample time on are missing (dropped frames), so a sample may fall on a skipped frame."""
    rng = np.random.default_rng(3)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = (
            {"bf": "3", "b-pyramid": "normal", "preset": "veryfast"}
            if codec == "libx264"
            else {"preset": "veryfast", "x265-params": "log-level=error"}
        )
        yy, xx = np.mgrid[0:180, 0:320]
        for i in range(int(seconds * 30)):
            if gaps and (i // 15) % 2 and i % 15 < 3:
                continue
            img = ((xx + 7 * i) % 64 * 3 + (yy * (1 + i // 30)) % 50).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(
                np.stack([img, img[::-1], img[:, ::-1]], axis=2), format="rgb24"
            )
            frame.pts = round(i * 1000 / 30 + (rng.uniform(-12, 12) if jitter and i else 0))
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module", params=["libx264", "libx265"])
def jittered(tmp_path_factory, request) -> Path:
    return _encode(tmp_path_factory.mktemp("vfr") / "vfr.mp4", jitter=True, codec=request.param)


def _both(path: Path, fps: float = 2.0):
    full_stats: dict[str, int] = {}
    sel_stats: dict[str, int] = {}
    full = list(sample_frames(path, fps, selective=False, stats=full_stats))
    sel = list(sample_frames(path, fps, stats=sel_stats))
    return full, sel, full_stats["decoded"], sel_stats["decoded"]


def test_skipping_unreferenced_frames_gives_the_same_samples():
    full, sel, n_full, n_sel = _both(BBB)
    assert n_sel < 0.8 * n_full  # frames were really skipped (B-frames nobody refers to)
    assert [t for t, _ in sel] == [t for t, _ in full]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(sel, full, strict=True))


def test_irregular_timestamps_keep_samples_within_a_frame(jittered: Path):
    full, sel, n_full, n_sel = _both(jittered)
    assert n_sel < n_full
    assert len(sel) == len(full) == pytest.approx(24, abs=1)
    error = np.abs(np.array([t for t, _ in sel]) - np.array([t for t, _ in full]))
    assert error.max() <= 1.5 / 30  # well under the 0.5 s sample step
    # where the time is the same, so is the picture
    same = [np.array_equal(a, b) for (ta, a), (tb, b) in zip(full, sel, strict=True) if ta == tb]
    assert same and all(same)


def test_dropped_frames_move_a_sample_by_a_few_frames_at_most(tmp_path: Path):
    full, sel, n_full, n_sel = _both(_encode(tmp_path / "gaps.mp4", jitter=True, gaps=True))
    assert n_sel < n_full and len(sel) == len(full)
    error = np.abs(np.array([t for t, _ in sel]) - np.array([t for t, _ in full]))
    assert error.max() <= 0.15  # a sample lands on the next decoded frame: well under the 0.5 s step


def test_dense_sampling_decodes_every_frame():
    # at 8 samples per second of a 30 fps file there is little to skip: every frame is decoded
    full, sel, n_full, n_sel = _both(BBB, fps=8.0)
    assert n_sel == n_full and len(sel) == len(full)


def test_truncated_file_is_reported_when_sampling(tmp_path: Path):
    whole = _encode(tmp_path / "whole.mp4", seconds=10, jitter=False, faststart=True)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])  # index intact (faststart), picture data cut
    assert probe(cut).duration == pytest.approx(10, abs=0.2)
    for selective in (True, False):
        with pytest.raises(MediaError, match="truncated or corrupt"):
            list(sample_frames(cut, 2.0, selective=selective))


def test_corrupt_picture_data_gives_a_media_error_or_samples(tmp_path: Path):
    whole = _encode(tmp_path / "whole.mp4", seconds=10, jitter=False, faststart=True)
    data = bytearray(whole.read_bytes())
    rng = np.random.default_rng(5)
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    try:
        frames = list(sample_frames(bad, 2.0))
    except MediaError as exc:
        assert str(bad) in str(exc) and "\n" not in str(exc)
    else:  # FFmpeg conceals damaged pictures: the samples still cover the file, in order
        times = [t for t, _ in frames]
        assert times == sorted(times) and times[-1] > 5
