"""Milvus-specific behaviour, against the real server of tests/index/conftest.py: a rebuild swaps whole
collections, a pointer that does not fit gets the index rebuilt, an unreachable server is a clear error."""

import json
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'hutong[milvus]')")

from hutong.config import Settings  # noqa: E402
from hutong.errors import HutongError  # noqa: E402
from hutong.fingerprint import Fingerprint, VideoDCTSignal  # noqa: E402
from hutong.index.milvus_backend import MilvusIndex, MilvusUnavailable, client  # noqa: E402
from hutong.match.index import RecognitionIndex, checkpoint_paths  # noqa: E402


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


@pytest.mark.parametrize("prefix", ["", "1abc", "a-b", "x" * 65])
def test_bad_collection_prefixes_are_refused(prefix):
    with pytest.raises(ValueError, match="milvus_collection_prefix"):
        Settings(milvus_collection_prefix=prefix)


def test_the_cli_does_not_import_pymilvus():
    code = "import sys, hutong.index, hutong.cli.app; assert 'pymilvus' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
