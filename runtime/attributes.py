"""Attributes of conditional models: the prior, the portable draw, requests, and `NAME=V` parsing.

A conditional generator takes a second input, `attributes` (batch, k) float32 in [0, 1]. Its
metadata (`facegan.attributes`, written from `summarize`) holds the attribute names and a prior:
the most common attribute vectors of the training data with their row counts. A seeded face draws
its attribute vector from that prior, so seed 7 is a plausible combination (never two hair colours)
and the same face in every language:

    (x0, ..) = Philox4x32-10(counter=(0, i mod 2^32, i div 2^32, 1), key=(s mod 2^32, s div 2^32))
    t = floor(x0 * total / 2^32)                  # total = sum(counts) < 2^21, so exact in float64
    drawn = the smallest j with counts[0] + .. + counts[j] > t

Counter word c3 = 1 keeps this stream apart from the latents' (c3 = 0). Requests {name: value}
pin attributes: among the prior vectors that agree with the requested bits (value >= 0.5), the one
nearest (Hamming, over the other attributes; ties: the first) to the drawn vector supplies the
other attributes, the requested values are used as given. With no such vector the drawn one stays.

    space = AttributeSpace.from_json(json.loads(props["facegan.attributes"]), "model.onnx")
    rows = attribute_vectors(space, 16, seed=7, requests={"Smiling": 1})   # float32 (16, k)

Directions (the edits of `facegan.directions`) live in runtime/directions.py, re-exported here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .directions import Directions, apply_edits
from .errors import MetadataError, UsageError
from .latents import SEED_LIMIT, check_seed
from .philox import philox4x32

PRIOR_LIMIT = 4096  # most common attribute vectors kept in the prior
COUNT_SCALE = 2**20  # counts summing to this or more are scaled down to about it (sum < 2**21)
FREQUENCY_DECIMALS = 6
ATTRIBUTE_STREAM = 1  # Philox counter word c3 of the attribute draw (the latents use 0)
_CHUNK_ROWS = 256  # drawn vectors compared with all candidates at a time: bounds the distance matrix


def summarize(names: Iterable[str], values: np.ndarray) -> dict:
    """The `facegan.attributes` object of labelled data: `values` uint8 (N, k) of 0/1, row = image."""
    names = [str(n) for n in names]
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(names) or not names:
        raise UsageError(f"attribute values must have shape (rows, {len(names)}) with k >= 1, got {values.shape}")
    if not len(values):
        raise UsageError("no labelled rows to summarize the attributes of")
    if not np.isin(values, (0, 1)).all():
        raise UsageError("attribute values must be 0 or 1")
    _check_names(names, "attribute names", UsageError)
    bits = values.astype(np.uint8)
    unique, counts = np.unique(bits, axis=0, return_counts=True)
    strings = ["".join(map(str, row)) for row in unique.tolist()]
    order = sorted(range(len(strings)), key=lambda j: (-int(counts[j]), strings[j]))[:PRIOR_LIMIT]
    kept = [int(counts[j]) for j in order]
    total = sum(kept)
    if total >= COUNT_SCALE:  # keeps sum(counts) < 2**21, so x0 * total < 2**53 in every language
        kept = [max(1, c * COUNT_SCALE // total) for c in kept]
    return {
        "names": names,
        "frequencies": [round(float(f), FREQUENCY_DECIMALS) for f in bits.mean(axis=0, dtype=np.float64)],
        "rows": int(len(bits)),
        "prior": {"vectors": [strings[j] for j in order], "counts": kept},
    }


@dataclass(frozen=True, eq=False)
class AttributeSpace:
    """The attributes of a conditional model and their prior, validated (see `from_json`)."""

    names: tuple[str, ...]  # k attribute names, the order of the model's attributes input
    frequencies: tuple[float, ...]  # share of training rows with each attribute on
    rows: int  # labelled images in the training data
    vectors: np.ndarray  # uint8 (V, k) 0/1: the prior's attribute vectors
    counts: np.ndarray  # int64 (V,) > 0: their (possibly scaled) row counts
    cumulative: np.ndarray  # int64 (V,): running sum of counts, what the draw searches

    @property
    def total(self) -> int:
        return int(self.cumulative[-1])

    @classmethod
    def from_json(cls, obj: object, source: str = "model") -> AttributeSpace:
        """Validate a parsed `facegan.attributes` object; MetadataError names what is wrong."""
        where = f"{source} metadata facegan.attributes"
        if not isinstance(obj, Mapping) or not isinstance(obj.get("prior"), Mapping):
            raise MetadataError(f"{where} must be an object with names, frequencies, rows and prior")
        names, freqs, rows, prior = obj.get("names"), obj.get("frequencies"), obj.get("rows"), obj["prior"]
        if not isinstance(names, list) or not names:
            raise MetadataError(f"{where}: names must be a non-empty list")
        _check_names(names, where + " names", MetadataError)
        k = len(names)
        if not isinstance(freqs, list) or len(freqs) != k or not all(_is_unit_number(f) for f in freqs):
            raise MetadataError(f"{where}: frequencies must be {k} numbers in [0, 1]")
        if not _is_int(rows) or rows < 1:
            raise MetadataError(f"{where}: rows must be a positive integer, got {rows!r}")
        vectors, counts = prior.get("vectors"), prior.get("counts")
        if not isinstance(vectors, list) or not isinstance(counts, list) or not vectors or len(vectors) != len(counts):
            raise MetadataError(f"{where}: prior needs equally long non-empty lists vectors and counts")
        if len(vectors) > PRIOR_LIMIT:
            raise MetadataError(f"{where}: prior has {len(vectors)} vectors, at most {PRIOR_LIMIT}")
        bad = next((v for v in vectors if not isinstance(v, str) or len(v) != k or set(v) - {"0", "1"}), None)
        if bad is not None:
            raise MetadataError(f"{where}: prior vector {bad!r} is not a string of {k} 0/1 characters")
        if len(set(vectors)) != len(vectors):
            raise MetadataError(f"{where}: prior vectors repeat")
        if not all(_is_int(c) and c > 0 for c in counts):
            raise MetadataError(f"{where}: prior counts must be positive integers")
        if sum(counts) >= 2 * COUNT_SCALE:
            raise MetadataError(f"{where}: prior counts sum to {sum(counts)}, must be below {2 * COUNT_SCALE}")
        bits = np.array([[c == "1" for c in v] for v in vectors], dtype=np.uint8)
        counts64 = np.array(counts, dtype=np.int64)
        return cls(tuple(names), tuple(float(f) for f in freqs), int(rows), bits, counts64, np.cumsum(counts64))

    def to_json(self) -> dict:
        """The `facegan.attributes` object again (what `summarize` wrote)."""
        return {
            "names": list(self.names),
            "frequencies": list(self.frequencies),
            "rows": self.rows,
            "prior": {"vectors": ["".join(map(str, v)) for v in self.vectors.tolist()], "counts": self.counts.tolist()},
        }

    def check_requests(self, requests: Mapping | None) -> dict[int, float]:
        """{position: value} of checked requests {name: value in [0, 1]}, in attribute order."""
        if requests is None:
            return {}
        if not isinstance(requests, Mapping):
            raise UsageError(f"attributes must be a mapping {{name: value}}, got {type(requests).__name__}")
        out = {}
        for name, value in requests.items():
            if name not in self.names:
                raise UsageError(f"unknown attribute {name!r}; this model has {', '.join(self.names)}")
            if not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:  # NaN fails too
                raise UsageError(f"attribute {name} must be a number in [0, 1], got {value!r}")
            out[self.names.index(name)] = float(value)
        return dict(sorted(out.items()))


def drawn_indices(space: AttributeSpace, n: int, seed: int, start: int = 0) -> np.ndarray:
    """int64 (n,): the prior index drawn for faces start .. start+n-1 of `seed` (checked by the caller)."""
    faces = np.uint64(start) + np.arange(n, dtype=np.uint64)
    counter = np.zeros((n, 4), dtype=np.uint64)
    counter[:, 1] = faces & np.uint64(0xFFFFFFFF)
    counter[:, 2] = faces >> np.uint64(32)
    counter[:, 3] = ATTRIBUTE_STREAM
    x0 = philox4x32(counter, (seed & 0xFFFFFFFF, seed >> 32))[:, 0].astype(np.uint64)
    t = (x0 * np.uint64(space.total)) >> np.uint64(32)  # exact: x0 * total < 2**53 (the float64 floor)
    return np.searchsorted(space.cumulative, t.astype(np.int64), side="right")


def choose(space: AttributeSpace, drawn: np.ndarray, requests: dict[int, float]) -> np.ndarray:
    """int64 prior indices supplying the non-requested attributes of each drawn index (see docstring)."""
    if not requests:
        return drawn
    pos = np.array(list(requests), dtype=np.int64)
    want = np.array([v >= 0.5 for v in requests.values()], dtype=np.uint8)
    candidates = np.flatnonzero((space.vectors[:, pos] == want).all(axis=1))
    if not len(candidates):
        return drawn
    other = np.setdiff1d(np.arange(len(space.names)), pos)
    cand = space.vectors[candidates][:, other].astype(np.float32)  # (C, q) 0/1
    unique, inverse = np.unique(drawn, return_inverse=True)
    best = np.empty(len(unique), dtype=np.int64)
    for first in range(0, len(unique), _CHUNK_ROWS):
        v = space.vectors[unique[first : first + _CHUNK_ROWS]][:, other].astype(np.float32)
        hamming = v @ (1 - cand).T + (1 - v) @ cand.T  # (rows, C), exact small integers
        best[first : first + len(v)] = candidates[np.argmin(hamming, axis=1)]  # first minimum: smallest index
    return best[inverse.reshape(-1)]


def attribute_vectors(
    space: AttributeSpace, n: int, seed: int = 0, requests: Mapping | None = None, start: int = 0
) -> np.ndarray:
    """float32 (n, k): the attributes input of faces start .. start+n-1 of `seed`, with `requests`."""
    seed, start = check_seed(seed), check_seed(start, "start")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise UsageError(f"n must be an integer >= 0, got {n!r}")
    if n and start + n > SEED_LIMIT:
        raise UsageError(f"faces start .. start + n - 1 must be below 2**64, got start={start}, n={n}")
    checked = space.check_requests(requests)
    rows = space.vectors[choose(space, drawn_indices(space, int(n), seed, start), checked)].astype(np.float32)
    for j, value in checked.items():
        rows[:, j] = value
    return rows


def parse_assignments(text_or_list: str | Iterable[str] | None, kind: str) -> dict[str, float]:
    """{name: value} from "A=1,B=0" or ["A=1", "B=+1.5"] (each item may be a comma list).

    `kind` names the flag or parameter in messages ("--attr", "edit"). The value is a finite
    number; ranges are checked where the names are known. A name may hold "=" (a one-hot class
    "label=3"): the value follows the last "=".
    """
    items = [text_or_list] if isinstance(text_or_list, str) else list(text_or_list or ())
    out: dict[str, float] = {}
    for item in items:
        if not isinstance(item, str):
            raise UsageError(f"{kind} expects NAME=VALUE strings, got {item!r}")
        for part in item.split(","):
            if not part.strip():
                continue
            name, eq, text = part.strip().rpartition("=")
            name = name.strip()
            try:
                value = float(text) if eq and name else math.nan
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise UsageError(f"{kind} expects NAME=VALUE with a finite number, got {part.strip()!r}")
            if name in out and out[name] != value:
                raise UsageError(f"{kind} gives {name} twice ({out[name]:g} and {value:g})")
            out[name] = value
    return out


def format_assignments(values: Mapping[str, float]) -> str:
    """The canonical text of {name: value}: sorted by name, shortest round-trip numbers ("A=1,B=0.5")."""
    return ",".join(f"{name}={_number(v)}" for name, v in sorted(values.items()))


def _number(v: float) -> str:
    text = repr(float(v) + 0.0)  # + 0.0: -0.0 reads as 0
    return text[:-2] if text.endswith(".0") else text


def _check_names(names: list, where: str, error: type[Exception]) -> None:
    bad = next((n for n in names if not isinstance(n, str) or not n or n != n.strip() or "," in n), None)
    if bad is not None:
        raise error(f"{where}: {bad!r} is not a usable name (non-empty, no ',', no outer spaces)")
    if len(set(names)) != len(names):
        raise error(f"{where}: names repeat")


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_unit_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and 0.0 <= float(v) <= 1.0


__all__ = [
    "ATTRIBUTE_STREAM", "COUNT_SCALE", "PRIOR_LIMIT", "AttributeSpace", "Directions", "apply_edits",
    "attribute_vectors", "choose",
    "drawn_indices", "format_assignments", "parse_assignments", "summarize",
]
