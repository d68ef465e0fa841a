"""Temporal alignment on synthetic hits: lines are found, noise is not."""

import numpy as np
import pytest

from hutong.match.align import SHORT_SAMPLES, Alignment, Hits, align, merge


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
        *(
            np.concatenate([getattr(h, f) for h in hs])
            for f in ("work", "tq", "tr", "sim", "variant", "margin")
        )
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


def test_a_still_stretch_does_not_tilt_the_line():
    """A title card held for 4.5 s matches every frame of the work's title card equally well: its
    instants say nothing about speed, so the moving shots either side decide it (1x here)."""
    before = np.arange(0, 3.5, 0.5)
    card = np.arange(3.5, 8.5, 0.5)
    after = np.arange(8.5, 12, 0.5)
    block_tq, block_tr = (a.ravel() for a in np.meshgrid(card, 40 + card, indexing="ij"))
    hits = _cat(_hits(2, before, 40 + before), _hits(2, block_tq, block_tr), _hits(2, after, 40 + after))
    found = align(hits, query_step=0.5, ref_durations={2: 60}, query_duration=12, threshold=0.86, signal="t")
    assert len(found) == 1
    assert found[0].speed == pytest.approx(1.0, abs=0.02)
    assert found[0].ref_start == pytest.approx(40, abs=0.5)


def test_the_variant_is_the_one_that_matched_best_not_the_one_with_most_hits():
    """An identical copy: the uncropped variant matches each instant exactly; a crop hypothesis matches
    each instant and its neighbours a little less well. The transform must say "not cropped"."""
    tq = np.arange(0, 10, 0.5)
    exact = _hits(1, tq, tq, sim=0.99)
    near = _cat(*(_hits(1, tq, tq + d, sim=0.93) for d in (-0.5, 0.0, 0.5)))
    near.variant[:] = 1
    found = align(
        _cat(exact, near),
        query_step=0.5,
        ref_durations={1: 20},
        query_duration=10,
        threshold=0.86,
        signal="t",
    )
    assert [a.variant for a in found] == [0]


def _piece(q0, q1, speed, offset, score=0.9, signals=("video.dct",), transform=None):
    a = Alignment(1, q0, q1, speed * q0 + offset, speed * q1 + offset, speed, offset, score, 1.0, 0)
    a.signals = list(signals)
    a.transform = transform if transform is not None else {"mirror": True}
    return a


def test_pieces_of_one_use_become_one_segment_even_when_they_join_through_a_third():
    """Issue 9: Tears of Steel mirrored at 1.1x came back as two overlapping segments of one work. Two
    strong pieces that do not touch each other were each kept; a weaker piece joined the first and grew it
    over the second, which was never looked at again."""
    first = _piece(0, 6, 1.1, 25.0, score=0.97, transform={"mirror": True, "layout": "full"})
    last = _piece(12, 18.25, 1.1, 25.05, score=0.95, signals=("audio.bands",), transform={})
    middle = _piece(5, 12.5, 1.11, 24.9, score=0.6, signals=("video.motion",), transform={"mirror": False})
    (seg,) = merge([first, last, middle])
    assert (seg.query_start, seg.query_end) == (0, 18.25)
    assert seg.ref_start == pytest.approx(25.05, abs=0.1) and seg.ref_end == pytest.approx(45.1, abs=0.1)
    assert seg.speed == 1.1, "the audio line is the sharpest"
    assert seg.transform == {"mirror": True, "layout": "full"}, "the transform of the strongest picture piece"
    assert seg.signals == ["audio.bands", "video.dct", "video.motion"]


def test_different_lines_of_one_work_stay_apart():
    # a cut to another place in the work, overlapping by a second
    a, b = _piece(0, 10, 1.0, 10.0), _piece(9, 20, 1.0, 40.0, score=0.8)
    assert len(merge([a, b])) == 2
    # offsets close at t=0, but 1x and 1.1x drift 5 s apart by the end of the joint stretch
    a, b = _piece(0, 30, 1.0, 0.0), _piece(29.5, 60, 1.1, -1.0, score=0.8)
    assert len(merge([a, b])) == 2


def test_a_long_claim_that_several_signals_agree_on_outranks_a_short_high_scoring_one():
    """speed_4 of the benchmark: a recurring picture lined up for 2.5 s at 1x and scored higher than the 7 s
    at 1.5x that sound and picture agreed on; by score alone the short claim displaced the right one."""
    wrong = _piece(0, 2.5, 1.0, 2.5, score=0.89, signals=("video.sscd",))
    right = [_piece(0, 7, 1.5, 4.4, score=0.86, signals=(s,)) for s in ("video.sscd", "audio.bands")]
    (seg,) = merge([wrong, *right])
    assert (seg.query_start, seg.query_end, seg.speed) == (0, 7, 1.5)
    assert seg.signals == ["audio.bands", "video.sscd"]


def test_a_strong_segment_does_not_suppress_another_works_use_elsewhere_in_the_clip():
    strong = _piece(0, 12, 1.0, 30.0, score=0.99, signals=("video.sscd", "video.dct"))
    other = _piece(12.5, 15, 1.0, 3.0, score=0.7)
    other.work_id = 2
    got = sorted((a.work_id, a.query_start) for a in merge([strong, other]))
    assert got == [(1, 0), (2, 12.5)]


def test_static_footage_at_another_speed_is_not_taken_for_1x():
    """A fixed camera: every instant matches every moment of the stretch almost equally (cosine 0.997),
    and only its best hits lie on the 1.2x line the creator chose."""
    tq = np.arange(0, 10, 0.5)
    hits = []
    for t in tq:
        truth = 110 + 1.2 * t
        refs = np.arange(truth - 6, truth + 6, 0.5)
        sims = np.where(np.abs(refs - truth) < 0.25, 0.998, 0.997)
        hits.append(
            Hits(np.ones(len(refs)), np.full(len(refs), t), refs, sims, np.zeros(len(refs), np.int32))
        )
    found = align(
        _cat(*hits), query_step=0.5, ref_durations={1: 200}, query_duration=10, threshold=0.5, signal="t"
    )
    best = max(found, key=lambda a: a.score * (a.query_end - a.query_start))
    assert best.speed == pytest.approx(1.2, abs=0.03)
    assert best.ref_start == pytest.approx(110, abs=0.5)


def test_a_montage_of_two_works_short_uses_finds_both():
    # 3 s of work 1, 2 s of unrelated footage, 3 s of work 2: each use is short, both are found
    a, b = np.arange(0, 3, 0.5), np.arange(5, 8, 0.5)
    found = merge(
        align(
            _cat(_hits(1, a, 20 + a), _hits(2, b, 60 + b - 5)),
            query_step=0.5,
            ref_durations={1: 100, 2: 100},
            query_duration=8,
            threshold=0.86,
            signal="t",
        )
    )
    got = [(x.work_id, x.query_start, round(x.ref_start, 1)) for x in found]
    assert got == [(1, 0.0, 20.0), (2, 5.0, 60.0)]


def _specific(h: Hits, margin: float) -> Hits:
    h.margin = np.full(len(h.sim), margin, np.float32)
    return h


def test_a_two_second_use_is_found_when_every_instant_is_specific():
    # 2 s of work 1 (four 0.5 s samples) between 3 s of work 2 and 3 s of work 3
    a, b, c = np.arange(0, 3, 0.5), np.arange(3, 5, 0.5), np.arange(5, 8, 0.5)
    hits = _cat(
        _specific(_hits(2, a, 10 + a), 0.2),
        _specific(_hits(1, b, 50 + b), 0.2),
        _specific(_hits(3, c, c), 0.2),
    )
    kw = dict(
        query_step=0.5, ref_durations={1: 100, 2: 100, 3: 100}, query_duration=8, threshold=0.86, signal="t"
    )
    found = merge(align(hits, **kw))
    assert [(x.work_id, x.query_start, x.query_end) for x in found] == [(2, 0, 3), (1, 3, 5), (3, 5, 8)]
    # the same four instants with hits that also look like elsewhere (no margin) are not a use
    vague = _cat(_hits(2, a, 10 + a), _specific(_hits(1, b, 50 + b), 0.01), _hits(3, c, c))
    assert [x.work_id for x in merge(align(vague, **kw))] == [2, 3]
    # three instants are too few however specific
    three = _cat(_specific(_hits(1, b[:3], 50 + b[:3]), 0.2), _hits(3, c, c))
    assert [x.work_id for x in align(three, **kw)] == [3]


def test_a_claim_that_will_not_be_reported_does_not_displace_one_that_will():
    """pip_4 of the benchmark: a DCT claim at the wrong moment of a fixed camera (score 0.96) displaced the
    learned signal's right one (0.77); the DCT claim was then dropped as unconfirmed, and nothing was left."""
    from hutong.match.service import settle

    wrong = _piece(0, 7.8, 0.82, 29.5, score=0.96, signals=("video.dct",))
    right = _piece(0, 7.8, 0.95, 4.8, score=0.77, signals=("video.sscd",))
    unconfirmed = lambda a: a.signals != ["video.dct"]  # noqa: E731
    assert merge([wrong, right]) == [wrong]
    (seg,) = settle([wrong, right], unconfirmed)
    assert seg is right
    # nothing reportable: nothing reported
    assert settle([wrong], unconfirmed) == []
    assert settle([], unconfirmed) == []


def test_a_segment_ends_where_its_last_vector_stops_describing_the_media():
    # windows of sound 1 s long, every 0.25 s: the last matching window starts 1 s before the use ends
    tq = np.arange(0, 8.01, 0.25)
    kw = dict(query_step=0.25, ref_durations={1: 100}, query_duration=20, threshold=0.86, signal="t")
    (sound,) = align(_hits(1, tq, 30 + tq), extent=1.0, **kw)
    (picture,) = align(_hits(1, tq, 30 + tq), **kw)
    assert sound.query_end == pytest.approx(9.0) and sound.ref_end == pytest.approx(39.0, abs=0.05)
    assert picture.query_end == pytest.approx(8.25)
    (clipped,) = align(_hits(1, tq, 30 + tq), extent=1.0, **{**kw, "query_duration": 8.5})
    assert clipped.query_end == 8.5, "never past the clip's end"


def test_alignment_counts_instants_at_the_rate_of_the_indexed_references():
    """``audio.bands`` is indexed one window in three (0.75 s): its instants are counted on that grid, a
    segment reaches the part of a gap past its last kept window, and four instants are evidence enough."""
    from hutong.fingerprint import SIGNAL_TYPES
    from hutong.match.index import DEDUPE, reference_step
    from hutong.match.service import alignment_options

    audio, dct = SIGNAL_TYPES["audio.bands"](), SIGNAL_TYPES["video.dct"]()
    assert DEDUPE["audio.bands"] == (-1.0, 0.75) and reference_step(audio) == 0.75
    assert alignment_options(audio) == {
        "query_step": 0.75,
        "signal": "audio.bands",
        "extent": pytest.approx(1.5),  # the 1 s window plus the 0.5 s a kept window may lie before the end
        "min_samples": SHORT_SAMPLES,
    }
    # near-duplicates dropped by likeness leave the grid as sampled
    assert alignment_options(dct) == {"query_step": 0.5, "signal": "video.dct", "extent": None}
