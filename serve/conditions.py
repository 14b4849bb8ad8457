"""What a request may ask of the faces beyond a seed: `attr=` (conditional models) and `edit=` (directions).

    attributes = parse(["Smiling=1,Eyeglasses=0"], "attr")     # {"Eyeglasses": 0.0, "Smiling": 1.0}
    check_attributes(generator, attributes)                   # UsageError (a 422) naming what is wrong
    query_params(attributes, edits)                           # {"attr": "Eyeglasses=0,Smiling=1"}: the cache key's
    describe(generator, metadata)                             # /v1/model's "attributes" and "directions"

Both take a comma list, and the parameter may be repeated (`attr=Smiling=1&attr=Eyeglasses=0`); the
parsing and the canonical text are the runtime's (facegan.runtime.attributes parse_assignments and
format_assignments, as facegan-generate's --attr and --edit). The checks run before a generation
slot is taken, so a wrong name costs no generation. The canonical form (names sorted, shortest
numbers) goes into the ETag: `Smiling=1.0` and `Smiling=1` are the same faces, the same tag; an
edit of 0 moves nothing (z + 0 * d is z), so it is dropped after its name is checked.
"""

from __future__ import annotations

import json
import math

from facegan.runtime.attributes import format_assignments, parse_assignments
from facegan.runtime.errors import UsageError

ATTRIBUTE_RANGE = (0.0, 1.0)  # what an attribute's value may be: its share of "on", as in the data


def parse(values: list[str] | None, kind: str) -> dict[str, float]:
    """The assignments of every `kind=` parameter given (each a comma list), or {} when none."""
    return parse_assignments(values or [], kind)


def query_params(attributes: dict[str, float], edits: dict[str, float]) -> dict[str, str]:
    """The canonical `attr` and `edit` entries of a cache key; none for an empty list (the tags of plain
    requests stay what they were)."""
    given = {"attr": attributes, "edit": moves(edits)}
    return {key: format_assignments(value) for key, value in given.items() if value}


def moves(edits: dict[str, float]) -> dict[str, float]:
    """The edits that move z: those with alpha != 0."""
    return {name: alpha for name, alpha in edits.items() if alpha != 0}


def _unknown(given: dict[str, float], known: tuple[str, ...], kind: str, what: str) -> None:
    unknown = [name for name in sorted(given) if name not in known]
    if unknown:
        raise UsageError(f"{kind}: unknown {what} {unknown[0][:40]!r}; this model's {what}s are {', '.join(known)}")


def check_attributes(generator, attributes: dict[str, float]) -> None:
    """Refuse attr= on an unconditional model, unknown names and values outside [0, 1]."""
    if not attributes:
        return
    if not generator.attributes:
        hint = "; its directions take edit=" if generator.directions else ""
        raise UsageError(f"attr: {generator.path.name} is an unconditional model (it has no attributes){hint}")
    _unknown(attributes, generator.attributes, "attr", "attribute")
    low, high = ATTRIBUTE_RANGE
    for name, value in sorted(attributes.items()):
        if not (math.isfinite(value) and low <= value <= high):
            raise UsageError(f"attr: {name} must be between {low:g} and {high:g}, got {value!r}")


def check_edits(generator, edits: dict[str, float]) -> None:
    """Refuse edit= on a model without directions, unknown names and values that are not finite."""
    if not edits:
        return
    if not generator.directions:
        raise UsageError(
            f"edit: {generator.path.name} has no directions; run facegan-directions on its run and export it again"
        )
    _unknown(edits, generator.directions, "edit", "direction")
    for name, value in sorted(edits.items()):
        if not math.isfinite(value):  # parse_assignments refuses these already; a caller's dict may not
            raise UsageError(f"edit: {name} must be a finite number, got {value!r}")


def describe(generator, metadata: dict[str, str]) -> dict:
    """/v1/model's {"attributes": {"names", "frequencies"}, "directions": {"names"}} (empty lists when none)."""
    names = list(generator.attributes)
    frequencies = json.loads(metadata["facegan.attributes"])["frequencies"] if names else []
    return {
        "attributes": {"names": names, "frequencies": [float(f) for f in frequencies]},
        "directions": {"names": list(generator.directions)},
    }


__all__ = ["ATTRIBUTE_RANGE", "check_attributes", "check_edits", "describe", "moves", "parse", "query_params"]
