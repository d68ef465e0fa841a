"""The contract every index backend must pass (the numpy backend is the trivial reference)."""

import faiss
import numpy as np
import pytest

from hutong.errors import HutongError
from hutong.index import BACKENDS, backend


def _unit(rng, n, d):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=sorted(BACKENDS))
def be_cls(request):
    if request.param == "milvus":  # a real server: started once for the session (tests/index/conftest.py)
        request.getfixturevalue("milvus_server")
    return BACKENDS[request.param]


@pytest.mark.parametrize("n", [50, 6000])
def test_finds_itself_and_close_neighbours(be_cls, n):
    rng = np.random.default_rng(0)
    data = _unit(rng, n, 63)
    idx = be_cls(63)
    idx.build(data)
    assert len(idx) == n
    q = data[:20] + 0.05 * rng.normal(size=(20, 63)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    sims, ids = idx.search(q, 5)
    assert sims.shape == ids.shape == (20, 5)
    assert (ids[:, 0] == np.arange(20)).mean() >= 0.9
    assert np.all(np.diff(sims, axis=1) <= 1e-5), "best first"
    # approximate backends quantise: similarities are estimates (here truly ~0.93; quantised codes of
    # isotropic noise lose the most, down to 0.69 here)
    assert np.all(sims[:, 0] > 0.6)


def test_empty_index_and_k_larger_than_index(be_cls):
    idx = be_cls(8)
    idx.build(np.zeros((0, 8), np.float32))
    sims, ids = idx.search(np.ones((2, 8), np.float32) / np.sqrt(8), 3)
    assert (ids == -1).all() and np.isneginf(sims).all()
    idx.build(_unit(np.random.default_rng(1), 2, 8))
    sims, ids = idx.search(_unit(np.random.default_rng(2), 1, 8), 4)
    assert set(ids[0, :2]) == {0, 1} and (ids[0, 2:] == -1).all()


def test_save_load_roundtrip(be_cls, tmp_path):
    rng = np.random.default_rng(3)
    data = _unit(rng, 300, 16)
    idx = be_cls(16)
    idx.build(data)
    idx.save(tmp_path / "x.idx")
    back = be_cls.load(tmp_path / "x.idx", 16)
    assert len(back) == 300
    assert np.array_equal(idx.search(data[:5], 3)[1], back.search(data[:5], 3)[1])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(HutongError, match="unknown index backend 'annoy'"):
        backend("annoy")


def test_milvus_without_pymilvus_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(BACKENDS, "milvus", raising=False)  # as where pymilvus is not installed
    with pytest.raises(HutongError, match=r"needs pymilvus: pip install 'hutong\[milvus\]'"):
        backend("milvus")


def test_ivfpq_is_compact_at_scale():
    rng = np.random.default_rng(4)
    data = _unit(rng, 20000, 63)
    idx = BACKENDS["faiss-ivfpq"](63)
    idx.build(data)
    # 10-byte codes + 8-byte ids per vector, plus the centroids and codebooks counted once
    assert 20000 * 18 <= idx.nbytes() < 20000 * 63 * 4 / 8
    ivf = faiss.downcast_index(faiss.extract_index_ivf(idx._index))
    # coarse centroids are held in half precision (70 padded dimensions, 2 bytes each) and counted so
    assert faiss.downcast_index(ivf.quantizer).code_size == ivf.d * 2 == 140
    tables = ivf.pq.M * ivf.pq.ksub * ivf.pq.dsub * 4
    assert idx.nbytes() == 20000 * 18 + ivf.nlist * ivf.d * 2 + tables


# in-process backends that keep the ids they are given (Milvus, a server, has its own tests)
ID_BACKENDS = sorted(name for name, cls in BACKENDS.items() if cls.stores_ids and not cls.incremental)


@pytest.mark.parametrize("name", ID_BACKENDS)
@pytest.mark.parametrize("n", [50, 6000])  # the exact index of a small catalogue, and the trained one
def test_backends_that_store_ids_return_the_ids_given(name, n, tmp_path):
    rng = np.random.default_rng(5)
    data = _unit(rng, n, 63)
    ids = (np.arange(n, dtype=np.int64) << 32) | rng.integers(0, 2**32, n)  # large ids, as keys are
    idx = BACKENDS[name](63)
    idx.build(data, ids)
    sims, got = idx.search(data[:20], 3)
    assert (got[:, 0] == ids[:20]).mean() >= 0.9
    idx.save(tmp_path / "x.idx")
    back = BACKENDS[name].load(tmp_path / "x.idx", 63)
    assert np.array_equal(back.search(data[:20], 3)[1], got)
    with pytest.raises(ValueError, match="ids for"):
        idx.build(data, ids[:-1])


@pytest.mark.parametrize("name", ID_BACKENDS)
def test_learned_vectors_are_rotated_and_compressed(name):
    """512-d descriptors: OPQ-rotated, 8-byte codes; neighbours of noisy copies are still found. Learned
    descriptors spread their energy unevenly (why they are rotated): so does this data, in random
    directions. On isotropic 512-d noise 8 bytes keep too little of any vector to rank by."""
    rng = np.random.default_rng(6)
    spectrum = 1 / np.sqrt(np.arange(1, 513))
    directions = np.linalg.qr(rng.normal(size=(512, 512)))[0]
    data = (rng.normal(size=(6000, 512)) * spectrum) @ directions.T
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    idx = BACKENDS[name](512)
    idx.build(data)
    q = data[:20] + 0.02 * rng.normal(size=(20, 512)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, got = idx.search(q, 5)
    assert (got == np.arange(20)[:, None]).any(axis=1).mean() >= 0.9
    assert idx.code_bytes == 8
    # a copy's inner product with a code shrinks with the energy the code keeps; the estimate undoes that
    truth = (q * data[:20]).sum(axis=1)
    sims, got = idx.search(q, 1)
    assert 0.5 < idx.code_energy() < 0.95
    assert np.median(np.abs(sims[got[:, 0] == np.arange(20), 0] - truth[got[:, 0] == np.arange(20)])) < 0.1
    assert idx.nbytes() < 6000 * 512 * 4 / 5  # the rotation (1 MB) and codebooks weigh most at this size


@pytest.mark.parametrize("pool", [256_000, 2000])
def test_ivfpq_builds_from_batches_read_twice(monkeypatch, pool):
    """``build_from`` never needs every vector at once: a share of the first reading trains (all of it
    when that is few enough: then the index is the one ``build`` makes), the second is added."""
    from hutong.index import faiss_backends

    monkeypatch.setattr(faiss_backends, "TRAIN_POOL", pool)
    rng = np.random.default_rng(9)
    data, ids = _unit(rng, 6000, 63), np.arange(6000, dtype=np.int64) * 3 + 5
    reads = []

    def batches():
        reads.append(1)
        for start in range(0, 6000, 1000):
            yield data[start : start + 1000], ids[start : start + 1000]

    idx = BACKENDS["faiss-ivfpq"](63)
    idx.build_from(batches)  # counted while the training sample is drawn
    assert len(reads) == 2 and len(idx) == 6000
    q = data[:50] + 0.03 * rng.normal(size=(50, 63)).astype(np.float32)
    _, got = idx.search(q / np.linalg.norm(q, axis=1, keepdims=True), 1)
    assert (got[:, 0] == ids[:50]).mean() >= 0.9
    if pool > 6000:
        whole = BACKENDS["faiss-ivfpq"](63)
        whole.build(data, ids)
        assert np.array_equal(whole.search(q, 5)[1], idx.search(q, 5)[1])


def test_ivfpq_build_from_refuses_batches_that_change_or_do_not_pair_up():
    data = _unit(np.random.default_rng(10), 5000, 63)
    sizes = iter([5000, 4999])  # a row gone between the two readings

    def shrinking():
        m = next(sizes)
        return [(data[:m], np.arange(m))]

    with pytest.raises(ValueError, match="4999 vectors added for a build of 5000"):
        BACKENDS["faiss-ivfpq"](63).build_from(shrinking)
    with pytest.raises(ValueError, match="5000 vectors given for a build of 4000"):
        BACKENDS["faiss-ivfpq"](63).build_from(lambda: [(data, np.arange(5000))], 4000)
    with pytest.raises(ValueError, match="4999 ids for 5000 vectors"):
        BACKENDS["faiss-ivfpq"](63).build_from(lambda: [(data, np.arange(4999))], 5000)


def test_a_checkpoint_of_other_dimensions_is_refused(tmp_path):
    idx = BACKENDS["faiss-ivfpq"](16)
    idx.build(_unit(np.random.default_rng(7), 100, 16))
    idx.save(tmp_path / "x.idx")
    with pytest.raises(ValueError, match="not 63-d ones"):
        BACKENDS["faiss-ivfpq"].load(tmp_path / "x.idx", 63)


def test_fewer_lists_scanned_find_less_and_nprobe_is_checked(tmp_path):
    """``set_nprobe`` reaches the trained index (and one loaded from a checkpoint); 0 lists is refused."""
    rng = np.random.default_rng(8)
    data = _unit(rng, 20_000, 63)
    idx = BACKENDS["faiss-ivfpq"](63)
    idx.build(data)
    q = data[:200] + 0.05 * rng.normal(size=(200, 63)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)

    def recall(index) -> float:
        return float((index.search(q, 1)[1][:, 0] == np.arange(200)).mean())

    wide = recall(idx)
    idx.set_nprobe(1)
    assert recall(idx) < wide
    idx.save(tmp_path / "x.idx")
    back = BACKENDS["faiss-ivfpq"].load(tmp_path / "x.idx", 63)
    assert recall(back) == wide  # a checkpoint searches at the backend's own setting
    back.set_nprobe(1)
    assert recall(back) < wide
    with pytest.raises(ValueError, match="at least 1"):
        idx.set_nprobe(0)


def test_a_checkpoint_counts_the_code_size_it_was_built_with(tmp_path):
    """A checkpoint built with other codes than today's (``code_bytes`` changed since) reports its own memory."""
    data = _unit(np.random.default_rng(9), 4200, 63)
    old = BACKENDS["faiss-ivfpq"](63)
    old.code_bytes = 7  # 63 dimensions padded to 70 split evenly into 7 sub-quantisers
    old.build(data)
    old.save(tmp_path / "x.idx")
    back = BACKENDS["faiss-ivfpq"].load(tmp_path / "x.idx", 63)
    assert back.code_bytes == 10
    assert back.nbytes() == old.nbytes()  # 7-byte codes counted, not 10


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_training_sample_is_uniform_whatever_the_batches(monkeypatch, chunk):
    """One reading of unknown length gives ``TRAIN_POOL`` distinct rows spread over all of it, in reading
    order; fewer rows than that come back whole."""
    from hutong.index import faiss_backends

    monkeypatch.setattr(faiss_backends, "TRAIN_POOL", 300)
    rows = np.arange(6000, dtype=np.float32)[:, None]  # a row's value is its position
    pool, seen = faiss_backends._uniform_sample((rows[i : i + chunk] for i in range(0, 6000, chunk)), 1)
    got = pool[:, 0]
    assert seen == 6000 and len(got) == 300 and len(np.unique(got)) == 300
    assert np.all(np.diff(got) > 0)  # reading order
    # spread over the whole reading: each sixth holds about a sixth of the sample (50 expected)
    assert all(25 <= n <= 75 for n in np.histogram(got, bins=6, range=(0, 6000))[0])
    few, n = faiss_backends._uniform_sample((rows[:200][i : i + chunk] for i in range(0, 200, chunk)), 1)
    assert n == 200 and np.array_equal(few[:, 0], np.arange(200))
    empty, n = faiss_backends._uniform_sample(iter([]), 4)
    assert n == 0 and empty.shape == (0, 4)


def test_ivfpq_keeps_no_precomputed_table_so_nbytes_is_all_it_holds(tmp_path):
    """FAISS would keep nlist x M x 256 floats beside the codes (46 MB at 1,000 h of ``video.dct``): turned
    off after training and again after loading a checkpoint; were one there, ``nbytes`` would count it."""
    data = _unit(np.random.default_rng(12), 20000, 63)
    idx = BACKENDS["faiss-ivfpq"](63)
    idx.build(data)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(idx._index))
    assert ivf.use_precomputed_table == -1 and ivf.precomputed_table.size() == 0
    idx.save(tmp_path / "x.idx")
    back = BACKENDS["faiss-ivfpq"].load(tmp_path / "x.idx", 63)
    bivf = faiss.downcast_index(faiss.extract_index_ivf(back._index))
    assert bivf.use_precomputed_table == -1 and bivf.precomputed_table.size() == 0
    q = data[:30]
    assert np.array_equal(back.search(q, 5)[1], idx.search(q, 5)[1])  # the same answers without it
    lean = back.nbytes()
    bivf.use_precomputed_table = 1
    bivf.precompute_table()
    assert back.nbytes() == lean + bivf.nlist * bivf.pq.M * bivf.pq.ksub * 4


def test_ivfpq_keeps_ids_the_caller_chose_even_negative_ones():
    # FAISS marks a missing neighbour with -1 alone: any other id, negative included, is a neighbour
    data = _unit(np.random.default_rng(4), 3, 8)
    idx = BACKENDS["faiss-ivfpq"](8)
    idx.build(data, ids=np.array([-5, -(1 << 40), 7], np.int64))
    sims, ids = idx.search(data, 4)
    assert ids[:, 0].tolist() == [-5, -(1 << 40), 7]
    assert np.isfinite(sims[:, :3]).all() and ids[0, 3] == -1 and np.isneginf(sims[0, 3])
