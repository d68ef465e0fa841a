from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hutong.errors import MediaError
from hutong.media import probe, read_audio, sample_frames
from hutong.media.reader import check_frame_rate
from tests.conftest import BBB, CARS


def test_probe_reads_real_video():
    info = probe(BBB)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (640, 360)
    assert 29 < info.duration < 31
    assert 20 < info.fps < 31


def test_sample_frames_follow_timestamps():
    frames = list(sample_frames(BBB, fps=2.0, width=128))
    times = np.array([t for t, _ in frames])
    assert len(frames) == pytest.approx(60, abs=2)
    assert np.all(np.diff(times) > 0.4) and np.all(np.diff(times) < 0.6)
    assert frames[0][1].shape == (72, 128) and frames[0][1].dtype == np.uint8


def test_read_audio_is_mono_at_rate():
    samples = read_audio(BBB, 8000)
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert len(samples) / 8000 == pytest.approx(30, abs=0.5)
    assert 0 < np.abs(samples).max() <= 1.0


def test_video_without_sound_is_refused_for_audio():
    with pytest.raises(MediaError, match="no audio stream"):
        read_audio(CARS, 8000)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"this is not a video at all\n" * 40, "not a media file"),
        (bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8)), "not a media file"),
        (b"YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420\nFRAME\n", "absurd|not a media file"),
    ],
    ids=["empty", "text", "random-bytes", "100k-by-100k"],
)
def test_bad_files_get_one_line_errors(tmp_path: Path, content: bytes, needle: str):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError) as exc:
        probe(bad)
        list(sample_frames(bad, 2.0))
    assert __import__("re").search(needle, _one_line(exc))


@pytest.mark.parametrize("rate", [0, None, Fraction(0, 1), -25, 100_000])
def test_unusable_frame_rates_are_refused(rate):
    with pytest.raises(MediaError, match="fps is not usable"):
        check_frame_rate(Path("x.mp4"), rate)
    assert check_frame_rate(Path("x.mp4"), Fraction(30000, 1001)) == pytest.approx(29.97, abs=0.01)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="not a regular file"):
        probe(tmp_path)


def test_truncated_file_is_reported(tmp_path: Path):
    data = BBB.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # moov atom at the front (faststart) or not: either way broken
    with pytest.raises(MediaError) as exc:
        probe(cut)
        list(sample_frames(cut, 2.0))
    assert "truncated" in _one_line(exc) or "not a media file" in str(exc.value)


def test_size_and_length_limits(tmp_path: Path):
    with pytest.raises(MediaError, match="over the limit"):
        probe(BBB, max_bytes=1000)
    with pytest.raises(MediaError, match="over the limit"):
        probe(BBB, max_seconds=10)


def test_hostile_file_name(tmp_path: Path):
    odd = tmp_path / "-rf ; $(reboot) 名字 'q\".mp4"
    odd.write_bytes(BBB.read_bytes())
    assert probe(odd).has_video
