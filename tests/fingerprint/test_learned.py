"""The learned descriptor (``video.sscd``): optional, chosen by settings, and seeing copies where hashes fail.

Tests that run the network skip where its optional extra is not installed; the choice of signals is tested
everywhere (the classical signals must work without it).
"""

from __future__ import annotations

import numpy as np
import pytest

from hutong.errors import HutongError
from hutong.fingerprint import CLASSICAL, LEARNED, default_signals, learned
from hutong.fingerprint.layout import Region, Shot
from hutong.fingerprint.learned import SIZE, SSCDSignal, thumbnail, thumbnails
from hutong.media import probe
from hutong.media.synth import Piece, build_clip
from tests.conftest import BBB, CHAPLIN

needs_sscd = pytest.mark.skipif(
    not learned.available(), reason="optional extra not installed (pip install 'hutong[sscd]')"
)


def test_auto_is_the_learned_signal_and_the_soundtrack_where_installed_else_the_classical_three():
    names = [s.name for s in default_signals("auto")]
    assert names == list(LEARNED if learned.available() else CLASSICAL)
    assert ("video.sscd" in names) == learned.available()
    assert "audio.bands" in names  # the soundtrack is heard either way


def test_signals_are_chosen_by_name():
    assert [s.name for s in default_signals("video.dct, audio.bands")] == ["video.dct", "audio.bands"]
    assert [s.name for s in default_signals(["video.motion", "video.motion"])] == ["video.motion"]


@pytest.mark.parametrize("bad", ["video.sift", "", " , ", "video.dct,nope"])
def test_an_unknown_signal_is_refused_by_name(bad):
    with pytest.raises(HutongError, match="unknown signal"):
        default_signals(bad)


def test_an_unknown_model_is_refused():
    with pytest.raises(HutongError, match="unknown SSCD model"):
        SSCDSignal("resnet-9000")


@pytest.mark.skipif(learned.available(), reason="only where the optional extra is missing")
def test_without_the_extra_the_learned_signal_says_what_to_install():
    with pytest.raises(HutongError, match=r"hutong\[sscd\]"):
        SSCDSignal()


def test_blank_pictures_give_no_thumbnail():
    assert thumbnail(np.full((90, 160), 12, np.uint8), (0, 0, 160, 90)) is None
    rng = np.random.default_rng(1)
    t = thumbnail((rng.random((90, 160)) * 255).astype(np.uint8), (10, 5, 150, 85))
    assert t is not None and t.shape == (SIZE, SIZE) and t.dtype == np.uint8


@needs_sscd
def test_copies_are_close_and_other_footage_is_far(tmp_path):
    sig = SSCDSignal()
    ref = sig.reference(str(BBB), probe(BBB))
    # picture-in-picture over other footage and mirrored: the layout regions and the mirror variant find it
    clip = build_clip(
        [Piece(BBB, 8.0, 8.0, ("pip", "mirror"), background=CHAPLIN, seed=3)], tmp_path / "q.mp4"
    )
    coarse = sig.query(str(clip.path), probe(clip.path))
    assert coarse.pending is not None and any(v.mirror for v in coarse.variants)
    # the cascade: the coarse pass alone misses most instants (only the whole frame is dense), and looks at
    # no mirror image yet ...
    assert not any(coarse.variants[v].mirror for v in coarse.variant_ids)
    wanted = _found(sig, coarse, ref)
    assert wanted and all(coarse.variants[v].region["kind"] == "window" for v in wanted)
    # ... the windows that found something get their mirror images looked at, coarsely ...
    looked = sig.refine(coarse, wanted)
    assert looked.pending is not None and np.array_equal(looked.vectors[: len(coarse)], coarse.vectors)
    woken = {int(v) for v in looked.variant_ids[len(coarse) :]}
    assert woken and all(looked.variants[v].mirror for v in woken)
    # ... and the better of each pair, the mirror image (the clip is mirrored), is completed: every instant
    wanted = _found(sig, looked, ref)
    mirrored = {v: t for v, t in wanted.items() if looked.variants[v].mirror}
    assert mirrored
    q = sig.refine(looked, mirrored)
    assert q.pending is None and len(q) > len(looked)
    best = (q.vectors @ ref.vectors.T).max(axis=1)
    per_instant = [best[q.times == t].max() for t in np.unique(q.times)]
    assert np.median(per_instant) > sig.threshold
    other = sig.query(str(CHAPLIN), probe(CHAPLIN))
    assert float((other.vectors @ ref.vectors.T).max()) < sig.threshold


def _found(sig: SSCDSignal, fp, ref) -> dict[int, np.ndarray]:
    """Variant -> clip times where it matched ``ref`` (what the recognizer's search tells the cascade)."""
    hit = (fp.vectors @ ref.vectors.T).max(axis=1) >= sig.threshold
    return {int(v): fp.times[hit & (fp.variant_ids == v)] for v in np.unique(fp.variant_ids[hit])}


@needs_sscd
def test_a_variant_is_completed_only_around_the_shots_it_found_something_in():
    rng = np.random.default_rng(4)
    frames = [(i / 2, (rng.random((72, 128)) * 255).astype(np.uint8)) for i in range(40)]
    window = Region(0.5, 0.5, 0.4, 0.4, "window")
    layout = [Shot(a, a + 8, (Region(0, 0, 1, 1), window)) for a in range(0, 40, 8)]  # five shots, one window
    coarse = SSCDSignal().query_from_frames(frames, 20.0, layout=layout)
    (vid,) = [i for i, v in enumerate(coarse.variants) if v.region["kind"] == "window" and not v.mirror]
    # the window found something at 9 s (shot 2: samples 16-23, 8-11.5 s): its mirror image is looked at in shots 1-3
    looked = SSCDSignal().refine(coarse, {vid: np.array([9.0])})
    added = looked.times[len(coarse) :]
    assert looked.pending is not None and added.min() >= 4.0 and added.max() < 16.0
    # the window then beats its mirror image there: completed in shots 1-3 only, not in shots 0 and 4
    done = SSCDSignal().refine(looked, {vid: np.array([9.0])})
    added = done.times[len(looked) :]
    assert done.pending is None and len(added) == 3 * 6  # 8 samples a shot, 2 of them coarse
    assert added.min() >= 4.0 and added.max() < 16.0
    assert set(done.variant_ids[len(looked) :].tolist()) == {vid}
    # nothing wanted: nothing added, and nothing left to ask for
    idle = SSCDSignal().refine(coarse, {})
    assert idle.pending is None and len(idle) == len(coarse)


def test_batched_thumbnails_equal_the_per_picture_ones():
    rng = np.random.default_rng(8)
    imgs = (rng.random((4, 90, 160)) * 255).astype(np.uint8)
    imgs[1] = 3  # blank: no thumbnail
    box = (10, 5, 150, 85)
    batch = thumbnails(imgs, box)
    assert batch[1] is None
    for img, th in zip(imgs[[0, 2, 3]], [batch[0], batch[2], batch[3]], strict=True):
        assert np.abs(th.astype(int) - thumbnail(img, box).astype(int)).max() <= 1


@needs_sscd
def test_complete_embeds_every_variant_at_every_sample():
    rng = np.random.default_rng(5)
    frames = [(i / 2, (rng.random((72, 128)) * 255).astype(np.uint8)) for i in range(16)]
    layout = [Shot(a, a + 8, (Region(0, 0, 1, 1), Region(0.5, 0.5, 0.4, 0.4, "window"))) for a in (0, 8)]
    sig = SSCDSignal()
    full = sig.complete(sig.query_from_frames(frames, 8.0, layout=layout))
    assert full.pending is None
    assert len(full) == 16 * 4  # two regions, both mirror images, every sample
    uncascaded = sig.query_from_frames(frames, 8.0, layout=layout, cascade=False)
    order = lambda fp: np.lexsort((fp.times, fp.variant_ids))  # noqa: E731
    assert np.allclose(full.vectors[order(full)], uncascaded.vectors[order(uncascaded)], atol=1e-5)
