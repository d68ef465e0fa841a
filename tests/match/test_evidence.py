"""What counts as evidence once several signals look at a clip: frozen pictures that only resemble a work,
lone claims of the weak descriptor where the learned one looked too, and where a recognition spends its time.
"""

from __future__ import annotations

import numpy as np
import pytest

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import HutongError
from hutong.fingerprint import Fingerprint, Variant, learned
from hutong.fingerprint.base import mirror_twins
from hutong.match import Recognizer
from hutong.match.align import Alignment, Hits
from hutong.match.service import FROZEN, _is_still, _promising
from hutong.media import probe
from hutong.media.synth import FONT, Piece, run_ffmpeg
from tests.conftest import CHAPLIN, SINTEL

needs_sscd = pytest.mark.skipif(not learned.available(), reason="optional extra 'sscd' not installed")


def _fp(vectors: np.ndarray) -> Fingerprint:
    n = len(vectors)
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return Fingerprint("video.sscd", np.arange(n, dtype=np.float32) / 2, v.astype(np.float32), n / 2,
                       variant_ids=np.zeros(n, np.int32))  # fmt: skip


def test_a_frozen_picture_is_frozen_and_a_fixed_camera_is_not():
    rng = np.random.default_rng(5)
    base = rng.normal(size=512)
    frozen = np.stack([base + 1e-3 * rng.normal(size=512) for _ in range(12)])  # re-encoding noise only
    walking = np.stack([base + 0.12 * rng.normal(size=512) for _ in range(12)])  # people move, cos ~0.99
    a = Alignment(1, 0.0, 6.0, 0.0, 6.0, 1.0, 0.0, 0.9, 1.0, variant=0)
    assert _is_still(_fp(frozen), a, FROZEN)
    assert not _is_still(_fp(walking), a, FROZEN)
    assert _is_still(_fp(walking), a)  # while the coarse descriptors' rule would call it a still


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """Colour bars with a tone, and a title card: pictures of no work that resemble many."""
    folder = tmp_path_factory.mktemp("cards")
    bars, title = folder / "bars.mp4", folder / "title.mp4"
    enc = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
    run_ffmpeg(["-f", "lavfi", "-i", "smptebars=size=640x360:rate=25:duration=6", "-f", "lavfi",
                "-i", "sine=frequency=1000:duration=6", *enc, str(bars)])  # fmt: skip
    font = f":fontfile={FONT}" if FONT else ""
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=0x101018:size=640x360:rate=25:duration=6", "-f", "lavfi",
                "-i", "anoisesrc=color=brown:amplitude=0.02:duration=6", "-vf",
                f"drawtext=text='Chapter One'{font}:fontsize=40:fontcolor=white:x=(w-tw)/2:y=(h-th)/2",
                *enc, str(title)])  # fmt: skip
    return bars, title


BAND = {"x": 0.0, "y": 0.35, "w": 1.0, "h": 0.3, "kind": "band"}
#: whole frame, its mirror image, a band, the band mirrored, another band with no twin
VARIANTS = [Variant(), Variant(mirror=True), Variant(region=BAND), Variant(region=BAND, mirror=True),
            Variant(region={**BAND, "y": 0.1})]  # fmt: skip


def _hits(rows: list[tuple[int, float, float, int]]) -> Hits:
    """(work, query time, similarity, variant) rows."""
    w, t, s, v = (np.array(c) for c in zip(*rows, strict=True))
    return Hits(w.astype(np.int64), t.astype(np.float32), t.astype(np.float32), s.astype(np.float32),
                v.astype(np.int32), np.ones(len(rows), np.float32))  # fmt: skip


def test_mirror_twins_pair_the_same_region_mirrored():
    assert mirror_twins(VARIANTS).tolist() == [1, 0, 3, 2, -1]
    assert mirror_twins([]).tolist() == []


def test_a_variant_is_completed_only_where_it_beats_its_own_mirror_image():
    # at 2 s the band matches work 1 best (0.95); its mirror image is within the margin (0.88) but below it:
    # completing the mirror image would add passes and no evidence
    hits = _hits([(1, 2.0, 0.95, 2), (1, 2.0, 0.88, 3), (1, 2.0, 0.6, 0)])
    assert set(_promising(hits, VARIANTS)) == {2}
    assert set(_promising(hits)) == {2, 3}  # without the variants' geometry: the margin alone decides
    # a mirrored use: the mirror image wins, and is the one completed
    assert set(_promising(_hits([(1, 2.0, 0.95, 3), (1, 2.0, 0.9, 2)]), VARIANTS)) == {3}
    # a variant whose twin did not match there at all, and one without a twin, are judged on the margin
    assert set(_promising(_hits([(1, 2.0, 0.9, 3), (1, 2.0, 0.85, 4), (1, 2.0, 0.7, 0)]), VARIANTS)) == {3, 4}
    # each (work, instant) is judged apart: a mirror image that wins elsewhere is completed too, there
    both = _hits([(1, 2.0, 0.95, 2), (1, 2.0, 0.9, 3), (2, 8.0, 0.9, 3), (2, 8.0, 0.8, 2)])
    wanted = _promising(both, VARIANTS)
    assert set(wanted) == {2, 3}
    assert wanted[2].tolist() == [2.0] and wanted[3].tolist() == [8.0]
    assert _promising(Hits(*(np.zeros(0) for _ in range(6))), VARIANTS) == {}


def test_colour_bars_and_title_cards_match_nothing(cards, shared_recognizer):
    for clip in cards:
        assert shared_recognizer.recognizer.match(clip).segments == [], clip.name


@needs_sscd
def test_a_lone_coarse_claim_is_dropped_where_the_learned_signal_looked_and_saw_nothing(
    registered_home, clip_factory
):
    clip = clip_factory("sintel_plain_for_evidence", [Piece(SINTEL, 5, 10, (), seed=2)])
    h = Hutong.create(get_settings(home=registered_home, signals="video.dct,video.sscd"))
    try:
        rec = h.recognizer
        _, fps = rec.fingerprint_query(clip.path)
        _, other = rec.fingerprint_query(CHAPLIN)
        dct_only = {"video.dct": fps["video.dct"]}
        found = rec.match_fingerprints(str(clip.path), clip.duration, dct_only).segments
        assert found and {s.work_title for s in found} == {SINTEL.stem}, "video.dct alone finds the use"
        # the learned signal looked (at other footage: it saw nothing there) -> the lone coarse claim goes
        looked = {**dct_only, "video.sscd": other["video.sscd"]}
        assert rec.match_fingerprints(str(clip.path), clip.duration, looked).segments == []
        # while with its own view of the clip it confirms the use
        both = {**dct_only, "video.sscd": fps["video.sscd"]}
        confirmed = rec.match_fingerprints(str(clip.path), clip.duration, both).segments
        assert confirmed and {s.work_title for s in confirmed} == {SINTEL.stem}
        assert all("video.sscd" in s.signals for s in confirmed)
    finally:
        h.close()


def test_timings_split_decode_descriptors_search_and_align(shared_recognizer, clip_factory):
    clip = clip_factory("sintel_plain_for_evidence", [Piece(SINTEL, 5, 10, (), seed=2)])
    rec = shared_recognizer.recognizer
    timings: dict[str, float] = {}
    info, fps = rec.fingerprint_query(clip.path, timings=timings)
    rec.match_fingerprints(str(clip.path), info.duration, fps, timings=timings)
    want = {"decode", "layout", "search", "align"} | {f"descriptor:{s.name}" for s in rec.signals}
    assert set(timings) == want
    assert all(v >= 0 for v in timings.values()) and timings["decode"] > 0


def test_signals_come_from_settings(registered_home):
    from hutong.app import Hutong
    from hutong.config import get_settings

    h = Hutong.create(get_settings(home=registered_home, signals="video.dct,audio.bands"))
    try:
        assert [s.name for s in h.recognizer.signals] == ["video.dct", "audio.bands"]
        assert probe(SINTEL).has_video
        assert isinstance(h.recognizer, Recognizer)
    finally:
        h.close()
    with pytest.raises(HutongError, match="unknown signal"):
        Hutong.create(get_settings(home=registered_home, signals="video.sift"))
