"""``hutong accounts``, ``hutong publish``, ``hutong jobs`` and ``hutong worker``: carrying certified clips
to the creator's accounts on other platforms."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hutong.cli.app import JsonOpt, app, emit_json, err, out, service
from hutong.cli.output import IdArg
from hutong.errors import HutongError

accounts_app = typer.Typer(help="Connected accounts on other platforms (OAuth).", no_args_is_help=True)
jobs_app = typer.Typer(help="Publishing jobs: one per clip and account.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(jobs_app, name="jobs")


@accounts_app.command("connect")
def accounts_connect(
    name: Annotated[str, typer.Argument(help="A name for the account: what `publish --to` names.")],
    platform_url: Annotated[
        str | None, typer.Argument(help="The platform's URL (not needed with --finish).")
    ] = None,
    client_id: Annotated[str, typer.Option(help="This service's app (client id) on that platform.")] = "",
    client_secret: Annotated[
        str, typer.Option(help="Its client secret (stored encrypted).", envvar="HUTONG_CLIENT_SECRET")
    ] = "",
    redirect_uri: Annotated[str, typer.Option(help="A redirect URI registered for the app.")] = "",
    adapter: Annotated[str, typer.Option(help="Platform adapter.")] = "hutong",
    creator: Annotated[str, typer.Option(help="The creator (handle) this account belongs to.")] = "",
    start_only: Annotated[
        bool, typer.Option("--start", help="Print the authorization URL and stop.")
    ] = False,
    finish: Annotated[
        str | None, typer.Option(help="Finish a started connection: the redirected URL (or the code).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Connect (or reconnect) an account: open the printed URL, allow, paste the URL you are sent to."""
    with service() as h:
        acc = h.distribution.accounts
        if finish is None:
            if not platform_url:
                raise HutongError("give the platform's URL (or --finish with the redirected URL)")
            started = acc.start(name, platform_url, client_id=client_id, client_secret=client_secret,
                                redirect_uri=redirect_uri, adapter=adapter, creator=creator)  # fmt: skip
            if start_only:
                if as_json:
                    emit_json(started)
                else:
                    out.print(started["authorization_url"], highlight=False, soft_wrap=True)
                return
            err.print(
                "Open this URL, allow access, then paste the address your browser is sent to:",
                highlight=False,
            )
            out.print(started["authorization_url"], highlight=False, soft_wrap=True)
            finish = typer.prompt("redirected URL") if sys.stdin.isatty() else sys.stdin.readline()
        view = acc.finish(finish, name=name)
    if as_json:
        emit_json(view.as_dict())
    else:
        out.print(
            f"[green]connected[/] {view.name}: {view.platform_name} at {view.platform_url}", highlight=False
        )


@accounts_app.command("reconnect")
def accounts_reconnect(
    name: Annotated[str, typer.Argument(help="The account.")],
    start_only: Annotated[
        bool, typer.Option("--start", help="Print the authorization URL and stop.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Connect an account again with the app it was connected with (after "needs reconnect"); its jobs
    and history stay. Finish with `hutong accounts connect NAME --finish URL` when using --start."""
    with service() as h:
        started = h.distribution.accounts.reconnect(name)
        if start_only:
            emit_json(started) if as_json else out.print(
                started["authorization_url"], highlight=False, soft_wrap=True
            )
            return
        err.print(
            "Open this URL, allow access, then paste the address your browser is sent to:", highlight=False
        )
        out.print(started["authorization_url"], highlight=False, soft_wrap=True)
        answer = typer.prompt("redirected URL") if sys.stdin.isatty() else sys.stdin.readline()
        view = h.distribution.accounts.finish(answer, name=name)
    if as_json:
        emit_json(view.as_dict())
    else:
        out.print(
            f"[green]reconnected[/] {view.name}: {view.platform_name} at {view.platform_url}", highlight=False
        )


@accounts_app.command("list")
def accounts_list(as_json: JsonOpt = False) -> None:
    """Connected accounts and their state."""
    with service() as h:
        rows = h.distribution.accounts.list()
    if as_json:
        emit_json({"accounts": [r.as_dict() for r in rows]})
        return
    table = Table("name", "platform", "url", "status", "token expires")
    for r in rows:
        status = r.status.replace("_", " ") + (f" ({r.status_reason})" if r.status_reason else "")
        table.add_row(
            r.name, r.platform_name, r.platform_url, status, r.expires_at.isoformat() if r.expires_at else "—"
        )
    out.print(table)


@accounts_app.command("remove")
def accounts_remove(name: str) -> None:
    """Forget an account and its tokens (its jobs stay readable)."""
    with service() as h:
        h.distribution.accounts.remove(name)
    out.print(f"removed {name}", highlight=False)


@app.command("publish")
def publish(
    clip: Annotated[Path, typer.Argument(help="The certified clip.")],
    certificate: Annotated[Path, typer.Option(help="Its certificate file (compact JWS).")],
    to: Annotated[list[str], typer.Option(help="Connected account(s) to publish to.")],
    caption: Annotated[str, typer.Option(help="The post's text; the licence's attribution is added.")] = "",
    dry_run: Annotated[bool, typer.Option(help="Check everything, publish nothing.")] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="Publish at this time, with its time zone: 2026-12-01T20:00+08:00 (cancel before with "
            "`hutong jobs cancel`)."
        ),
    ] = None,  # fmt: skip
    wait: Annotated[
        bool,
        typer.Option(
            help="Stay until every job has settled, with a progress bar per upload (on the embedded "
            "queue, the jobs run in this process meanwhile unless a server or worker runs them)."
        ),
    ] = False,  # fmt: skip
    as_json: JsonOpt = False,
) -> None:
    """Publish a certified clip to accounts on other platforms: one durable job per account."""
    from hutong.distribute.jobs import parse_when

    when = parse_when(at) if at is not None else None
    if not certificate.is_file():
        raise HutongError(f"{certificate}: no such certificate file")
    settled: list = []
    with service() as h:
        results = h.distribution.jobs.submit(clip, certificate.read_text(encoding="utf-8"), to, caption=caption,
                                             dry_run=dry_run, at=when)  # fmt: skip
        ids = [r.job_id for r in results if r.ok and r.job_id]
        if wait and ids and not dry_run and when is None:
            settled = _wait(h, ids, clip.stat().st_size, show=not as_json)
    if as_json:
        body = {
            "dry_run": dry_run,
            "at": when.isoformat() if when else None,
            "targets": [r.as_dict() for r in results],
        }
        if settled:
            body["jobs"] = [v.as_dict() for v in settled]
        emit_json(body)
    else:
        for r in results:
            mark = "[green]ok[/]" if r.ok else "[red]refused[/]"
            out.print(f"{mark} {r.account}: {r.message}", highlight=False, soft_wrap=True)
        for v in settled:
            colour = (
                "green" if v.state == "published" else "yellow" if v.state == "needs_confirmation" else "red"
            )
            out.print(f"[{colour}]{v.state}[/] {v.account}: {v.reason or v.remote_post_id}", highlight=False,
                      soft_wrap=True)  # fmt: skip
    if not all(r.ok for r in results) or any(
        v.state not in ("published", "needs_confirmation") for v in settled
    ):
        raise typer.Exit(1)


SETTLED = ("published", "needs_confirmation", "rejected", "failed", "cancelled", "taken_down", "flagged")


def _upload_share(v, size: int) -> float:
    """How much of the clip the platform has (0–1), from the job's checkpoints."""
    if v.uploaded or v.state in SETTLED:
        return 1.0
    return min(1.0, v.parts_done * v.part_size / size) if size and v.part_size else 0.0


def _wait(h, ids: list[int], size: int, *, show: bool) -> list:
    """Poll the jobs until each has settled, a progress bar per target (on stderr, only on a terminal). On
    the embedded queue a consumer runs here meanwhile: with nothing else running, nothing would publish."""
    consumer = (
        None if h.settings.redis_url else h.distribution.worker(h.settings.distribution_workers).start()
    )
    progress = Progress(TextColumn("{task.fields[account]:<16}"), BarColumn(), TaskProgressColumn(),
                        TextColumn("{task.fields[state]}"), TimeElapsedColumn(), console=err,
                        disable=not (show and err.is_terminal), transient=False)  # fmt: skip
    try:
        with progress:
            tasks = {i: progress.add_task("", total=100, account="", state="queued") for i in ids}
            while True:
                views = [h.distribution.jobs.show(i) for i in ids]
                for v in views:
                    progress.update(tasks[v.id], completed=100 * _upload_share(v, size), account=v.account,
                                    state=v.state.replace("_", " "))  # fmt: skip
                if all(v.state in SETTLED for v in views):
                    return views
                time.sleep(0.2)
    finally:
        if consumer is not None:
            consumer.stop()


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every publishing job and where it stands."""
    with service() as h:
        rows = h.distribution.jobs.list(state)
    if as_json:
        emit_json({"jobs": [r.as_dict() for r in rows]})
        return
    table = Table("job", "account", "clip", "state", "not before", "post", "why")
    for r in rows:
        table.add_row(str(r.id), r.account, Path(r.clip).name, r.state, (r.not_before or "—")[:16],
                      r.remote_post_id or "—", r.reason[:80])  # fmt: skip
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[int, IdArg("The job.")], as_json: JsonOpt = False) -> None:
    """A job with its timeline."""
    with service() as h:
        view = h.distribution.jobs.show(job_id)
    if as_json:
        emit_json(view.as_dict())
        return
    out.print(
        f"job {view.id}: {view.clip} → {view.account} ({view.platform_name}): [bold]{view.state}[/]",
        highlight=False,
    )
    if view.reason:
        out.print(view.reason, highlight=False, soft_wrap=True)
    for e in view.timeline:
        out.print(f"  {e['at'][:19]}  {e['state']:<18} {e['message']}", highlight=False, soft_wrap=True)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, IdArg("The job.")], as_json: JsonOpt = False) -> None:
    """Queue a failed, cancelled or unconfirmed job again (the same Idempotency-Key: never a second post)."""
    with service() as h:
        view = h.distribution.jobs.retry(job_id)
    emit_json(view.as_dict()) if as_json else out.print(f"job {job_id} queued again", highlight=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, IdArg("The job.")], as_json: JsonOpt = False) -> None:
    """Cancel a queued job."""
    with service() as h:
        view = h.distribution.jobs.cancel(job_id)
    emit_json(view.as_dict()) if as_json else out.print(f"job {job_id} cancelled", highlight=False)


@app.command("worker")
def worker(
    workers: Annotated[int | None, typer.Option(help="Jobs run at once (default: the setting).")] = None,
) -> None:
    """Run the job queue until interrupted (Ctrl-C): publishing, work registration, the console's clip checks
    and the claims' deadline job. Ctrl-C gives running jobs 20 s to finish; jobs a stopped worker left in
    flight are picked up."""
    with service() as h:
        n = workers or h.settings.distribution_workers
        consumer = h.distribution.worker(n)
        h.deadlines.ensure_scheduled()  # claims: dispute, appeal and review deadlines, hourly, on this queue
        where = "Redis" if h.settings.redis_url else "the embedded queue"
        err.print(f"publishing worker: {n} at once, jobs from {where} (publishing, registration, checks, "
                  "deadlines); Ctrl-C stops", highlight=False)  # fmt: skip
        if not err.is_terminal:  # logs: no live table
            consumer.run_forever()
            return
        stop = threading.Event()
        with Live(_in_flight(h), console=err, refresh_per_second=2, transient=True) as live:

            def refresh() -> None:
                while not stop.wait(0.5):
                    live.update(_in_flight(h))

            threading.Thread(target=refresh, name="hutong-worker-table", daemon=True).start()
            try:
                consumer.run_forever()
            finally:
                stop.set()


def _in_flight(h) -> Table:
    """The live table `hutong worker` shows on a terminal: the jobs uploading or being created now, with
    how much of each clip the platform has."""
    table = Table("job", "account", "clip", "state", "uploaded", title="publishing now")
    for v in h.distribution.jobs.list("uploading") + h.distribution.jobs.list("processing"):
        try:
            size = Path(v.clip).stat().st_size
        except OSError:
            size = 0
        share = _upload_share(v, size) if v.state == "uploading" else 1.0
        bar = "█" * round(20 * share) + "░" * (20 - round(20 * share))
        table.add_row(str(v.id), v.account, Path(v.clip).name, v.state, f"{bar} {100 * share:3.0f}%")
    return table
