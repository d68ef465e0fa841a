"""The catalogue: adding, duplicate detection, removal, and that refused input changes nothing."""

from pathlib import Path

import pytest

from hutong.errors import CatalogueError, MediaError
from hutong.fingerprint import default_signals
from hutong.match.index import catalogue_generation
from hutong.media.synth import Piece, build_clip
from tests.conftest import BBB, CARS, SINTEL


def test_add_list_show_remove(app):
    added, failed = app.catalogue.add([BBB], title="Big Buck Bunny", holder="Blender Foundation")
    assert failed == [] and len(added) == 1
    w = added[0]
    assert w.title == "Big Buck Bunny" and w.holder == "Blender Foundation"
    # every signal this installation runs (the learned descriptor and the soundtrack where its extra is
    # installed, else the classical three)
    assert set(w.signals) == {s.name for s in default_signals()} >= {"audio.bands"}
    video = next(s for s in w.signals if s.startswith("video."))
    assert w.signals[video] > 50
    assert [x.work_id for x in app.catalogue.list()] == [w.work_id]
    assert app.catalogue.get(w.work_id).sha256 == w.sha256
    app.catalogue.remove(w.work_id)
    assert app.catalogue.list() == []
    with pytest.raises(CatalogueError, match=f"no work with id {w.work_id}"):
        app.catalogue.get(w.work_id)


def test_same_file_twice_is_refused_and_nothing_changes(app):
    app.catalogue.add([BBB])
    gen = catalogue_generation(app.db)
    added, failed = app.catalogue.add([BBB])
    assert added == [] and "already registered as work 1" in failed[0].reason
    assert catalogue_generation(app.db) == gen and app.catalogue.count() == 1


def test_same_media_reencoded_is_refused(app, tmp_path: Path):
    app.catalogue.add([SINTEL])
    copy = build_clip([Piece(SINTEL, 0, 20, ("reencode",), seed=1)], tmp_path / "sintel_copy.mp4")
    added, failed = app.catalogue.add([copy.path])
    assert added == [] and "same media as work 1" in failed[0].reason
    # unless the rights holder says it is deliberate
    added, failed = app.catalogue.add([copy.path], check_duplicates=False)
    assert len(added) == 1 and failed == []


def test_folder_with_a_bad_file_adds_the_good_ones(app, tmp_path: Path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(BBB.read_bytes())
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    (folder / "notes.txt").write_text("ignored: not a media suffix")
    added, failed = app.catalogue.add([folder])
    assert [w.title for w in added] == ["a"]
    assert len(failed) == 1 and failed[0].path.endswith("broken.mp4")
    assert "not a media file" in failed[0].reason


def test_bad_input_leaves_catalogue_intact(app, tmp_path: Path):
    app.catalogue.add([CARS])
    before = (app.catalogue.list(), catalogue_generation(app.db))
    empty = tmp_path / "empty.mp4"
    empty.touch()
    _, failed = app.catalogue.add([empty, tmp_path / "missing.webm"])
    assert len(failed) == 2
    with pytest.raises(CatalogueError, match="exactly one file"):
        app.catalogue.add([BBB, SINTEL], title="one title for two")
    with pytest.raises(MediaError):
        app.catalogue.add_one(empty, title=None, holder="")
    assert (app.catalogue.list(), catalogue_generation(app.db)) == before


def test_remove_unknown_work(app):
    with pytest.raises(CatalogueError, match="no work with id 42"):
        app.catalogue.remove(42)


def test_book_title_marks_are_not_doubled(app):
    # the README writes --title "《Film》"; displays add the marks, so they are not stored
    w = app.catalogue.add_one(BBB, title=" 《Big Buck Bunny》 ", holder="")
    assert w.title == "Big Buck Bunny" and app.catalogue.get(w.work_id).title == "Big Buck Bunny"
    before = app.catalogue.count()
    for bad in ("《》", "  "):
        with pytest.raises(CatalogueError, match="is empty"):
            app.catalogue.add_one(SINTEL, title=bad, holder="")
    assert app.catalogue.count() == before


def test_ids_beyond_the_database_range_are_unknown_works(app):
    for huge in (2**63, 99999999999999999999, -1, 0):
        with pytest.raises(CatalogueError, match=f"no work with id {huge}"):
            app.catalogue.get(huge)
        with pytest.raises(CatalogueError, match=f"no work with id {huge}"):
            app.catalogue.remove(huge)
