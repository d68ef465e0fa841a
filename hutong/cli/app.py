"""The ``hutong`` command tree."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hutong.cli.output import IdArg, JsonOpt, emit_json, err, fmt_time, out, print_report
from hutong.errors import HutongError

# Start-up: `hutong --help` must not pay for numpy, PyAV, FAISS, SQLAlchemy or FastAPI. Command modules import
# the service layer inside their commands (tests/cli/test_startup.py checks that importing this tree stays
# light).

app = typer.Typer(
    help="hutong (互通): recognise, license and certify derivative short videos.", no_args_is_help=True
)
works_app = typer.Typer(help="The catalogue of registered works.", no_args_is_help=True)
index_app = typer.Typer(help="The match index (derived from the database).", no_args_is_help=True)
issuer_app = typer.Typer(help="This installation's issuer identity (the `iss` of its certificates).")
app.add_typer(works_app, name="works")
app.add_typer(index_app, name="index")
app.add_typer(issuer_app, name="issuer")


@app.callback()
def _before_any_command() -> None:
    # logging is set up here, not at import, so `hutong --help` never loads structlog
    from hutong.logs import configure

    configure("warning")  # commands print results; `hutong serve` turns logging up


__all__ = ["JsonOpt", "IdArg", "app", "emit_json", "err", "fmt_time", "out", "print_report", "service"]


@contextmanager
def service():
    from hutong.app import Hutong
    from hutong.config import installation_settings

    h = Hutong.create(installation_settings())
    try:
        yield h
    finally:
        h.close()


@issuer_app.callback(invoke_without_command=True)
def issuer_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print this installation's issuer: the URL its certificates name and `hutong serve` publishes."""
    if ctx.invoked_subcommand is not None:
        return
    from hutong.config import installation_settings

    settings = installation_settings()
    if as_json:
        emit_json({"issuer": settings.issuer, "home": str(settings.home)})
    else:
        out.print(f"issuer {settings.issuer} (data in {settings.home})", highlight=False)


@issuer_app.command("set")
def issuer_set(
    url: Annotated[str, typer.Argument(help="The public URL verifiers reach this instance at.")],
) -> None:
    """Change the issuer identity. Certificates issued before keep naming the old one."""
    from hutong.config import installation_settings, set_issuer

    settings = installation_settings()
    old, new = set_issuer(settings.home, url)
    if old == new:
        out.print(f"issuer is already {new}", highlight=False)
        return
    out.print(f"issuer is now {new}", highlight=False)
    if old:
        err.print(
            f"[yellow]warning:[/] certificates and tokens issued before name {old}; verifiers that only know "
            f"{new} will not find their keys, and their status URLs point at {old}",
            highlight=False,
            soft_wrap=True,
        )


@works_app.command("add")
def works_add(
    paths: Annotated[list[Path], typer.Argument(help="Media files or folders (walked for media).")],
    title: Annotated[str | None, typer.Option(help="Title (one file only; default: file name).")] = None,
    holder: Annotated[str, typer.Option(help="Rights holder.")] = "",
    allow_duplicate: Annotated[
        bool, typer.Option(help="Register even if the picture matches a registered work.")
    ] = False,
    as_json: JsonOpt = False,
    queue: Annotated[
        bool | None,
        typer.Option(
            "--queue/--here",
            help="One queue job per file, run by `hutong worker` processes (default "
            "when HUTONG_REDIS_URL is set), or all in this process.",
        ),
    ] = None,  # fmt: skip
    wait: Annotated[
        bool,
        typer.Option(help="With --queue: follow the batch until it has finished (--no-wait: print its id)."),
    ] = True,
) -> None:
    """Register works: fingerprint and store them (the same media twice is refused)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hutong.rights.catalogue import scan_paths

    files, skipped = scan_paths(paths)
    if not files:
        raise HutongError(
            "no media files found in the given paths"
            + (f" ({len(skipped)} other file{'s' if len(skipped) != 1 else ''} skipped)" if skipped else "")
        )
    if queue is None:
        from hutong.config import installation_settings

        queue = bool(installation_settings().redis_url)
    if queue:
        from hutong.cli.registration import add_queued

        return add_queued(files, skipped, title=title, holder=holder, check_duplicates=not allow_duplicate,
                          wait=wait, as_json=as_json)  # fmt: skip
    with service() as h, Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=as_json or not err.is_terminal, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("fingerprinting", total=len(files))
        added, failed = h.catalogue.add(
            files,
            title=title,
            holder=holder,
            check_duplicates=not allow_duplicate,
            progress=lambda _p: bar.advance(task),
        )
    why_skipped = "not a media file (by its suffix)"
    summary = {"added": len(added), "refused": len(failed), "skipped": len(skipped)}
    if as_json:
        emit_json(
            {
                "works": [w.as_dict() for w in added],
                "failed": [f.__dict__ for f in failed],
                "skipped": [{"path": str(p), "reason": why_skipped} for p in skipped],
                "summary": summary,
            }
        )
    else:
        for w in added:
            out.print(f"[green]added[/] work {w.work_id}: {w.title} ({w.duration:.1f} s)", highlight=False)
        for f in failed:
            err.print(f"[red]refused[/] {f.reason}", highlight=False, soft_wrap=True)
        for p in skipped:
            err.print(f"[yellow]skipped[/] {p}: {why_skipped}", highlight=False, soft_wrap=True)
        if len(files) + len(skipped) > 1:
            out.print(
                f"{summary['added']} added, {summary['refused']} refused, {summary['skipped']} skipped",
                highlight=False,
            )
    if failed:
        raise typer.Exit(2 if not added else 1)


@works_app.command("list")
def works_list(as_json: JsonOpt = False) -> None:
    """List registered works."""
    with service() as h:
        works = h.catalogue.list()
    if as_json:
        emit_json({"works": [w.as_dict() for w in works]})
        return
    table = Table("id", "title", "holder", "duration", "size", "signals")
    for w in works:
        table.add_row(
            str(w.work_id),
            w.title,
            w.holder,
            f"{w.duration:.1f} s",
            f"{w.width}x{w.height}",
            ", ".join(w.signals),
        )
    out.print(table)


@works_app.command("show")
def works_show(work_id: Annotated[int, IdArg("Work id.")], as_json: JsonOpt = False) -> None:
    """Show one work."""
    with service() as h:
        w = h.catalogue.get(work_id)
    if as_json:
        emit_json(w.as_dict())
        return
    for k, v in w.as_dict().items():
        out.print(f"[bold]{k}[/]: {v}", highlight=False)


@works_app.command("remove")
def works_remove(work_id: Annotated[int, IdArg("Work id.")], as_json: JsonOpt = False) -> None:
    """Remove a work from recognition (its fingerprints go; licences that named it keep their history)."""
    with service() as h:
        w = h.catalogue.remove(work_id)
    if as_json:
        emit_json({"removed": w.as_dict()})
    else:
        out.print(f"removed work {w.work_id}: {w.title}", highlight=False)


@app.command("match")
def match(clip: Path, as_json: JsonOpt = False) -> None:
    """Which registered works does CLIP use, where, and how was it transformed?"""
    with service() as h:
        report = h.recognizer.match(clip)
    if as_json:
        emit_json(report.as_dict())
    else:
        print_report(report)


@index_app.command("rebuild")
def index_rebuild(as_json: JsonOpt = False) -> None:
    """Rebuild every signal's index from the database."""
    from hutong.match.index import build_index, catalogue_generation

    rows = []
    with service() as h:
        gen = catalogue_generation(h.db)
        for sig in h.recognizer.signals:
            idx = build_index(h.db, sig, h.settings.index_backend, gen, h.settings)
            idx.save(h.settings.index_dir)
            rows.append(
                {
                    "signal": sig.name,
                    "backend": idx.backend.name,
                    "vectors": len(idx.backend),
                    "bytes": idx.nbytes(),
                }
            )
    if as_json:
        emit_json({"indexes": rows})
    else:
        for r in rows:
            out.print(
                f"{r['signal']}: {r['vectors']} vectors, {r['bytes']} bytes ({r['backend']})", highlight=False
            )


@app.command("demo")
def demo(
    home: Annotated[
        Path | None, typer.Option(help="Keep the demo's data here (default: a temporary folder).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the sample works, build a 二创 clip from them, and recognise it."""
    from hutong.cli.demo import run_demo

    run_demo(home, as_json=as_json, console=out)


if __name__ == "__main__":  # pragma: no cover
    app()
