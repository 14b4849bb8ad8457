"""What every facegan console script shares: the typer app, --version, extras, and exit codes.

Console scripts point at `main()` functions that check their extra *before* importing heavy
modules, so `facegan-train` without torch says "install facegan[train]" instead of a traceback.
This lives in the runtime because the runtime is the only package all four tools import, and the
extras check must run before torch is importable.

Exit codes: 1 for a `FaceganError` or `OSError` (a runtime failure), 2 for a `UsageError`. One line
on stderr by default; `FACEGAN_DEBUG=1` prints the whole exception chain instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from contextlib import contextmanager
from enum import Enum
from typing import Iterable, Iterator, NoReturn

import typer

from . import __version__
from .errors import FaceganError, UsageError

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
    """Print one line on stderr (the whole chain with FACEGAN_DEBUG=1) and exit with `code`."""
    if isinstance(message, BaseException) and os.environ.get("FACEGAN_DEBUG") == "1":
        typer.echo("".join(traceback.format_exception(message)).rstrip(), err=True)
    text = " ".join(str(message).split()) or type(message).__name__
    typer.echo(f"{tool}: error: {text}", err=True)
    raise typer.Exit(code)


@contextmanager
def exit_codes(tool: str) -> Iterator[None]:
    """Map domain errors to exit codes at the CLI edge: UsageError 2; FaceganError and OSError 1."""
    try:
        yield
    except UsageError as e:
        fail(tool, e, code=2)
    except (FaceganError, OSError) as e:  # OSError: an unwritable path, a full disk
        fail(tool, e)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"facegan {__version__}")
        raise typer.Exit()


def choice_enum(name: str, choices: Iterable[str]) -> type[Enum]:
    """A `str` Enum for typer from a library's tuple of choices, so the choices are declared once.

    Members are named after their values (`wgan-gp` becomes `wgan_gp`); `.value` is the choice.
    """
    return Enum(name, {c.replace("-", "_"): c for c in choices}, type=str)


def make_app(help: str) -> typer.Typer:
    """A single-command typer app with the settings every facegan tool shares (-h, no completion)."""
    return typer.Typer(help=help, context_settings=CONTEXT_SETTINGS, add_completion=False, rich_markup_mode=None)


__all__ = ["CONTEXT_SETTINGS", "choice_enum", "exit_codes", "fail", "make_app", "require_extra", "version_callback"]
