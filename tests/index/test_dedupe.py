"""Near-identical consecutive reference vectors are dropped when the index is built."""

import numpy as np
import pytest

from hutong.index.dedupe import LOOKBACK, keep_distinct


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _one_work(n: int) -> np.ndarray:
    new = np.zeros(n, bool)
    new[0] = True
    return new


def test_a_static_run_keeps_one_vector_per_gap():
    rng = np.random.default_rng(0)
    v = np.repeat(_unit(rng.normal(size=(1, 63))), 40, axis=0)  # 20 s of one unchanging picture
    t = np.arange(40, dtype=np.float32) / 2
    keep = keep_distinct(v, t, _one_work(40), alike=0.98, max_gap=2.0)
    assert keep[0]
    assert keep.sum() == 10  # one every 2 s
    assert np.diff(t[keep]).max() <= 2.0


def test_a_long_gap_still_keeps_one_vector_per_lookback():
    v = np.repeat(_unit(np.ones((1, 8))), 50, axis=0)
    keep = keep_distinct(v, np.arange(50, dtype=np.float32), _one_work(50), alike=0.9, max_gap=1e9)
    assert np.diff(np.flatnonzero(keep)).max() <= LOOKBACK + 1
    assert keep.sum() < 50 / LOOKBACK + 1


def test_moving_footage_keeps_every_vector():
    rng = np.random.default_rng(1)
    v = _unit(rng.normal(size=(30, 63)))
    t = np.arange(30, dtype=np.float32) / 2
    assert keep_distinct(v, t, _one_work(30), alike=0.98, max_gap=1.0).all()


def test_every_dropped_vector_is_alike_to_the_last_kept_one():
    """A slow drift (each step alike to the one before) must not drift far from what was kept."""
    rng = np.random.default_rng(2)
    steps = 0.03 * rng.normal(size=(60, 63))
    v = _unit(rng.normal(size=63) + np.cumsum(steps, axis=0))
    t = np.arange(60, dtype=np.float32) / 2
    keep = keep_distinct(v, t, _one_work(60), alike=0.99, max_gap=100.0)
    assert 1 < keep.sum() < 60
    last = None
    for i in range(60):
        if keep[i]:
            last = i
        else:
            assert float(v[i] @ v[last]) >= 0.99


def test_each_work_keeps_its_first_vector_and_zero_vectors_go():
    v = np.repeat(_unit(np.ones((1, 8))), 12, axis=0)
    v[5] = 0.0  # a black frame: matches nothing
    new = np.zeros(12, bool)
    new[[0, 6]] = True  # two works with the same picture
    keep = keep_distinct(v, np.arange(12, dtype=np.float32) / 2, new, alike=0.98, max_gap=10.0)
    assert keep[0] and keep[6] and not keep[5]
    assert keep.sum() == 2


def test_empty_input_and_bad_parameters():
    assert (
        keep_distinct(np.zeros((0, 8), np.float32), np.zeros(0), np.zeros(0, bool), alike=0.9, max_gap=1).size
        == 0
    )
    v = _unit(np.ones((3, 8)))
    for alike, gap in ((-1.5, 1.0), (1.5, 1.0), (0.9, -1.0)):
        with pytest.raises(ValueError, match="alike must be"):
            keep_distinct(v, np.arange(3.0), _one_work(3), alike=alike, max_gap=gap)


def test_alike_minus_one_keeps_one_vector_per_gap_whatever_they_show():
    rng = np.random.default_rng(3)
    v = _unit(rng.normal(size=(24, 8)))  # unrelated neighbours, as a window of sound moved by 0.25 s
    t = np.arange(24, dtype=np.float32) / 4  # 4 a second
    new = np.zeros(24, bool)
    new[[0, 12]] = True  # a second work starts at row 12: it keeps its own first vector
    v[13] = 0.0  # silence matches nothing, and is not what the next gap is counted from
    keep = keep_distinct(v, t, new, alike=-1.0, max_gap=0.75)
    assert np.flatnonzero(keep).tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
