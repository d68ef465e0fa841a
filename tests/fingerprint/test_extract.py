"""extract(): one decode shared by the video signals, descriptors on one BLAS thread."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from hutong.fingerprint import Fingerprint, SignalType, VideoDCTSignal, extract
from hutong.media import probe
from tests.conftest import BBB


class BlasWatcher(SignalType):
    """A plug-in video signal that records what it was given and how many BLAS threads it could use."""

    name = "test.blas"
    media = "video"
    dim = 1
    threshold = 0.9
    fps = 2.0

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.frames: list | None = None

    def reference(self, path, info, frames=None) -> Fingerprint:
        self.threads = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        self.frames = frames
        return Fingerprint.empty(self.name, self.dim, info.duration)

    query = reference


def test_descriptors_run_on_one_blas_thread_and_share_the_decode():
    watcher = BlasWatcher()
    frames: dict[float, list] = {}
    timings: dict[str, float] = {}
    out = extract(
        [VideoDCTSignal(), watcher], str(BBB), probe(BBB), query=False, frames=frames, timings=timings
    )
    assert watcher.threads and set(watcher.threads) == {1}
    assert watcher.frames is frames[2.0] and len(frames) == 1  # the DCT's decode, not a second one
    assert len(out["video.dct"]) == len(frames[2.0]) == pytest.approx(60, abs=2)  # 30 s at 2 per second
    assert set(timings) == {"decode", "descriptor:video.dct", "descriptor:test.blas"}
    assert np.all(np.diff(out["video.dct"].times) > 0)


def test_blas_threads_come_back_after_extract():
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    extract([BlasWatcher()], str(BBB), probe(BBB), query=True)
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before
