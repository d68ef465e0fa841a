"""Layout detection on synthetic frames (a picture-in-picture window, a vertical band) and per shot, with cuts
found on real footage joined on the fly."""

import numpy as np
import pytest

from hutong.fingerprint.layout import CUT, MIN_SHOT, _iou, clip_layout, cut_strength, detect_regions, shots
from hutong.fingerprint.video import VideoDCTSignal, VideoMotionSignal, describe, describe_many
from hutong.media import sample_frames
from hutong.media.synth import Piece, build_clip
from tests.conftest import BBB, CHAPLIN


def _moving_texture(rng, n, h, w):
    base = rng.normal(0, 1, (h * 2, w * 2)).cumsum(0).cumsum(1)
    base = (base - base.min()) / np.ptp(base) * 255
    return np.stack([np.roll(base, (3 * i, 5 * i), (0, 1))[:h, :w] for i in range(n)])


def test_finds_picture_in_picture_window():
    rng = np.random.default_rng(0)
    n, h, w = 16, 72, 128
    frames = _moving_texture(rng, n, h, w)
    inner = _moving_texture(np.random.default_rng(1), n, 27, 48)
    frames[:, 20:47, 60:108] = inner  # window at x 0.47..0.84, y 0.28..0.65
    regions = detect_regions(frames.astype(np.uint8))
    assert regions[0].kind == "full"
    windows = [r for r in regions if r.kind == "window"]
    assert windows, regions
    best = windows[0]
    assert abs(best.x - 60 / 128) < 0.04 and abs(best.w - 48 / 128) < 0.05
    assert abs(best.y - 20 / 72) < 0.05 and abs(best.h - 27 / 72) < 0.06


def test_finds_vertical_band_between_static_bars():
    rng = np.random.default_rng(2)
    n, h, w = 16, 228, 128
    frames = np.zeros((n, h, w))
    frames[:, 77:149] = _moving_texture(rng, n, 72, 128)
    frames[:, 10:20, 30:90] = 230  # a static title
    regions = detect_regions(frames.astype(np.uint8))
    assert any(abs(r.y - 77 / 228) < 0.02 and abs(r.h - 72 / 228) < 0.03 for r in regions), regions


def test_still_frames_give_only_the_full_frame():
    frames = np.repeat(np.random.default_rng(5).integers(0, 255, (1, 72, 128)), 8, axis=0).astype(np.uint8)
    regions = detect_regions(frames)
    assert regions[0].kind == "full"


# --- shots and layout per shot ---------------------------------------------------------------------------


def test_a_cut_between_two_pieces_of_footage_is_found(tmp_path):
    clip = build_clip(
        [Piece(BBB, 12.0, 4.0, ()), Piece(CHAPLIN, 3.0, 4.0, (), from_work=False)], tmp_path / "two.mp4"
    )
    frames = list(sample_frames(clip.path, 2.0))
    times = np.array([t for t, _ in frames])
    stack = np.stack([f for _, f in frames])
    strength = cut_strength(stack)
    join = int(np.argmin(np.abs(times - 4.0)))  # first sample of the second piece
    assert strength[join - 1] >= CUT > np.median(strength)
    spans = shots(stack)
    assert spans[0][0] == 0 and spans[-1][1] == len(frames)
    assert all(a[1] == b[0] for a, b in zip(spans[:-1], spans[1:], strict=True)), "shots tile the clip"
    assert any(abs(times[a] - 4.0) <= 0.5 for a, _ in spans[1:]), spans


def test_layout_changes_at_the_cut_of_a_montage():
    """A full-frame shot, then a picture-in-picture one: the window belongs to the second shot only."""
    n, h, w = 16, 72, 128
    first = _moving_texture(np.random.default_rng(10), n, h, w)
    second = _moving_texture(np.random.default_rng(11), n, h, w) * 0.5
    second[:, 20:47, 60:108] = _moving_texture(np.random.default_rng(12), n, 27, 48)
    layout = clip_layout(np.concatenate([first, second]).astype(np.uint8))
    assert [(s.start, s.stop) for s in layout] == [(0, n), (n, 2 * n)]
    assert all(s.regions[0].kind == "full" for s in layout)
    windows = [r for r in layout[1].regions if r.kind == "window"]
    assert windows and abs(windows[0].x - 60 / 128) < 0.05 and abs(windows[0].y - 20 / 72) < 0.06
    assert not any(r.kind == "window" and _iou(r, windows[0]) > 0.5 for r in layout[0].regions)


def test_short_shots_join_a_neighbour():
    rng = np.random.default_rng(3)
    # 10 samples, a 1-sample flash in the middle: no shot shorter than MIN_SHOT survives
    frames = np.repeat(rng.integers(0, 255, (1, 36, 64)), 10, axis=0).astype(np.uint8)
    frames[5] = 255 - frames[5]
    spans = shots(frames)
    assert all(b - a >= MIN_SHOT for a, b in spans) and spans[0][0] == 0 and spans[-1][1] == 10


@pytest.mark.parametrize("n", [0, 1])
def test_a_clip_of_no_or_one_black_frame_has_nothing_to_describe(n):
    frames = [(0.0, np.zeros((72, 128), np.uint8))][:n]
    layout = clip_layout(np.zeros((n, 72, 128), np.uint8))
    assert len(layout) == n and all(s.regions[0].kind == "full" for s in layout)
    for sig in (VideoDCTSignal(), VideoMotionSignal()):
        fp = sig.query_from_frames(frames, 0.04, layout=layout)
        assert not np.any(fp.vectors), "a black picture gives no vector"


def test_batched_descriptor_equals_the_per_picture_one():
    rng = np.random.default_rng(4)
    imgs = _moving_texture(rng, 5, 72, 128).astype(np.uint8)
    imgs[2] = 7  # a blank picture
    box = (10, 5, 110, 70)
    batch = describe_many(imgs, box)
    single = np.stack([describe(img, box) for img in imgs])
    assert np.allclose(batch, single, atol=1e-4) and not np.any(batch[2])
