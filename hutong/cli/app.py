"""The ``hutong`` command tree."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import HutongError
from hutong.match import MatchReport
from hutong.rights.catalogue import expand_paths

app = typer.Typer(
    help="hutong (互通): recognise, license and certify derivative short videos.", no_args_is_help=True
)
works_app = typer.Typer(help="The catalogue of registered works.", no_args_is_help=True)
index_app = typer.Typer(help="The match index (derived from the database).", no_args_is_help=True)
app.add_typer(works_app, name="works")
app.add_typer(index_app, name="index")

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


@contextmanager
def service():
    h = Hutong.create(get_settings())
    try:
        yield h
    finally:
        h.close()


def emit_json(obj: object) -> None:
    # plain print: rich would wrap long lines and break the JSON
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def fmt_time(s: float) -> str:
    m, sec = divmod(max(0.0, s), 60)
    return f"{int(m)}:{sec:05.2f}"


@works_app.command("add")
def works_add(
    paths: Annotated[list[Path], typer.Argument(help="Media files or folders (walked for media).")],
    title: Annotated[str | None, typer.Option(help="Title (one file only; default: file name).")] = None,
    holder: Annotated[str, typer.Option(help="Rights holder.")] = "",
    allow_duplicate: Annotated[
        bool, typer.Option(help="Register even if the picture matches a registered work.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register works: fingerprint and store them (the same media twice is refused)."""
    files = expand_paths(paths)
    if not files:
        raise HutongError("no media files found in the given paths")
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
    if as_json:
        emit_json({"works": [w.as_dict() for w in added], "failed": [f.__dict__ for f in failed]})
    else:
        for w in added:
            out.print(f"[green]added[/] work {w.work_id}: {w.title} ({w.duration:.1f} s)", highlight=False)
        for f in failed:
            err.print(f"[red]refused[/] {f.reason}", highlight=False, soft_wrap=True)
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
def works_show(work_id: int, as_json: JsonOpt = False) -> None:
    """Show one work."""
    with service() as h:
        w = h.catalogue.get(work_id)
    if as_json:
        emit_json(w.as_dict())
        return
    for k, v in w.as_dict().items():
        out.print(f"[bold]{k}[/]: {v}", highlight=False)


@works_app.command("remove")
def works_remove(work_id: int, as_json: JsonOpt = False) -> None:
    """Remove a work and its fingerprints."""
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


SIGNAL_WORDS = {"video.dct": "picture", "video.motion": "motion", "audio.bands": "sound"}


def print_report(report: MatchReport) -> None:
    if not report.segments:
        out.print(
            f"{report.clip} ({report.duration:.1f} s): [bold]no registered work recognised[/]",
            highlight=False,
        )
        return
    table = Table(
        "clip", "work", "in work", "score", "transform", title=f"{report.clip} ({report.duration:.1f} s)"
    )
    for s in report.segments:
        t = s.transform
        bits = [
            f"speed {t['speed']}x" if t.get("speed", 1.0) != 1.0 else "",
            "mirrored" if t.get("mirror") else "",
        ]
        bits += [
            t.get("layout", "") if t.get("layout") not in (None, "full") else "",
            "cropped" if t.get("crop") else "",
        ]
        bits.append("+".join(SIGNAL_WORDS.get(sig, sig) for sig in s.signals))
        table.add_row(
            f"{fmt_time(s.query_start)}–{fmt_time(s.query_end)}",
            f"{s.work_title} (#{s.work_id})",
            f"{fmt_time(s.ref_start)}–{fmt_time(s.ref_end)}",
            f"{s.score:.2f}",
            ", ".join(b for b in bits if b),
        )
    out.print(table)


@index_app.command("rebuild")
def index_rebuild(as_json: JsonOpt = False) -> None:
    """Rebuild every signal's index from the database."""
    from hutong.match.index import RecognitionIndex, catalogue_generation, load_fingerprints

    rows = []
    with service() as h:
        gen = catalogue_generation(h.db)
        for sig in h.recognizer.signals:
            idx = RecognitionIndex.build(sig, load_fingerprints(h.db, sig), h.settings.index_backend, gen)
            idx.save(h.settings.index_dir)
            rows.append(
                {
                    "signal": sig.name,
                    "backend": idx.backend.name,
                    "vectors": len(idx.backend),
                    "bytes": idx.backend.nbytes(),
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
