"""An approximate index only names candidate works: their stored rows are compared at full precision, so a
clip is recognised as the catalogue's exact index recognises it, whatever else the index holds."""

from __future__ import annotations

import numpy as np
import pytest

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.fingerprint import Fingerprint
from hutong.match import service
from hutong.match.index import RecognitionIndex, catalogue_generation, load_fingerprints, row_keys

STRANGER = 999  # a work the index holds and the catalogue does not (removed since, or another shard's)


@pytest.fixture(scope="module")
def approximate(registered_home):
    """The registered catalogue recognised twice: by its exact index, and by an IVF-PQ index of its works
    plus 15,000 vectors of a work it does not hold (enough, once thinned, to train real quantisers)."""
    exact = Hutong.create(get_settings(home=registered_home))
    approx = Hutong.create(get_settings(home=registered_home))
    rng = np.random.default_rng(3)
    for signal in approx.recognizer.signals:
        rows = load_fingerprints(approx.db, signal)
        noise = rng.normal(size=(15000, signal.dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        times = np.arange(15000, dtype=np.float32) / signal.fps
        rows.append((STRANGER, Fingerprint(signal.name, times, noise, float(times[-1]))))
        idx = RecognitionIndex.build(signal, rows, "faiss-ivfpq", catalogue_generation(approx.db))
        assert idx.backend.similarity_slack > 0 and idx.backend._ivf() is not None  # really quantised
        approx.recognizer.serve(idx)
    yield exact, approx
    exact.close()
    approx.close()


def test_a_clip_is_recognised_as_the_exact_index_recognises_it(approximate, two_work_clip):
    exact, approx = approximate
    want = exact.recognizer.match(two_work_clip.path).segments
    got = approx.recognizer.match(two_work_clip.path).segments
    assert {s.work_id for s in got} == {s.work_id for s in want} == {1, 2}
    assert len(got) == len(want)
    in_order = lambda segs: sorted(segs, key=lambda s: s.query_start)  # noqa: E731
    for a, b in zip(in_order(got), in_order(want), strict=True):
        assert (a.work_id, a.signals) == (b.work_id, b.signals)
        assert a.query_start == pytest.approx(b.query_start, abs=0.01)
        assert a.ref_start == pytest.approx(b.ref_start, abs=0.01)
        assert a.score == pytest.approx(b.score, abs=0.01)  # exact similarities, not the codes' estimates


def test_candidates_are_scored_exactly_and_unknown_works_drop_out(approximate, monkeypatch):
    _, approx = approximate
    rec = approx.recognizer
    signal = rec.signals[-1]
    idx = rec.index(signal)
    (wid, fp), *_ = load_fingerprints(approx.db, signal)
    queries = fp.vectors[np.linalg.norm(fp.vectors, axis=1) > 0][:20]
    _, keys = idx.search(queries, 8)
    # the works the index names, and one it could name that the catalogue does not hold ...
    named = sorted({int(w) for w in idx.work_ids[keys[keys >= 0]]} | {STRANGER})
    monkeypatch.setattr(service, "EXACT_WORKS", 1)
    exact, rows = rec._exact_neighbours(signal, queries, named, 8)
    found = rows != -1
    assert found.any() and STRANGER not in set(idx.work_ids[rows[found]].tolist())  # ... the catalogue not
    stored = dict(zip(row_keys(np.full(len(fp), wid), fp.times).tolist(), fp.vectors, strict=True))
    for i, j in zip(*np.nonzero(found), strict=True):  # every similarity is the stored vector's, exactly
        assert exact[i, j] == pytest.approx(float(queries[i] @ stored[int(rows[i, j])]), abs=1e-5)
    assert (np.diff(exact, axis=1) <= 1e-6).all()  # best first
    assert len(rec._exact) <= 1  # the least recently used works are let go
