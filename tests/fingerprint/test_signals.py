"""Contract every signal type must pass, plus the video descriptor's designed invariances."""

import numpy as np
import pytest

from hutong.fingerprint import SIGNAL_TYPES, Fingerprint, learned
from hutong.fingerprint.video import _MIRROR, describe
from hutong.media import probe
from tests.conftest import BBB


@pytest.fixture(params=sorted(SIGNAL_TYPES))
def signal(request):
    if request.param == "video.sscd" and not learned.available():
        pytest.skip("the learned descriptor's optional extra is not installed (pip install 'hutong[sscd]')")
    return SIGNAL_TYPES[request.param]()


def test_reference_fingerprint_contract(signal):
    info = probe(BBB)
    fp = signal.reference(str(BBB), info)
    assert fp.signal == signal.name and len(fp) > 20
    assert fp.vectors.shape == (len(fp), signal.dim) and fp.vectors.dtype == np.float32
    assert np.all(np.diff(fp.times) > 0), "reference times increase"
    norms = np.linalg.norm(fp.vectors, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0)), "unit vectors (or zero for blank)"
    assert fp.times[-1] <= info.duration + 0.5


def test_query_of_the_reference_itself_hits(signal):
    info = probe(BBB)
    ref = signal.reference(str(BBB), info)
    q = signal.query(str(BBB), info)
    best = (q.vectors @ ref.vectors.T).max(axis=1)
    # a query may be sampled more densely than its reference: judge each reference step by its best sample
    step = np.floor(q.times * signal.fps + 1e-6).astype(int)
    per_step = [best[step == k].max() for k in np.unique(step)]
    assert np.median(per_step) > signal.threshold


def test_pack_roundtrip_keeps_similarity(signal):
    fp = signal.reference(str(BBB), probe(BBB))
    times, vectors = fp.pack()
    back = Fingerprint.unpack(fp.signal, signal.dim, times, vectors, fp.duration)
    assert np.array_equal(back.times, fp.times)
    live = np.linalg.norm(fp.vectors, axis=1) > 0
    cos = np.sum(back.vectors[live] * fp.vectors[live], axis=1)
    assert cos.min() > 0.995
    assert len(vectors) == len(fp) * signal.dim, "one byte per dimension"


def test_mirror_is_a_sign_flip_of_odd_horizontal_frequencies():
    rng = np.random.default_rng(3)
    img = (rng.random((90, 160)) * 255).astype(np.uint8)
    img = np.cumsum(np.cumsum(img, 0), 1) % 251  # structured, not white noise
    box = (0, 0, 160, 90)
    a = describe(img.astype(np.uint8), box)
    b = describe(img[:, ::-1].astype(np.uint8).copy(), box)
    assert np.allclose(a * _MIRROR, b, atol=1e-4)
    assert not np.allclose(a, b, atol=1e-2)


def test_grading_barely_changes_the_descriptor():
    rng = np.random.default_rng(4)
    img = np.cumsum(np.cumsum(rng.normal(0, 1, (72, 128)), 0), 1)
    img = np.asarray(255 * (img - img.min()) / np.ptp(img), np.float32)
    box = (0, 0, 128, 72)
    base = describe(img, box)
    assert float(base @ describe(0.6 * img + 40, box)) > 0.9999  # contrast and brightness cancel exactly
    assert float(base @ describe(255 * (img / 255) ** 0.6, box)) > 0.97  # gamma: a tone curve, nearly
    other = describe(np.ascontiguousarray(img[::-1]), box)
    assert float(base @ other) < 0.9  # while a different picture is far


def test_blank_picture_gives_no_vector():
    flat = np.full((72, 128), 16, np.uint8)
    assert not describe(flat, (0, 0, 128, 72)).any()
