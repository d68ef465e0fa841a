"""A reference with a long held picture: the index keeps few of its vectors, yet a copy is recognised."""

from __future__ import annotations

import shutil

import pytest

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.match import index as match_index
from hutong.match.index import load_fingerprints
from hutong.match.service import Recognizer
from hutong.media.synth import run_ffmpeg
from tests.conftest import BBB, EVERY_SIGNAL


@pytest.fixture(scope="module")
def static_home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("static")
    work = folder / "held_frame_lecture.mp4"
    # 6 s of motion, then its last picture held for 14 s (a slide, a paused screencast), no sound
    run_ffmpeg(["-ss", "3", "-t", "6", "-i", str(BBB), "-an", "-vf", "tpad=stop_mode=clone:stop_duration=14",
                "-c:v", "libx264", "-preset", "veryfast", str(work)])  # fmt: skip
    copy = folder / "copy.mp4"  # a smaller re-encode of seconds 2-18: motion into the held picture
    run_ffmpeg(["-ss", "2", "-t", "16", "-i", str(work), "-an", "-vf", "scale=320:-2", "-c:v", "libx264",
                "-crf", "30", "-preset", "veryfast", str(copy)])  # fmt: skip
    # every installed signal: these tests look at video.dct's index, which the learned default leaves out
    h = Hutong.create(get_settings(home=folder / "home", signals=EVERY_SIGNAL))
    w = h.catalogue.add_one(
        work, title="held frame lecture", holder="Blender Foundation", check_duplicates=False
    )
    yield h, w.work_id, copy
    h.close()


def test_a_held_picture_keeps_few_vectors(static_home):
    h, work_id, _ = static_home
    signal = next(s for s in h.recognizer.signals if s.name == "video.dct")
    stored = sum(len(fp) for wid, fp in load_fingerprints(h.db, signal) if wid == work_id)
    idx = h.recognizer.index(signal)
    assert len(idx.backend) < 0.75 * stored  # the 14 s held keep one vector a second, not two


def test_the_copy_is_recognised_as_without_dropping_vectors(static_home, monkeypatch):
    h, work_id, copy = static_home
    report = h.recognizer.match(copy).as_dict()
    assert work_id in {s["work_id"] for s in report["segments"]}, report
    # the same catalogue indexed with every vector: the same answer
    shutil.rmtree(h.settings.index_dir)
    monkeypatch.setattr(match_index, "DEDUPE", {})
    every = Recognizer(h.settings, h.db, h.recognizer.signals)
    signal = next(s for s in h.recognizer.signals if s.name == "video.dct")
    assert len(every.index(signal).backend) > len(h.recognizer.index(signal).backend)
    assert every.match(copy).as_dict() == report
