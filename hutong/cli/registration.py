"""``hutong works add --queue`` and ``hutong works jobs``: a folder registered as per-file queue jobs, run by
`hutong worker` processes (or, on the embedded queue, by this command while it waits), with progress read
from the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hutong.cli.app import JsonOpt, emit_json, err, out, service, works_app

POLL_SECONDS = 0.5


def add_queued(
    files: list[Path],
    skipped: list[Path],
    *,
    title: str | None,
    holder: str,
    check_duplicates: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """`works add` through the queue: one job per file in one batch; with ``wait``, a progress bar until
    every job has finished, then the same report as a registration in this process."""
    with service() as h:
        batch = h.registration_jobs.submit(
            files, holder=holder, title=title, check_duplicates=check_duplicates
        )
        where = "Redis" if h.settings.redis_url else "the embedded queue"
        if not wait:
            if as_json:
                emit_json(batch.as_dict() | {"skipped": [str(p) for p in skipped]})
            else:
                out.print(f"batch {batch.id}: {batch.total} file(s) queued on {where}; `hutong works jobs "
                          f"{batch.id}` shows progress", highlight=False)  # fmt: skip
            return
        batch = _follow(h, batch.id, show=not as_json)
        added = [h.catalogue.get(j.work_id) for j in batch.jobs if j.state == "done"]
        failed = [j for j in batch.jobs if j.state == "failed"]
    why_skipped = "not a media file (by its suffix)"
    summary = {"added": len(added), "refused": len(failed), "skipped": len(skipped)}
    if as_json:
        emit_json({"batch": batch.id, "works": [w.as_dict() for w in added],
                   "failed": [{"path": j.path, "reason": j.error} for j in failed],
                   "skipped": [{"path": str(p), "reason": why_skipped} for p in skipped],
                   "summary": summary})  # fmt: skip
    else:
        for w in added:
            out.print(f"[green]added[/] work {w.work_id}: {w.title} ({w.duration:.1f} s)", highlight=False)
        for j in failed:
            err.print(f"[red]refused[/] {j.error}", highlight=False, soft_wrap=True)
        for p in skipped:
            err.print(f"[yellow]skipped[/] {p}: {why_skipped}", highlight=False, soft_wrap=True)
        out.print(f"batch {batch.id}: {summary['added']} added, {summary['refused']} refused, "
                  f"{summary['skipped']} skipped", highlight=False)  # fmt: skip
    if failed:
        raise typer.Exit(2 if not added else 1)


def _follow(h, batch_id: str, *, show: bool):
    """Poll the batch until every job has finished (a bar on stderr on a terminal). On the embedded queue a
    consumer runs here meanwhile: with no `hutong serve` or worker running, nothing else would."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    consumer = (
        None if h.settings.redis_url else h.distribution.worker(h.settings.distribution_workers).start()
    )
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, disable=not (show and err.is_terminal), transient=True)  # fmt: skip
    try:
        with progress:
            batch = h.registration_jobs.batch(batch_id)
            task = progress.add_task("fingerprinting", total=batch.total)
            while True:
                batch = h.registration_jobs.batch(batch_id)
                running = batch.counts.get("fingerprinting", 0)
                progress.update(task, completed=batch.finished,
                                description=f"fingerprinting ({running} now, {batch.counts.get('queued', 0)} waiting)")  # fmt: skip
                if not batch.running:
                    return batch
                time.sleep(POLL_SECONDS)
    finally:
        if consumer is not None:
            consumer.stop()


@works_app.command("jobs")
def works_jobs(
    batch: Annotated[
        str | None, typer.Argument(help="A batch id (default: list the latest batches).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Registrations queued by `hutong works add --queue` and console uploads: the latest batches, or one
    batch's files with their state."""
    with service() as h:
        if batch is None:
            batches = h.registration_jobs.batches()
            if as_json:
                emit_json({"batches": [b.as_dict(jobs=False) for b in batches]})
                return
            table = Table("batch", "started", "files", "queued", "fingerprinting", "done", "failed")
            for b in batches:
                c = b.counts
                table.add_row(b.id, f"{b.started_at:%Y-%m-%d %H:%M:%S}", str(b.total), str(c.get("queued", 0)),
                              str(c.get("fingerprinting", 0)), str(c.get("done", 0)), str(c.get("failed", 0)))  # fmt: skip
            out.print(table)
            return
        found = h.registration_jobs.batch(batch)
    if as_json:
        emit_json(found.as_dict())
        return
    table = Table("job", "file", "holder", "state", "work", "tries", "reason", title=f"batch {found.id}")
    for j in found.jobs:
        table.add_row(
            str(j.id), j.filename, j.holder, j.state, str(j.work_id or ""), str(j.attempts), j.error
        )
    out.print(table)
    out.print(f"{found.finished} of {found.total} finished", highlight=False)
