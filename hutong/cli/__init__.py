"""Command line: thin commands over the service layer. Errors print one line, never a traceback."""

from __future__ import annotations

import sys

from hutong.cli import claims as _claims  # noqa: F401  (registers its commands)
from hutong.cli import cluster as _cluster  # noqa: F401
from hutong.cli import distribute as _distribute  # noqa: F401
from hutong.cli import interconnect as _interconnect  # noqa: F401
from hutong.cli import platform as _platform  # noqa: F401
from hutong.cli import registration as _registration  # noqa: F401
from hutong.cli import rights as _rights  # noqa: F401
from hutong.cli.app import app
from hutong.errors import HutongError


def main() -> None:
    try:
        rv = app(standalone_mode=False)
        if isinstance(rv, int) and rv:  # typer.Exit(code) is returned, not raised, outside standalone mode
            sys.exit(rv)
    except HutongError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as exc:  # click's own usage errors and aborts
        import click

        try:  # typer ≥ 0.20 raises its own copy of click's exceptions
            from typer._click import exceptions as typer_click
        except ImportError:  # pragma: no cover
            typer_click = click.exceptions
        if isinstance(exc, click.exceptions.ClickException | typer_click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort | typer_click.Abort):
            sys.exit(130)
        raise


__all__ = ["app", "main"]
