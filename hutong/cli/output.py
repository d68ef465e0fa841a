"""What every command shares: the consoles, JSON output, id arguments and the match table. A module of
its own so that the command modules (and the demo) import it instead of each other."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from hutong.errors import HutongError

if TYPE_CHECKING:
    from hutong.match import MatchReport

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
MAX_ID = 2**63 - 1  # database integers


def check_ids(ctx: click.Context, param: click.Parameter, value: int | list[int] | None):
    """Ids are database integers: anything outside 1..2^63-1 names nothing (and must not reach the driver)."""
    for v in value if isinstance(value, list | tuple) else [value]:
        if v is not None and not 0 < v <= MAX_ID:
            name = (param.name or "id").upper()
            raise HutongError(f"{name} {v}: no such id (ids run from 1 to {MAX_ID})")
    return value


def IdArg(help: str) -> object:  # noqa: N802  (reads as a type in signatures)
    return typer.Argument(help=help, callback=check_ids)


def emit_json(obj: object) -> None:
    # plain print: rich would wrap long lines and break the JSON
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def fmt_time(s: float) -> str:
    m, sec = divmod(max(0.0, s), 60)
    return f"{int(m)}:{sec:05.2f}"


SIGNAL_WORDS = {
    "video.dct": "picture",
    "video.motion": "motion",
    "audio.bands": "sound",
    "video.sscd": "picture (learned)",
}


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
