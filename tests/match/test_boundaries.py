"""Segment ends to the frame: a clip made on the fly with cuts at known frames."""

from pathlib import Path

import numpy as np
import pytest

from hutong.errors import MediaError
from hutong.match.align import Alignment
from hutong.match.boundaries import find_cut, refine_ends
from hutong.media import picture_changes
from hutong.media.synth import run_ffmpeg

# 25 fps: the cuts fall at frames 53 and 108, between the 0.5 s samples alignment works on
FIRST_CUT, SECOND_CUT = 53 / 25, 108 / 25


@pytest.fixture(scope="module")
def three_shots(tmp_path_factory) -> Path:
    """A moving test pattern, then a zooming fractal, then the test pattern again, cut at known frames."""
    out = tmp_path_factory.mktemp("cuts") / "three_shots.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2.12",
            "-f", "lavfi", "-i", "mandelbrot=size=320x180:rate=25",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2",
            "-filter_complex",
            "[1:v]trim=duration=2.2,setpts=PTS-STARTPTS[m];[0:v][m][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
            "-map", "[v]", "-c:v", "libx264", "-g", "250", str(out),
        ]
    )  # fmt: skip
    return out


def _segment(q0: float, q1: float, speed: float = 1.0, offset: float = 40.0, signals=("video.sscd",)):
    a = Alignment(1, q0, q1, speed * q0 + offset, speed * q1 + offset, speed, offset, 0.9, 1.0, 0)
    a.signals = list(signals)
    return a


def test_the_cuts_are_found_to_the_frame(three_shots):
    (t, d), (t2, d2) = picture_changes(three_shots, [(1.7, 2.3), (4.0, 4.6)])
    assert find_cut(t, d) == pytest.approx(FIRST_CUT, abs=0.005)
    assert find_cut(t2, d2) == pytest.approx(SECOND_CUT, abs=0.005)
    # within one shot there is motion but no cut
    (t3, d3) = picture_changes(three_shots, [(0.5, 1.5)])[0]
    assert len(t3) >= 20 and find_cut(t3, d3) is None


def test_windows_decoded_together_read_as_each_alone(three_shots):
    # the end of one segment and the start of the next share a cut: one stretch is decoded for both,
    # given in any order, and every window gets exactly its own frames
    windows = [(4.0, 4.6), (1.9, 2.5), (1.7, 2.3), (2.9, 3.2)]
    together = picture_changes(three_shots, windows)
    for (t0, t1), (t, d) in zip(windows, together, strict=True):
        alone_t, alone_d = picture_changes(three_shots, [(t0, t1)])[0]
        assert len(t) > 5 and t.min() >= t0 and t.max() <= t1
        assert t.tolist() == alone_t.tolist() and d == pytest.approx(alone_d)


def test_segment_ends_move_onto_the_cuts_and_work_times_follow_the_line(three_shots):
    # as alignment reports it: first matching sample 2.5 s, last 4.0 s, end one 0.5 s step later
    seg = _segment(2.5, 4.5, speed=1.2, offset=40.0)
    assert refine_ends(three_shots, [seg], duration=6.32, step=0.5) == 2
    assert seg.query_start == pytest.approx(FIRST_CUT, abs=0.005)
    assert seg.query_end == pytest.approx(SECOND_CUT, abs=0.005)
    assert seg.ref_start == pytest.approx(40 + 1.2 * FIRST_CUT, abs=0.01)
    assert seg.ref_end == pytest.approx(40 + 1.2 * SECOND_CUT, abs=0.01)


def test_ends_without_a_cut_and_ends_of_the_clip_stay(three_shots):
    inside = _segment(0.5, 1.5)  # starts and ends within the first shot
    whole = _segment(0.0, 6.32)  # the clip's own ends
    sound = _segment(2.5, 4.5, signals=("audio.bands",))  # a soundtrack's use is not placed by cuts
    assert refine_ends(three_shots, [inside, whole, sound], duration=6.32, step=0.5) == 0
    assert (inside.query_start, inside.query_end) == (0.5, 1.5)
    assert (whole.query_start, whole.query_end) == (0.0, 6.32)
    assert (sound.query_start, sound.query_end) == (2.5, 4.5)


def test_bad_inputs(three_shots, tmp_path):
    seg = _segment(2.5, 4.5)
    with pytest.raises(ValueError, match="step"):
        refine_ends(three_shots, [seg], duration=6.32, step=0)
    with pytest.raises(MediaError, match="empty window"):
        picture_changes(three_shots, [(3.0, 3.0)])
    with pytest.raises(MediaError, match="no such file"):
        picture_changes(tmp_path / "missing.mp4", [(0.0, 1.0)])
    # a file that cannot be decoded keeps its segments as they were
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    assert refine_ends(junk, [seg], duration=6.32, step=0.5) == 0
    assert (seg.query_start, seg.query_end) == (2.5, 4.5)
    # find_cut on nothing, or on arrays that do not line up
    assert find_cut(np.zeros(0), np.zeros(0)) is None
    assert find_cut(np.arange(3.0), np.array([0.0, 50.0])) is None
