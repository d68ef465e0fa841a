"""Index checkpoints shared by several processes: one rebuilds a stale checkpoint, the others load it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import Unavailable
from hutong.fingerprint import SIGNAL_TYPES, default_signals
from hutong.match import index as match_index
from hutong.match.index import (
    RecognitionIndex,
    build_index,
    catalogue_generation,
    checkpoint_paths,
    load_fingerprints,
    open_index,
)

PROCESSES = 4
REBUILDS = 10


def _match_together(home: str, clip: str, barrier, results) -> None:
    """One ``hutong match`` then a few ``hutong index rebuild``, started at the same moment as the others."""
    try:
        h = Hutong.create(get_settings(home=Path(home)))
        try:
            info, fps = h.recognizer.fingerprint_query(clip)
            folder, name = h.settings.index_dir, h.settings.index_backend
            barrier.wait(timeout=120)
            report = h.recognizer.match_fingerprints(clip, info.duration, fps).as_dict()
            for _ in range(REBUILDS):
                gen = catalogue_generation(h.db)
                for signal in h.recognizer.signals:
                    RecognitionIndex.build(signal, load_fingerprints(h.db, signal), name, gen).save(folder)
            results.put(("ok", report))
        finally:
            h.close()
    except BaseException as exc:  # noqa: BLE001 - the parent reports whatever went wrong
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_concurrent_matches_after_a_catalogue_change_all_succeed_alike(registered, two_work_clip):
    """Issue 9: after a catalogue change, concurrent ``hutong match`` runs rebuilt the stale checkpoint at
    once through one fixed temporary file name, and some crashed with FileNotFoundError. Here four
    processes start together: each matches the clip (rebuilding the stale checkpoints, or waiting for the
    one that does) and then rewrites the checkpoints a few times, as ``hutong index rebuild`` does."""
    clip = str(two_work_clip.path)
    before = registered.recognizer.match(clip)  # writes current checkpoints
    assert {s.work_id for s in before.segments} == {1, 2}
    registered.catalogue.remove(1)  # every checkpoint is now stale

    ctx = multiprocessing.get_context("spawn")  # fresh processes, as separate `hutong` runs are
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    home = str(registered.settings.home)
    procs = [
        ctx.Process(target=_match_together, args=(home, clip, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in procs]  # a bound that only proves "not hanging"
    for p in procs:
        p.join(timeout=60)
    assert [status for status, _ in got] == ["ok"] * PROCESSES, got
    reports = [report for _, report in got]
    assert all(r == reports[0] for r in reports), reports
    assert {s["work_id"] for s in reports[0]["segments"]} == {2}, "the removed work is no longer matched"
    assert reports[0] == registered.recognizer.match(clip).as_dict()
    folder = registered.settings.index_dir
    assert not [f.name for f in folder.iterdir() if f.name.endswith(".tmp")], "no temporary files left"


def test_a_stale_checkpoint_is_rebuilt_once_and_then_loaded(registered):
    signal = default_signals()[0]
    folder, name = registered.settings.index_dir, registered.settings.index_backend
    first = open_index(registered.db, signal, folder, name)
    registered.catalogue.remove(1)
    rebuilt = open_index(registered.db, signal, folder, name)
    assert rebuilt.generation == first.generation + 1
    assert 1 not in set(rebuilt.work_ids[rebuilt.all_keys()].tolist())
    loaded = RecognitionIndex.load(folder, signal, name)
    assert loaded is not None and loaded.generation == rebuilt.generation
    assert loaded.all_keys().tolist() == rebuilt.all_keys().tolist()
    assert len(loaded.backend) == len(rebuilt.backend)


def test_two_backends_of_one_signal_keep_separate_checkpoints(registered):
    """``video.dct`` has a dot: a name built with ``with_suffix`` dropped the backend and two backends
    shared one file."""
    signal = SIGNAL_TYPES["video.dct"]()
    folder, gen = registered.settings.index_dir, catalogue_generation(registered.db)
    rows = load_fingerprints(registered.db, signal)
    for name in ("numpy-flat", "faiss-ivfpq"):
        RecognitionIndex.build(signal, rows, name, gen).save(folder)
    assert {p.name for p in folder.glob("video.dct.*.idx")} >= {
        "video.dct.numpy-flat.idx",
        "video.dct.faiss-ivfpq.idx",
    }
    for name in ("numpy-flat", "faiss-ivfpq"):
        loaded = RecognitionIndex.load(folder, signal, name)
        assert loaded is not None and loaded.backend.name == name
    flat = RecognitionIndex.load(folder, signal, "numpy-flat")
    assert flat.keys is not None and len(flat.keys) == len(flat.backend)  # row numbers mapped to keys
    assert RecognitionIndex.load(folder, signal, "faiss-ivfpq").keys is None  # the backend holds them


def test_a_checkpoint_built_with_other_near_duplicate_settings_is_rebuilt(registered, monkeypatch):
    """Rows were chosen by the settings of the day: thinning ``audio.bands`` differently is another index."""
    signal = SIGNAL_TYPES["audio.bands"]()
    folder, name = registered.settings.index_dir, registered.settings.index_backend
    thinned = open_index(registered.db, signal, folder, name)
    assert RecognitionIndex.load(folder, signal, name) is not None
    monkeypatch.setitem(match_index.DEDUPE, "audio.bands", (-1.0, 0.25))  # every window kept
    assert RecognitionIndex.load(folder, signal, name) is None
    every = open_index(registered.db, signal, folder, name)
    assert len(every.backend) > 2.5 * len(thinned.backend)  # one window in three, before
    assert RecognitionIndex.load(folder, signal, name) is not None  # the new settings' checkpoint was saved


def test_a_damaged_or_old_checkpoint_is_rebuilt(registered):
    signal = default_signals()[0]
    folder, name = registered.settings.index_dir, registered.settings.index_backend
    good = open_index(registered.db, signal, folder, name)
    idx_path, meta_path = checkpoint_paths(folder, signal.name, name)
    idx_path.write_bytes(b"not an index")
    assert RecognitionIndex.load(folder, signal, name) is None
    again = open_index(registered.db, signal, folder, name)
    assert len(again.backend) == len(good.backend) and again.all_keys().tolist() == good.all_keys().tolist()
    assert RecognitionIndex.load(folder, signal, name) is not None, "the rebuilt checkpoint was saved"
    with open(meta_path, "wb") as fh:  # a checkpoint of the layout before keys (row arrays, no format)
        np.savez(fh, work_ids=np.zeros(3, np.int32), times=np.zeros(3, np.float32), generation=np.int64(0))
    assert RecognitionIndex.load(folder, signal, name) is None
    assert len(open_index(registered.db, signal, folder, name).backend) == len(good.backend)


def test_a_match_finds_the_same_work_and_instant_through_the_keys(shared_recognizer, two_work_clip):
    """Keys decode to the work and instant each row was built from."""
    signal = SIGNAL_TYPES["video.dct"]()
    idx = shared_recognizer.recognizer.index(signal)
    rows = load_fingerprints(shared_recognizer.db, signal)
    wid, fp = rows[-1]
    sims, keys = idx.search(fp.vectors[::7], 1)
    found = sims[:, 0] > 0.999  # the vector itself (or a kept twin of it)
    assert found.mean() > 0.5
    assert (idx.work_ids[keys[found, 0]] == wid).all()
    assert np.abs(idx.times[keys[found, 0]] - fp.times[::7][found]).max() <= 1.0  # one kept per second


def _keys_of(idx: RecognitionIndex, signal, rows) -> np.ndarray:
    """The key each reference vector of ``rows`` finds first (its own row, or a kept twin of it)."""
    vecs = np.concatenate([fp.vectors for _, fp in rows])
    return idx.search(vecs[np.linalg.norm(vecs, axis=1) > 0], 1)[1][:, 0]


def test_a_streamed_rebuild_reads_a_few_works_at_a_time_and_holds_what_a_whole_one_does(
    registered, monkeypatch
):
    """FAISS IVF-PQ (and Milvus) rebuild from fingerprints read a few works at a time, never all at once;
    the index answers as one built from everything in memory."""
    monkeypatch.setattr(match_index, "REBUILD_WORKS", 1)
    signal = SIGNAL_TYPES["video.dct"]()
    gen, rows = catalogue_generation(registered.db), load_fingerprints(registered.db, signal)
    chunks = []
    read = match_index.read_fingerprints

    def counted(*args):
        for chunk in read(*args):
            chunks.append(set(chunk[1].tolist()))
            yield chunk

    monkeypatch.setattr(match_index, "read_fingerprints", counted)
    streamed = build_index(registered.db, signal, "faiss-ivfpq", gen)
    assert len(chunks) == 2 * len(rows) and all(len(works) == 1 for works in chunks)  # count + train, add
    whole = RecognitionIndex.build(signal, rows, "faiss-ivfpq", gen)
    assert len(streamed.backend) == len(whole.backend) > 0
    assert np.array_equal(_keys_of(streamed, signal, rows), _keys_of(whole, signal, rows))


def test_a_work_removed_during_a_rebuild_is_read_again_without_it(registered, monkeypatch):
    monkeypatch.setattr(match_index, "REBUILD_WORKS", 1)
    signal = SIGNAL_TYPES["video.dct"]()
    gen = catalogue_generation(registered.db)
    read, readings = match_index.read_fingerprints, []

    def removing_work_1_midway(*args):
        readings.append(1)
        for i, chunk in enumerate(read(*args)):
            if len(readings) == 1 and i == 0:
                registered.catalogue.remove(1)
            yield chunk

    monkeypatch.setattr(match_index, "read_fingerprints", removing_work_1_midway)
    idx = build_index(registered.db, signal, "faiss-ivfpq", gen)
    # sampled (work 1 was read before it went), then the next reading found it gone; then a whole rebuild
    assert len(readings) == 2 + 2
    assert set(idx.work_ids[_keys_of(idx, signal, load_fingerprints(registered.db, signal))].tolist()) == {
        2,
        3,
    }
    now = RecognitionIndex.build(signal, load_fingerprints(registered.db, signal), "faiss-ivfpq", gen)
    assert len(idx.backend) == len(now.backend)


def test_a_catalogue_that_keeps_changing_is_a_retryable_error(registered, monkeypatch):
    def always_changed(*args):
        raise match_index.CatalogueChanged("1 of 3 fingerprints changed while being read")
        yield

    monkeypatch.setattr(match_index, "read_fingerprints", always_changed)
    signal = default_signals()[0]
    with pytest.raises(Unavailable, match="kept changing while the .* index was rebuilt; retry"):
        build_index(registered.db, signal, "faiss-ivfpq", catalogue_generation(registered.db))
