"""Config fields that describe themselves: default, flag, help, choices, bounds, resume rule.

    batch_size: int = option(128, "Images per step, over all processes.", min=1)

`facegan-train` builds its options from this metadata, `validate()` checks it (`check_fields`),
and `--resume` reads which fields may change, so each fact about a setting is written once.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from facegan.runtime.errors import UsageError


def option(
    default: Any,
    help: str,
    *,
    choices: tuple = (),
    resume: bool = False,
    min: float | None = None,
    above: float | None = None,
    below: float | None = None,
    cli_type: type | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> Any:
    """A config field with a `facegan-train` flag.

    help: the flag's help, a full sentence. choices: the allowed values. resume: `--resume` may
    change it. min / above / below: value >= min, > above, < below (floats must also be finite).
    cli_type: what the flag parses, when not the field's type (a Path stored as str). convert: how
    a value given on the command line is stored (a folder as an absolute path).
    """
    if (below is not None and min is None) or (above is not None and (min, below) != (None, None)):
        raise TypeError("bounds are min, min and below, or above alone")
    meta = dict(help=help, choices=choices, resume=resume, min=min, above=above, below=below,
                cli_type=cli_type, convert=convert)
    return dataclasses.field(default=default, metadata=meta)


def internal(default: Any, *, min: float | None = None) -> Any:
    """A config field without a flag: fixed, or set only by library callers."""
    return dataclasses.field(default=default, metadata=dict(internal=True, choices=(), min=min, above=None, below=None))


def flag(name: str) -> str:
    """The command-line flag of a config field: `batch_size` -> `--batch-size`."""
    return "--" + name.replace("_", "-")


def check_fields(cfg) -> None:
    """Each field against the choices and bounds its `option(...)` declares."""
    for f in dataclasses.fields(cfg):
        value, m = getattr(cfg, f.name), f.metadata
        if m.get("choices") and value not in m["choices"]:
            raise UsageError(f"{f.name} must be one of {', '.join(map(str, m['choices']))}, got {value!r}")
        if m and bounds_text(m) and not _in_bounds(value, m):
            raise UsageError(f"{f.name} must be {_bounds_words(m, isinstance(f.default, float))}, got {value}")


def _in_bounds(value, m) -> bool:
    lo, above, below = m["min"], m["above"], m["below"]
    return (lo is None or value >= lo) and (above is None or value > above) and (
        below is None or value < below) and math.isfinite(value)


def _bounds_words(m, is_float: bool) -> str:
    if m["above"] is not None:
        return "a positive number" if m["above"] == 0 else f"> {m['above']:g}"
    if m["below"] is not None:
        return f"in [{m['min']:g}, {m['below']:g})"
    return f"a finite number >= {m['min']:g}" if is_float else f">= {m['min']:g}"


def bounds_text(m) -> str:
    """A field's bounds as click writes ranges (`x>=1`, `0<=x<1`, `x>0`), or "" when it has none."""
    if m["above"] is not None:
        return f"x>{m['above']:g}"
    if m["min"] is None:
        return ""
    return f"x>={m['min']:g}" if m["below"] is None else f"{m['min']:g}<=x<{m['below']:g}"


__all__ = ["bounds_text", "check_fields", "flag", "internal", "option"]
