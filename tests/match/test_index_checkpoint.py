"""Index checkpoints shared by several processes: one rebuilds a stale checkpoint, the others load it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.fingerprint import default_signals
from hutong.match.index import RecognitionIndex, catalogue_generation, load_fingerprints, open_index

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
    assert 1 not in set(rebuilt.works.tolist())
    loaded = RecognitionIndex.load(folder, signal, name)
    assert loaded is not None and loaded.generation == rebuilt.generation
    assert loaded.works.tolist() == rebuilt.works.tolist()
    assert len(loaded.backend) == len(rebuilt.backend)
