"""Contract every signal type must pass, plus the video descriptor's designed invariances."""

import numpy as np
import pytest

from hutong.fingerprint import SIGNAL_TYPES, Fingerprint
from hutong.fingerprint.video import _MIRROR, describe
from hutong.media import probe
from tests.conftest import BBB


@pytest.fixture(params=sorted(SIGNAL_TYPES))
def signal(request):
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
    assert np.median(best) > signal.threshold


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


def test_monotonic_grading_does_not_change_the_descriptor():
    rng = np.random.default_rng(4)
    img = rng.normal(128, 40, (72, 128)).clip(0, 255)
    img = np.asarray(img, np.float32)
    graded = 255 * (img / 255) ** 0.6  # gamma: a strictly monotonic tone curve
    box = (0, 0, 128, 72)
    assert float(describe(img, box) @ describe(graded, box)) > 0.999


def test_blank_picture_gives_no_vector():
    flat = np.full((72, 128), 16, np.uint8)
    assert not describe(flat, (0, 0, 128, 72)).any()
