"""Recognition on real media: every edit family, alone and combined, montages, and unrelated clips."""

import pytest

from hutong.media.synth import EDIT_FAMILIES, Piece
from tests.conftest import BBB, CARS, CHAPLIN, SINTEL, TEARS

# (source, start, seconds): stretches of the sample works with enough going on to be recognisable
SOURCES = {"sintel": (SINTEL, 20.0, 8.0), "tears": (TEARS, 30.0, 8.0), "bbb": (BBB, 12.0, 8.0)}
FAMILY_SOURCE = {fam: ("sintel", "tears", "bbb")[i % 3] for i, fam in enumerate(EDIT_FAMILIES)} | {
    "crop": "sintel"
}


def _overlap(a0, a1, b0, b1):
    return max(0.0, min(a1, b1) - max(a0, b0)) / max(a1 - a0, b1 - b0)


def check(report, truth, work_stem):
    assert report.segments, f"nothing recognised; truth {truth}"
    seg = max(report.segments, key=lambda s: s.query_end - s.query_start)
    assert seg.work_title == work_stem
    assert _overlap(seg.query_start, seg.query_end, truth.query_start, truth.query_end) >= 0.6, (seg, truth)
    assert _overlap(seg.ref_start, seg.ref_end, truth.ref_start, truth.ref_end) >= 0.5, (seg, truth)
    assert {s.work_title for s in report.segments} == {work_stem}, "no other work claimed"
    return seg


@pytest.mark.parametrize("family", EDIT_FAMILIES)
def test_each_edit_family_is_recognised(family, shared_recognizer, clip_factory):
    src, start, length = SOURCES[FAMILY_SOURCE[family]]
    clip = clip_factory(f"fam_{family}", [Piece(src, start, length, (family,), background=CARS, seed=11)])
    report = shared_recognizer.recognizer.match(clip.path)
    seg = check(report, clip.truth[0], src.stem)
    t = seg.transform
    if family == "mirror":
        assert t["mirror"] is True
    if family == "speed":
        assert t["speed"] == pytest.approx(clip.params[0]["speed"], abs=0.08)
    if family in ("vertical_blur", "vertical_plain"):
        assert t["layout"] == "band"
    if family == "pip":
        assert t["layout"] == "window"
        assert t["region"]["w"] == pytest.approx(clip.params[0]["pip"]["scale"], abs=0.08)
    if family == "voiceover":
        assert "audio.bands" not in seg.signals, "the replaced soundtrack must not match"
    assert any(s.startswith("video.") for s in seg.signals), "the picture is recognised"


@pytest.mark.parametrize(
    "pair",
    [
        ("mirror", "crop"),
        ("vertical_blur", "speed"),
        ("pip", "grade"),
        ("overlay", "reencode"),
        ("fps", "mirror"),
    ],
    ids="+".join,
)
def test_two_edits_combined(pair, shared_recognizer, clip_factory):
    src, start, length = SOURCES["sintel"] if "pip" not in pair else SOURCES["tears"]
    clip = clip_factory("combo_" + "_".join(pair), [Piece(src, start, length, pair, background=CARS, seed=5)])
    check(shared_recognizer.recognizer.match(clip.path), clip.truth[0], src.stem)


def test_montage_of_several_works_with_unrelated_footage(shared_recognizer, clip_factory):
    pieces = [
        Piece(CARS, 3, 3, from_work=False, seed=1),
        Piece(SINTEL, 14, 6, ("mirror",), seed=2),
        Piece(CHAPLIN, 1, 3, from_work=False, seed=3),
        Piece(TEARS, 40, 5, ("grade",), seed=4),
        Piece(BBB, 3, 7, ("crop",), seed=5),
    ]
    clip = clip_factory("montage", pieces)
    report = shared_recognizer.recognizer.match(clip.path)
    found = {s.work_title: s for s in report.segments}
    assert set(found) == {"sintel_trailer", "tears_of_steel_battle", "bbb_30s"}, report.segments
    for truth in clip.truth:
        seg = found[truth.source.rsplit("/", 1)[-1][:-4]]
        assert _overlap(seg.query_start, seg.query_end, truth.query_start, truth.query_end) >= 0.5


@pytest.mark.parametrize(
    "edits", [(), ("mirror",), ("vertical_blur",), ("grade", "crop")], ids=lambda e: "+".join(e) or "plain"
)
def test_unrelated_clips_match_nothing(edits, shared_recognizer, clip_factory):
    clip = clip_factory(
        "unrelated_" + "_".join(edits),
        [
            Piece(CARS, 0, 8, edits, from_work=False, seed=9),
            Piece(CHAPLIN, 0, 6, edits, from_work=False, seed=9),
        ],
    )
    assert shared_recognizer.recognizer.match(clip.path).segments == []


def test_one_use_mirrored_sped_up_and_graded_is_one_segment(shared_recognizer, clip_factory):
    """Issue 9: a Tears of Steel stretch mirrored, sped up and graded came back as two overlapping segments
    of the same work, so the licence check counted its work time twice."""
    clip = clip_factory(
        "tears_mirror_speed_grade", [Piece(TEARS, 25, 20, ("mirror", "speed", "grade"), seed=7)]
    )
    truth = clip.truth[0]
    assert clip.params[0]["speed"] == 1.2
    report = shared_recognizer.recognizer.match(clip.path)
    assert len(report.segments) == 1, report.as_dict()
    (seg,) = report.segments
    assert seg.work_title == TEARS.stem
    assert (seg.query_start, seg.query_end) == pytest.approx((truth.query_start, truth.query_end), abs=0.6)
    assert (seg.ref_start, seg.ref_end) == pytest.approx((truth.ref_start, truth.ref_end), abs=0.6)
    assert seg.transform["mirror"] is True
    assert seg.transform["speed"] == pytest.approx(1.2, abs=0.03)


def test_a_title_card_does_not_set_the_speed(shared_recognizer, clip_factory):
    """Ten seconds of Sintel mirrored, most of them its still title card, in a montage: the card matches
    every frame of the work's card alike, so only the moving seconds around it may decide the speed."""
    clip = clip_factory(
        "sintel_title_card",
        [
            Piece(CARS, 3, 3, from_work=False, seed=1),
            Piece(SINTEL, 40, 10, ("mirror",), seed=4),
            Piece(CHAPLIN, 1, 3, from_work=False, seed=3),
        ],
    )
    truth = clip.truth[0]
    report = shared_recognizer.recognizer.match(clip.path)
    assert len(report.segments) == 1, report.as_dict()
    (seg,) = report.segments
    assert seg.work_title == SINTEL.stem
    assert _overlap(seg.query_start, seg.query_end, truth.query_start, truth.query_end) >= 0.8
    assert _overlap(seg.ref_start, seg.ref_end, truth.ref_start, truth.ref_end) >= 0.8
    assert seg.transform["speed"] == pytest.approx(1.0, abs=0.03)
    assert seg.transform["mirror"] is True and "crop" not in seg.transform


@pytest.mark.parametrize("work", [BBB, SINTEL, TEARS], ids=lambda p: p.stem)
def test_a_registered_file_matched_against_itself_is_an_untransformed_copy(work, shared_recognizer):
    report = shared_recognizer.recognizer.match(work)
    assert len(report.segments) == 1, report.as_dict()
    (seg,) = report.segments
    assert seg.work_title == work.stem
    assert seg.ref_start == pytest.approx(seg.query_start, abs=0.1)
    assert seg.ref_end == pytest.approx(seg.query_end, abs=0.1)
    t = seg.transform
    assert (t["speed"], t["mirror"], t["layout"]) == (1.0, False, "full")
    assert "crop" not in t, t
