"""Fixtures build real objects: a real SQLite catalogue, real sample media, real edited clips (FFmpeg)."""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.fingerprint import CLASSICAL, LEARNED, learned
from hutong.media.synth import Piece, build_clip

SAMPLES = Path(__file__).resolve().parent.parent / "hutong" / "samples"
BBB = SAMPLES / "bbb_30s.mp4"
SINTEL = SAMPLES / "sintel_trailer.mp4"
TEARS = SAMPLES / "tears_of_steel_battle.mp4"
CARS = SAMPLES / "cars_unregistered.mp4"
CHAPLIN = SAMPLES / "chaplin_unregistered.mp4"
WORK_FILES = (BBB, SINTEL, TEARS)
#: every signal this installation can run: registered catalogues hold them all, so that tests of one signal
#: (``video.dct``) find its fingerprints where the default set (learned, where installed) does not use it
EVERY_SIGNAL = ",".join(dict.fromkeys([*CLASSICAL, *(LEARNED if learned.available() else ())]))


def interrupt(
    *procs: subprocess.Popen,
    within: float = 60.0,
    kill: Callable[[subprocess.Popen], None] = subprocess.Popen.kill,
) -> list[tuple[bool, str]]:
    """Ctrl-C child processes, give them ``within`` seconds in all to stop, ``kill`` the ones that do not.
    Every one is reaped (an unreaped Popen warns in whichever test runs next). Per child: whether it stopped
    by itself, and what it wrote to a pipe (empty when not piped)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + within
    ends = []
    for p in procs:
        try:
            out, stopped = p.communicate(timeout=max(0.1, deadline - time.monotonic()))[0], True
        except subprocess.TimeoutExpired:
            kill(p)
            out, stopped = p.communicate()[0], False
        ends.append((stopped, out or ""))
    return ends


#: what a test module that starts the bundled Milvus mentions: two servers on one machine collide on its
#: components' fixed ports, so those modules share one xdist worker
MILVUS_WORDS = ("milvus_server", "milvus_process", "pytest.mark.milvus")


@pytest.hookimpl(optionalhook=True)  # pytest without xdist (-p no:xdist) runs the suite in one process
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (``./run test`` runs one worker per core): a module's tests run in one worker, in
    order, so its servers and browser start once; every module that starts Milvus runs in the same one."""
    from xdist.scheduler import LoadScopeScheduling

    root = Path(config.rootpath)

    @functools.cache  # asked for every test: read each module once
    def scope_of(module: str) -> str:
        path = root / module
        text = path.read_text(errors="replace") if path.is_file() else ""
        return "milvus" if any(word in text for word in MILVUS_WORDS) else module

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid.split("::", 1)[0])

    return ModuleScheduling(config, log)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home: Path):
    h = Hutong.create(get_settings(home=home))
    yield h
    h.close()


@pytest.fixture(scope="session")
def registered_home(tmp_path_factory) -> Path:
    """A home with the three sample works registered (every installed signal's fingerprints), built once;
    tests copy it before writing."""
    home = tmp_path_factory.mktemp("registered")
    h = Hutong.create(get_settings(home=home, signals=EVERY_SIGNAL))
    try:
        for f in WORK_FILES:
            h.catalogue.add_one(f, title=f.stem, holder="Blender Foundation", check_duplicates=False)
    finally:
        h.close()
    return home


@pytest.fixture
def registered(registered_home: Path, tmp_path: Path):
    """A writable copy of the registered catalogue."""
    home = tmp_path / "reg"
    shutil.copytree(registered_home, home)
    h = Hutong.create(get_settings(home=home))
    yield h
    h.close()


@pytest.fixture(scope="session")
def shared_recognizer(registered_home: Path):
    """Read-only recognizer over the registered catalogue (for the many recognition tests)."""
    h = Hutong.create(get_settings(home=registered_home))
    yield h
    h.close()


@pytest.fixture(scope="session")
def clip_factory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    cache: dict = {}

    def make(name: str, pieces: list[Piece]):
        if name not in cache:
            cache[name] = build_clip(pieces, folder / f"{name}.mp4")
        return cache[name]

    return make


@pytest.fixture(scope="session")
def two_work_clip(clip_factory):
    """A real two-work 二创 clip: Sintel mirrored, unregistered filler, BBB graded."""
    return clip_factory(
        "compliance_two_works",
        [
            Piece(SINTEL, 14.0, 8.0, ("mirror",), seed=11),
            Piece(CARS, 2.0, 3.0, from_work=False, seed=12),
            Piece(BBB, 8.0, 7.0, ("grade",), seed=13),
        ],
    )


@pytest.fixture(scope="session")
def clip_report(shared_recognizer, two_work_clip):
    """``two_work_clip`` recognised once against the registered samples."""
    report = shared_recognizer.recognizer.match(two_work_clip.path)
    assert {s.work_id for s in report.segments} == {1, 2}, report.as_dict()
    return report
