"""Temporal alignment on synthetic hits: lines are found, noise is not."""

import numpy as np

from hutong.match.align import Hits, align


def _hits(work, tq, tr, sim=0.95):
    n = len(tq)
    return Hits(
        np.full(n, work),
        np.asarray(tq, np.float32),
        np.asarray(tr, np.float32),
        np.full(n, sim, np.float32),
        np.zeros(n, np.int32),
    )


def _cat(*hs):
    return Hits(
        *(np.concatenate([getattr(h, f) for h in hs]) for f in ("work", "tq", "tr", "sim", "variant"))
    )


def test_finds_a_sped_up_segment():
    tq = np.arange(0, 10, 0.5)
    found = align(
        _hits(1, tq + 5, 30 + 1.25 * tq),
        query_step=0.5,
        ref_durations={1: 100},
        query_duration=20,
        threshold=0.86,
        signal="t",
    )
    assert len(found) == 1
    a = found[0]
    assert abs(a.speed - 1.25) < 0.03
    assert abs(a.query_start - 5) < 0.01 and abs(a.query_end - 15) < 0.6
    assert abs(a.ref_start - 30) < 0.3 and abs(a.ref_end - 42.5) < 1.0


def test_two_uses_of_one_work_and_one_of_another():
    tq = np.arange(0, 6, 0.5)
    hits = _cat(_hits(1, tq, 10 + tq), _hits(1, tq + 10, 50 + tq), _hits(2, tq + 20, 5 + tq))
    found = align(
        hits, query_step=0.5, ref_durations={1: 100, 2: 100}, query_duration=30, threshold=0.86, signal="t"
    )
    got = sorted((a.work_id, round(a.query_start), round(a.ref_start)) for a in found)
    assert got == [(1, 0, 10), (1, 10, 50), (2, 20, 5)]


def test_scattered_hits_make_no_segment():
    rng = np.random.default_rng(0)
    tq = np.sort(rng.uniform(0, 30, 40))
    tr = rng.uniform(0, 300, 40)
    found = align(
        _hits(1, tq, tr),
        query_step=0.5,
        ref_durations={1: 300},
        query_duration=30,
        threshold=0.86,
        signal="t",
    )
    assert found == []


def test_too_short_a_run_is_ignored():
    tq = np.array([0.0, 0.5, 1.0])
    found = align(
        _hits(1, tq, tq + 3),
        query_step=0.5,
        ref_durations={1: 10},
        query_duration=5,
        threshold=0.86,
        signal="t",
    )
    assert found == []
