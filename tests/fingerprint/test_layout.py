"""Layout detection on synthetic frames: a picture-in-picture window and a vertical band."""

import numpy as np

from hutong.fingerprint.layout import detect_regions


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
