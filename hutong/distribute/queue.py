"""The job queue: Huey, carrying only job ids (the database holds the state). Embedded by default (SQLite
file in HUTONG_HOME, consumer threads in the same process); Redis when ``HUTONG_REDIS_URL`` is set, with
`hutong worker` processes on any machine — the same code path either way."""

from __future__ import annotations

import threading
from collections.abc import Callable

from huey import Huey, RedisHuey, SqliteHuey, crontab

from hutong.config import Settings

TASK = "hutong.publish"
SWEEP = (
    "hutong.sweep"  # every minute on a running worker: posts whose certificate was revoked get take-down jobs
)


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("hutong", url=settings.redis_url, results=False, utc=True)
    return SqliteHuey("hutong", filename=str(settings.home / "queue.sqlite3"), results=False, utc=True)


class Queue:
    """Enqueue job ids; run them with :meth:`consumer` (embedded) or `hutong worker`."""

    def __init__(
        self, huey: Huey, run: Callable[[int], object], sweep: Callable[[], object] | None = None
    ) -> None:
        self.huey = huey
        self._task = huey.task(name=TASK)(run)
        if sweep is not None:
            huey.periodic_task(crontab(), name=SWEEP)(sweep)

    def enqueue(self, job_id: int, delay: float | None = None) -> None:
        if delay and delay > 0:
            self._task.schedule(args=(job_id,), delay=delay)
        else:
            self._task(job_id)

    def pending(self) -> int:
        return self.huey.pending_count() + self.huey.scheduled_count()

    def consumer(self, workers: int = 2) -> EmbeddedConsumer:
        return EmbeddedConsumer(self.huey, workers)


class EmbeddedConsumer:
    """Huey's consumer threads started inside this process, without its signal handlers (so it can run in
    a test, a server or any thread); ``stop()`` lets running jobs finish."""

    def __init__(self, huey: Huey, workers: int) -> None:
        self._consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                              initial_delay=0.05, backoff=1.5, max_delay=0.5,
                                              scheduler_interval=1, check_worker_health=False)  # fmt: skip
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> EmbeddedConsumer:
        with self._lock:
            if not self._started:
                self._consumer.scheduler.start()
                for _, thread in self._consumer.worker_threads:
                    thread.start()
                self._started = True
        return self

    def stop(self, timeout: float = 30) -> None:
        with self._lock:
            if not self._started:
                return
            self._consumer.stop_flag.set()
            for t in [self._consumer.scheduler] + [t for _, t in self._consumer.worker_threads]:
                t.join(timeout)
            self._started = False

    def __enter__(self) -> EmbeddedConsumer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_forever(self) -> None:
        """`hutong worker`: Huey's own loop in the main thread, with its signal handlers (INT stops it)."""
        self._consumer.run()
