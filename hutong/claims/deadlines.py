"""The deadlines of disputes, appeals and reviews as a job on the distribution queue (Huey): each run
applies every deadline that passed, then schedules the next run. The job carries no state: the database
holds the deadlines, so a run missed while no worker was up is caught up by the next one."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from huey import Huey

TASK = "hutong.claims.deadlines"
EVERY = 3600.0  # seconds between runs: deadlines are counted in days
log = structlog.get_logger("hutong.claims")


class DeadlineJob:
    def __init__(self, huey: Huey, run: Callable[[], dict], every: float = EVERY) -> None:
        self.huey, self._run, self.every = huey, run, every
        self.task = huey.task(name=TASK)(self.tick)

    def tick(self) -> dict:
        done = self._run()
        log.info("claims.deadlines", **done)
        if not self.huey.immediate:
            self.task.schedule(delay=self.every)  # the next run
        return done

    def enqueue(self) -> None:
        """Run once now (on a worker; at once when the queue is immediate)."""
        self.task()

    def ensure_scheduled(self) -> bool:
        """Start the chain of runs unless one is already waiting on the queue; True when started."""
        waiting = self.huey.pending() + self.huey.scheduled()  # a scheduled task waits in the queue at first
        if any(getattr(t, "name", "") == TASK for t in waiting):
            return False
        self.task.schedule(delay=1)
        return True
