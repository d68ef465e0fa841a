"""Milvus-specific behaviour, against the real server of tests/index/conftest.py: a rebuild swaps whole
collections, a pointer that does not fit gets the index rebuilt, an unreachable server is a clear error."""

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'hutong[milvus]')")

from hutong.app import Hutong  # noqa: E402
from hutong.config import Settings, get_settings  # noqa: E402
from hutong.errors import HutongError, Unavailable  # noqa: E402
from hutong.fingerprint import Fingerprint, VideoDCTSignal  # noqa: E402
from hutong.index import milvus_backend, milvus_local  # noqa: E402
from hutong.index.milvus_backend import MilvusIndex, MilvusUnavailable, client  # noqa: E402
from hutong.match.index import (  # noqa: E402
    TIME_BITS,
    RecognitionIndex,
    build_index,
    catalogue_generation,
    checkpoint_paths,
    load_fingerprint_versions,
)
from tests.conftest import BBB, EVERY_SIGNAL  # noqa: E402


def _unit(seed, n, d=63):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _rows(seed, works):
    sig = VideoDCTSignal()
    return [
        (wid, Fingerprint(sig.name, np.arange(n, dtype=np.float32) / 2, _unit(seed + wid, n), n / 2))
        for wid, n in works
    ]


def _collections(settings):
    return {c for c in client(settings).list_collections() if c.startswith(settings.milvus_collection_prefix)}


def test_rebuild_swaps_whole_collections(milvus_server, tmp_path):
    sig, s = VideoDCTSignal(), Settings()
    old = RecognitionIndex.build(sig, _rows(0, [(1, 300), (2, 200)]), "milvus", generation=1)
    old.save(tmp_path)
    q = _unit(1, 5)  # work 1's first vectors

    def first_of_work_1(idx) -> bool:
        keys = idx.search(q, 1)[1][:, 0]
        return bool((idx.work_ids[keys] == 1).all() and (idx.times[keys] == np.arange(5) / 2).all())

    assert first_of_work_1(old)
    new = RecognitionIndex.build(sig, _rows(10, [(1, 300), (3, 400)]), "milvus", generation=2)
    assert new.backend.collection != old.backend.collection
    assert not any("_building_" in c for c in _collections(s)), "staging collections are renamed or dropped"
    # until the checkpoint moves on, a process holding the old index still searches all of it
    assert len(old.backend) == 500 and first_of_work_1(old)
    new.backend.grace_seconds = 0.0
    new.save(tmp_path)  # the old pointer still named the old collection while this one was written
    back = RecognitionIndex.load(tmp_path, sig, "milvus")
    assert back is not None and back.generation == 2 and len(back.backend) == 700
    assert back.backend.collection == new.backend.collection
    new.save(tmp_path)  # now nothing names the old collection: it goes
    assert old.backend.collection not in _collections(s)
    assert new.backend.collection in _collections(s)
    with pytest.raises(MilvusUnavailable, match="failed to search"):
        old.search(q, 1)


def test_the_same_catalogue_reuses_its_collection(milvus_server):
    data = _unit(20, 1500)
    a, b = MilvusIndex(63), MilvusIndex(63)
    a.build(data)
    before = _collections(a.settings)
    b.build(data.copy())
    assert b.collection == a.collection and _collections(a.settings) == before
    c = MilvusIndex(63)
    c.build(data[:-1])  # one vector less is another catalogue
    assert c.collection != a.collection


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "rows": p["rows"] + 1},
        lambda p: {**p, "dim": 16},
        lambda p: {**p, "uri": "http://127.0.0.1:1"},
        lambda p: {**p, "collection": p["collection"] + "_gone"},
        lambda p: {**p, "collection": None},
        lambda p: {**p, "format": 99},
    ],
    ids=["rows", "dim", "uri", "collection", "no-collection", "format"],
)
def test_a_pointer_that_does_not_fit_gets_the_index_rebuilt(milvus_server, tmp_path, tamper):
    sig = VideoDCTSignal()
    idx = RecognitionIndex.build(sig, _rows(30, [(1, 100)]), "milvus", generation=4)
    idx.save(tmp_path)
    pointer, _ = checkpoint_paths(tmp_path, sig.name, "milvus")
    p = json.loads(pointer.read_text())
    assert p["collection"] == idx.backend.collection and p["rows"] == 100 and p["dim"] == 63
    assert len(MilvusIndex.load(pointer, 63)) == 100
    pointer.write_text(json.dumps(tamper(p)))
    with pytest.raises(ValueError):
        MilvusIndex.load(pointer, 63)
    assert RecognitionIndex.load(tmp_path, sig, "milvus") is None  # open_index rebuilds from the database


def test_an_empty_catalogue_has_no_collection(milvus_server, tmp_path):
    idx = MilvusIndex(63)
    idx.build(np.zeros((0, 63), np.float32))
    assert idx.collection is None and len(idx) == 0 and idx.nbytes() == 0
    idx.save(tmp_path / "e.idx")
    back = MilvusIndex.load(tmp_path / "e.idx", 63)
    assert len(back) == 0 and (back.search(_unit(1, 2), 3)[1] == -1).all()


def test_nbytes_reports_what_the_server_holds(milvus_server):
    idx = MilvusIndex(63)
    idx.build(_unit(40, 5000))
    assert 5000 * 63 * 0.5 < idx.nbytes() < 5000 * 63 * 4 * 3  # 8-bit codes or raw rows, never nothing


def test_a_large_build_merges_its_segments_before_indexing(milvus_server, monkeypatch):
    """Big builds merge the segments Milvus sealed while rows streamed in, then index once (else Milvus
    merges them after loading and indexes each merged segment again while searches crawl)."""
    monkeypatch.setattr(milvus_backend, "COMPACT_ROWS", 1000)
    monkeypatch.setattr(milvus_backend, "INSERT_BATCH", 500)  # several inserts: something to merge
    rounds = []
    compact = MilvusIndex._compact
    monkeypatch.setattr(
        MilvusIndex, "_compact", lambda self, c, n: rounds.append(compact(self, c, n)) or rounds[-1]
    )
    data = _unit(50, 3000)
    idx = MilvusIndex(63)
    idx.build(data)
    assert rounds and rounds[-1] is False, rounds  # it stopped when a compaction found nothing to merge
    c = client(idx.settings)
    assert c.describe_index(idx.collection, "vector")["pending_index_rows"] == 0
    stored = c.list_persistent_segments(idx.collection)
    assert len(stored) == len(c.list_loaded_segments(idx.collection)), "segments merged after loading"
    assert len(idx) == 3000 and idx._count() == 3000
    sims, ids = idx.search(data[[0, 1234, 2999]], 1)
    assert ids[:, 0].tolist() == [0, 1234, 2999] and (sims[:, 0] > 0.98).all()


def test_a_build_past_the_merge_limit_indexes_its_segments_as_they_stand(milvus_server, monkeypatch):
    """Past ``MERGE_MAX_ROWS`` a build does not merge (a merge writes every row again); it is still whole."""
    monkeypatch.setattr(milvus_backend, "COMPACT_ROWS", 1000)
    monkeypatch.setattr(milvus_backend, "MERGE_MAX_ROWS", 2000)
    monkeypatch.setattr(milvus_backend, "INSERT_BATCH", 500)
    monkeypatch.setattr(MilvusIndex, "_compact", lambda self, c, n: pytest.fail("merged past the limit"))
    data = _unit(51, 3000)
    idx = MilvusIndex(63)
    idx.build(data)
    assert client(idx.settings).describe_index(idx.collection, "vector")["pending_index_rows"] == 0
    assert len(idx) == 3000 and idx._count() == 3000
    _, ids = idx.search(data[[0, 2999]], 1)
    assert ids[:, 0].tolist() == [0, 2999]


def test_background_work_that_never_finishes_is_a_retryable_error(monkeypatch):
    """Compaction and indexing are polled with a deadline that grows with the rows; past it, a clear error."""
    now = [0.0]
    monkeypatch.setattr(milvus_backend.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(milvus_backend.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    polls = []
    with pytest.raises(MilvusUnavailable, match="did not finish indexing c in time; retry the rebuild"):
        milvus_backend._wait_until("indexing c", lambda: polls.append(now[0]) and False, 2_000_000)
    assert 999 <= polls[-1] < 1000  # 2 M rows: 1,000 s, not the 600 s floor
    assert isinstance(MilvusUnavailable("x"), Unavailable)
    now[0] = 0.0
    milvus_backend._wait_until("compacting c", lambda: now[0] >= 3.0, 10)  # done after a few polls


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_an_unreachable_server_is_a_clear_error():
    uri = f"http://127.0.0.1:{_closed_port()}"
    idx = MilvusIndex(8, Settings(milvus_uri=uri, milvus_timeout=1.0))
    with pytest.raises(
        MilvusUnavailable, match=f"cannot reach Milvus at {uri}: start it or unset HUTONG_MILVUS_URI"
    ):
        idx.build(_unit(1, 10, 8))


def test_milvus_without_a_uri_is_a_clear_error():
    idx = MilvusIndex(8, Settings(milvus_uri=None))
    with pytest.raises(HutongError, match="needs HUTONG_MILVUS_URI"):
        idx.build(_unit(1, 10, 8))


def test_nprobe_is_ours_unless_the_installation_sets_it_and_never_above_nlist():
    assert milvus_backend._index_params(1_000_000) == (1000, 32)
    assert milvus_backend._index_params(1_000_000, 16) == (1000, 16)
    assert milvus_backend._index_params(100, 64) == (16, 16)  # a small collection has 16 lists to scan
    for bad in (-1, 1025):
        with pytest.raises(ValueError, match="milvus_nprobe"):
            Settings(milvus_nprobe=bad)


@pytest.mark.parametrize("prefix", ["", "1abc", "a-b", "x" * 65])
def test_bad_collection_prefixes_are_refused(prefix):
    with pytest.raises(ValueError, match="milvus_collection_prefix"):
        Settings(milvus_collection_prefix=prefix)


def test_the_cli_does_not_import_pymilvus():
    code = "import sys, hutong.index, hutong.cli.app; assert 'pymilvus' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- following the catalogue (a real catalogue: the three sample works) ---------------------------------


def _milvus_home(registered_home, tmp_path, **settings):
    home = tmp_path / "home"
    shutil.copytree(registered_home, home)
    # every signal the registered catalogue holds: a work added here gets video.dct's fingerprint too
    settings.setdefault("signals", EVERY_SIGNAL)
    return Hutong.create(get_settings(home=home, index_backend="milvus", **settings))


def _queries(h, sig, work_id):
    """The stored fingerprint of one work: searching with it finds that work first."""
    [(_, _, fp)] = load_fingerprint_versions(h.db, sig, [work_id])
    return fp.vectors[::4]


def _held_works(idx):
    return set(idx.work_ids[idx.held].tolist())


def _best_works(idx, q):
    sims, rows = idx.search(q, 1)
    # a close neighbour only: black frames (zero vectors) are not indexed and match nothing in particular
    close = (rows[:, 0] >= 0) & (sims[:, 0] >= 0.8)
    return set(idx.work_ids[rows[close, 0]].tolist())


def test_the_index_follows_the_catalogue_without_a_rebuild(milvus_server, registered_home, tmp_path):
    h = _milvus_home(registered_home, tmp_path)
    try:
        sig = VideoDCTSignal()
        q = _queries(h, sig, 1)
        idx = h.recognizer.index(sig)
        collection, rows = idx.backend.collection, len(idx.backend)
        assert _best_works(idx, q) == {1} and set(idx.versions[:, 0].tolist()) == {1, 2, 3}

        h.catalogue.remove(1)
        idx = h.recognizer.index(sig)
        assert idx.backend.collection == collection, "the same collection, changed in place"
        assert 1 not in _held_works(idx) and len(idx.backend) == len(idx.held) < rows
        held = client(h.settings).query(
            collection, filter=f"id >= {1 << TIME_BITS} and id < {2 << TIME_BITS}", output_fields=["id"]
        )
        assert held == [], "work 1's rows are deleted in Milvus, not only hidden"
        assert 1 not in _best_works(idx, q)

        again = h.catalogue.add_one(
            BBB, title="bbb again", holder="Blender Foundation", check_duplicates=False
        )
        idx = h.recognizer.index(sig)
        assert idx.backend.collection == collection and len(idx.backend) == rows
        assert _best_works(idx, q) == {again.work_id}
        # a process starting now loads the same checkpoint, and a whole rebuild finds the same works
        fresh = RecognitionIndex.load(h.settings.index_dir, sig, "milvus")
        assert (
            fresh is not None
            and fresh.generation == idx.generation
            and _best_works(fresh, q) == {again.work_id}
        )
        rebuilt = build_index(h.db, sig, "milvus", idx.generation)
        assert _best_works(rebuilt, q) == {again.work_id} and len(rebuilt.backend) == rows
    finally:
        h.close()


def test_a_rebuild_reads_a_few_works_at_a_time_into_the_collection_a_whole_build_makes(
    milvus_server, registered_home, tmp_path, monkeypatch
):
    """``build_index`` streams the fingerprints from the database (one work at a time here): the content,
    and so the collection, is the one a build from every fingerprint in memory makes."""
    from hutong.match import index as match_index

    monkeypatch.setattr(match_index, "REBUILD_WORKS", 1)
    # a prefix of its own: other tests followed the catalogue in collections of this same content
    h = _milvus_home(registered_home, tmp_path, milvus_collection_prefix=f"s{secrets.token_hex(4)}")
    try:
        sig = VideoDCTSignal()
        gen, rows = catalogue_generation(h.db), load_fingerprint_versions(h.db, sig)
        versions = np.array([(w, v) for w, v, _ in rows])
        whole = RecognitionIndex.build(
            sig, [(w, fp) for w, _, fp in rows], "milvus", gen, versions, h.settings
        )
        streamed = build_index(h.db, sig, "milvus", gen, h.settings)
        assert whole.backend.collection.startswith(h.settings.milvus_collection_prefix + "_")
        assert streamed.backend.collection == whole.backend.collection
        assert np.array_equal(streamed.held, whole.held) and np.array_equal(streamed.versions, whole.versions)
        assert _best_works(streamed, _queries(h, sig, 2)) == {2}
    finally:
        h.close()


def test_a_changed_collection_gets_the_index_rebuilt(milvus_server, registered_home, tmp_path):
    """Rows deleted behind hutong's back: the checkpoint no longer fits, the next change rebuilds."""
    h = _milvus_home(registered_home, tmp_path)
    try:
        sig = VideoDCTSignal()
        idx = h.recognizer.index(sig)
        client(h.settings).delete(idx.backend.collection, ids=[int(i) for i in idx.held[:10]])
        assert RecognitionIndex.load(h.settings.index_dir, sig, "milvus") is None
        h.catalogue.remove(2)
        again = h.recognizer.index(sig)
        assert len(again.backend) == len(again.held) and 2 not in _held_works(again)
        assert _best_works(again, _queries(h, sig, 1)) == {1}
    finally:
        h.close()


def test_the_installation_settings_reach_the_backend(milvus_server, registered_home, tmp_path, monkeypatch):
    """A Hutong built with explicit settings (no HUTONG_MILVUS_* in the environment) searches that Milvus."""
    prefix = f"x{secrets.token_hex(4)}"
    monkeypatch.delenv("HUTONG_MILVUS_URI")
    monkeypatch.delenv("HUTONG_MILVUS_COLLECTION_PREFIX")
    h = _milvus_home(
        registered_home, tmp_path, milvus_uri=milvus_server, milvus_collection_prefix=prefix, milvus_nprobe=3
    )
    try:
        idx = h.recognizer.index(VideoDCTSignal())
        assert idx.backend.collection.startswith(prefix + "_") and len(idx.backend) == len(idx.held) > 0
        back = RecognitionIndex.load(h.settings.index_dir, VideoDCTSignal(), "milvus", h.settings)
        assert back is not None and back.backend.collection == idx.backend.collection
        assert idx.backend._nprobe == back.backend._nprobe == 3  # built and loaded alike
    finally:
        h.close()


def _served(ask, within: float = 90.0):
    """``ask()`` tried as a client honouring Retry-After would, until it stops raising Unavailable; the bound
    only proves "not hanging"."""
    deadline = time.monotonic() + within
    while True:
        try:
            return ask()
        except Unavailable:
            assert time.monotonic() < deadline, "Milvus did not serve in time"
            time.sleep(1)


def test_a_build_from_batches_never_needs_them_all_at_once(milvus_server):
    """``build_from`` reads its batches twice (to name the content, then to insert it) and finds every row;
    batches that change between the two readings are refused and leave no collection behind."""
    data = _unit(60, 1500)
    reads = []

    def batches():
        reads.append(1)
        for start in range(0, 1500, 400):
            yield data[start : start + 400], np.arange(start, min(1500, start + 400)) + 7

    idx = MilvusIndex(63)
    idx.build_from(batches, 1500)
    assert len(reads) == 2 and len(idx) == 1500
    _, ids = idx.search(data[[0, 777, 1499]], 1)
    assert ids[:, 0].tolist() == [7, 784, 1506]

    again = MilvusIndex(63)
    again.build_from(batches, 1500)  # the same content: the collection is found, nothing inserted
    assert again.collection == idx.collection and len(reads) == 3  # read once, to name it

    before = _collections(idx.settings)
    sizes = iter([1500, 1499])  # a row gone between the two readings

    def shrinking():
        m = next(sizes)
        return [(data[:m], np.arange(m))]

    with pytest.raises(ValueError, match="1499 vectors inserted for a build of 1500"):
        MilvusIndex(63).build_from(shrinking, 1500)
    assert _collections(idx.settings) == before
    with pytest.raises(ValueError, match="1500 vectors given for a build of 1400"):
        MilvusIndex(63).build_from(lambda: [(data, np.arange(1500))], 1400)


def test_bulk_build_settings_each_replace_one_line_of_the_bundled_config():
    """``milvus_local.start`` (``bulk_build=True`` or not) edits the package's config by exact lines: each must be there
    once, or the server would start with a setting silently left as it was (start refuses that too)."""
    import milvus

    template = (Path(milvus.__file__).parent / "data" / "config.yaml.template").read_text()
    for was in [*milvus_local.ALWAYS, *milvus_local.BULK_BUILD]:
        assert template.count(was) == 1, was


# last in the module: the restarted server serves searches soon, but creating collections takes it a while
def test_a_restarted_milvus_fails_cleanly_then_recovers(milvus_process, registered_home, tmp_path):
    server, uri = milvus_process
    h = _milvus_home(registered_home, tmp_path, milvus_timeout=5.0)
    try:
        sig = VideoDCTSignal()
        q = _queries(h, sig, 2)
        # the first build may outlast the short timeout this test sets on a loaded machine: retried as a
        # client honouring Retry-After would
        assert _served(lambda: _best_works(h.recognizer.index(sig), q)) == {2}
        server.stop()
        with pytest.raises(Unavailable, match="Milvus at http://127.0.0.1:[0-9]+"):
            h.recognizer.index(sig).search(q, 1)
        milvus_local.restart(server)
        assert f"http://127.0.0.1:{server.listen_port}" == uri, "restarted on its own port"
        # each try fails cleanly until Milvus serves again
        assert _served(lambda: _best_works(h.recognizer.index(sig), q)) == {2}, (
            "the process recovers by itself"
        )
    finally:
        h.close()
