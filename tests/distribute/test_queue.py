"""The job queue's consumer as `hutong worker` runs it (Huey's loop in the main thread, its signal handlers):
Ctrl-C lets a running job finish, but only for so long, so a job that hangs cannot keep a worker from
stopping. Each case runs the consumer in a child process of its own and signals it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import interrupt

CONSUMER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from huey import SqliteHuey
    from hutong.distribute.queue import Queue

    folder, job_seconds, shutdown = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])

    def run(job_id):
        (folder / "started").write_text(str(job_id))
        time.sleep(job_seconds)
        (folder / "finished").write_text(str(job_id))

    q = Queue(SqliteHuey("test", filename=str(folder / "q.sqlite3"), results=False), run)
    q.enqueue(7)
    q.consumer(1, shutdown_seconds=shutdown).run_forever()
    print("consumer returned", flush=True)
    """
)


def run_until_the_job_starts(tmp_path: Path, job_seconds: float, shutdown: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CONSUMER, str(tmp_path), str(job_seconds), str(shutdown)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.communicate()[0]
            pytest.fail(f"the job never started: {out[-2000:]}")
        time.sleep(0.05)
    return proc


def stopped_after_sigint(proc: subprocess.Popen) -> tuple[float, str]:
    t0 = time.monotonic()
    [(stopped, out)] = interrupt(proc)
    if not stopped:
        pytest.fail(f"the consumer did not stop within 60 s of SIGINT: {out[-2000:]}")
    return time.monotonic() - t0, out


def test_ctrl_c_lets_a_short_job_finish(tmp_path):
    proc = run_until_the_job_starts(tmp_path, job_seconds=1.0, shutdown=30.0)
    _, out = stopped_after_sigint(proc)
    assert proc.returncode == 0, out[-2000:]
    assert (tmp_path / "finished").read_text() == "7", "the running job was cut off"
    assert "consumer returned" in out


def test_ctrl_c_stops_within_the_shutdown_time_even_if_a_job_hangs(tmp_path):
    """The job would run for 10 minutes; the consumer waits 1 s for it, then stops (the job, cut off, is
    taken over again later like one whose worker was killed: the crash tests cover that)."""
    proc = run_until_the_job_starts(tmp_path, job_seconds=600.0, shutdown=1.0)
    took, out = stopped_after_sigint(proc)
    assert proc.returncode == 0, out[-2000:]
    assert not (tmp_path / "finished").exists()
    assert took < 30, (took, out[-2000:])  # not the job's 600 s: the 1 s wait and the process's exit
