"""Small helpers every facegan CLI shares: missing extras, one-line errors, --version.

Console scripts point at `main()` functions that check their extra *before* importing heavy
modules, so `facegan-train` without torch says "install facegan[train]" instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import NoReturn

import typer

from . import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def require_extra(modules: list[str], extra: str, tool: str) -> None:
    """Exit 1 with an install hint when any of `modules` is not importable."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"{tool}: missing {', '.join(missing)}; install facegan[{extra}] "
            f"(pip install 'facegan[{extra}]')",
            file=sys.stderr,
        )
        raise SystemExit(1)


def fail(tool: str, message: object, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with `code` (1 runtime failure, 2 usage error)."""
    text = " ".join(str(message).split()) or type(message).__name__
    typer.echo(f"{tool}: error: {text}", err=True)
    raise typer.Exit(code)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"facegan {__version__}")
        raise typer.Exit()


def make_app(help: str) -> typer.Typer:
    """A single-command typer app with the settings every facegan tool shares (-h, no completion)."""
    return typer.Typer(help=help, context_settings=CONTEXT_SETTINGS, add_completion=False, rich_markup_mode=None)
