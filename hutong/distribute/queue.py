"""The job queue: Huey, carrying only job ids (the database holds the state). Embedded by default (SQLite
file in HUTONG_HOME, consumer threads in the same process); Redis when ``HUTONG_REDIS_URL`` is set, with
`hutong worker` processes on any machine — the same code path either way."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog
from huey import Huey, RedisHuey, SqliteHuey

from hutong.config import Settings
from hutong.errors import Unavailable

TASK = "hutong.publish"
#: how long Ctrl-C (SIGINT) on `hutong worker` lets running jobs finish before it stops anyway: a job cut off
#: is taken over again like one whose worker was killed (its lease), so waiting longer only delays the stop
SHUTDOWN_SECONDS = 20.0
log = structlog.get_logger("hutong.distribute")


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("hutong", url=settings.redis_url, results=False, utc=True)
    return SqliteHuey("hutong", filename=str(settings.home / "queue.sqlite3"), results=False, utc=True)


class QueueUnavailable(Unavailable):
    """Redis cannot be reached: retry later (HTTP 503)."""


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` means the queue's server cannot be reached (redis-py's errors, or the socket's)."""
    if isinstance(exc, OSError):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # no redis client: the embedded queue, whose errors are not about reaching anything
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


class Queue:
    """Enqueue job ids; run them with :meth:`consumer` (embedded) or `hutong worker`."""

    def __init__(self, huey: Huey, run: Callable[[int], object]) -> None:
        self.huey = huey
        self._task = huey.task(name=TASK)(run)
        self._added: dict[str, Callable] = {}

    def add(self, name: str, run: Callable[[Any], object]) -> Callable[[Any], None]:
        """Another kind of job on the same queue, under its own task name (registration jobs): whatever
        consumes this queue runs it too. Returns what enqueues one job id."""
        if name not in self._added:  # once per queue, however often asked
            self._added[name] = self.huey.task(name=name)(run)
        task = self._added[name]
        return lambda job_id: task(job_id)

    def enqueue(self, job_id: int, delay: float | None = None) -> None:
        """Put the job on the queue; Unavailable when Redis cannot be reached. The job is already saved
        (queued) by then: the workers' recovery pass queues it again once Redis is back, and submitting it
        again finds the same job."""
        try:
            if delay and delay > 0:
                self._task.schedule(args=(job_id,), delay=delay)
            else:
                self._task(job_id)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            raise QueueUnavailable(
                f"cannot reach the job queue (Redis): {exc}; job {job_id} is saved and will run once it is back"
            ) from None

    def pending(self) -> int:
        return self.huey.pending_count() + self.huey.scheduled_count()

    def consumer(
        self,
        workers: int = 2,
        *,
        housekeeping: Callable[[], object] | None = None,
        every: float = 60.0,
        on_stop: Callable[[], object] | None = None,
        shutdown_seconds: float = SHUTDOWN_SECONDS,
    ) -> EmbeddedConsumer:
        return EmbeddedConsumer(self.huey, workers, housekeeping=housekeeping, every=every, on_stop=on_stop,
                                shutdown_seconds=shutdown_seconds)  # fmt: skip


class EmbeddedConsumer:
    """Huey's consumer threads started inside this process, without its signal handlers (so it can run in
    a test, a server or any thread); ``stop()`` lets running jobs finish. ``housekeeping`` runs every ``every``
    seconds while it runs (the jobs a dead worker left behind)."""

    def __init__(
        self,
        huey: Huey,
        workers: int,
        *,
        housekeeping: Callable[[], object] | None = None,
        every: float = 60.0,
        on_stop: Callable[[], object] | None = None,
        shutdown_seconds: float = SHUTDOWN_SECONDS,
    ) -> None:
        self._on_stop = on_stop  # releases what the consumer held (the embedded queue's lock)
        # the threads are daemons: once Huey's graceful wait times out, the process ends and takes them along
        self._consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False,
                                              initial_delay=0.05, backoff=1.5, max_delay=0.5,
                                              scheduler_interval=1, check_worker_health=False,
                                              shutdown_timeout=shutdown_seconds)  # fmt: skip
        self._started = False
        self._lock = threading.Lock()
        self._housekeeping, self._every = housekeeping, every
        self._keeper: threading.Thread | None = None

    def _keep(self) -> None:
        while not self._consumer.stop_flag.wait(self._every):
            try:
                self._housekeeping()
            except Exception:  # noqa: BLE001 — a failed pass (database busy) is tried again next time
                log.exception("queue.housekeeping_failed")

    def _start_keeper(self) -> None:
        if self._housekeeping and self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="hutong-recover", daemon=True)
            self._keeper.start()

    def start(self) -> EmbeddedConsumer:
        with self._lock:
            if not self._started:
                self._consumer.scheduler.start()
                for _, thread in self._consumer.worker_threads:
                    thread.start()
                self._start_keeper()
                self._started = True
        return self

    def stop(self, timeout: float = 30) -> None:
        with self._lock:
            if not self._started:
                if self._on_stop is not None:
                    self._on_stop()
                    self._on_stop = None
                return
            self._consumer.stop_flag.set()
            for t in [self._consumer.scheduler] + [t for _, t in self._consumer.worker_threads]:
                t.join(timeout)
            if self._keeper is not None:
                self._keeper.join(timeout)
                self._keeper = None
            self._started = False
            if self._on_stop is not None:
                self._on_stop()
                self._on_stop = None

    def __enter__(self) -> EmbeddedConsumer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_forever(self) -> None:
        """`hutong worker`: Huey's own loop in the main thread, with its signal handlers: SIGINT lets running
        jobs finish for up to ``shutdown_seconds``, SIGTERM stops at once."""
        self._start_keeper()
        self._consumer.run()
