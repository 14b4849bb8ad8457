"""What an export can be asked for: the choices, the default parity cases, and their checks.

Declared once here and used by the library and by `facegan-export` alike (the CLI builds its
choice Enums from these tuples). Torch-free on purpose, so `facegan-export --help` starts fast.
A bad argument raises `UsageError` (a `ValueError` too): the CLI exits 2, library callers catch
the usual type. Checked at the public entry points only, when an `ExportOptions` is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from facegan.runtime.errors import UsageError

FORMATS = ("onnx", "torchscript")  # single-file artifacts; `--format all` means these
WEB_FORMAT = "web"  # a static folder with the demo page and an ONNX model (export/web.py): its own format
DTYPES = ("fp32", "fp16")  # compute precision; inputs and outputs stay float32 (or uint8)
OUTPUTS = ("float", "uint8")  # float NCHW in the model's value range, or uint8 NHWC RGB
WEIGHTS = ("auto", "ema", "raw")  # auto: EMA when the checkpoint has them, else raw

# The opset the dynamo exporter emits natively; older opsets would need a lossy conversion.
MIN_OPSET = 18
DEFAULT_OPSET = 18

# Parity runs at batch sizes the exporter never saw: it traces at EXPORT_BATCH_SIZE.
DEFAULT_BATCH_SIZES = (1, 3, 64)
DEFAULT_SEEDS = (0, 1, 2)
EXPORT_BATCH_SIZE = 2


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_cases(
    batch_sizes: Sequence[int], seeds: Sequence[int], atol: float | None
) -> tuple[tuple[int, ...], tuple[int, ...], float | None]:
    """The parity cases as int tuples, or UsageError: at least one of each, batch >= 1, seed >= 0."""
    try:
        batch_sizes, seeds = tuple(int(b) for b in batch_sizes), tuple(int(s) for s in seeds)
    except (TypeError, ValueError) as e:
        raise UsageError(f"batch sizes and seeds must be integers: {e}") from e
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError(f"batch sizes must be >= 1 and at least one, got {list(batch_sizes)}")
    if not seeds or min(seeds) < 0:
        raise UsageError(f"seeds must be >= 0 and at least one, got {list(seeds)}")
    if atol is not None and not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise UsageError(f"atol must be a number >= 0, got {atol!r}")
    return batch_sizes, seeds, None if atol is None else float(atol)


@dataclass(frozen=True)
class ExportOptions:
    """How every format is exported and checked; made (and so checked) once per export call."""

    dtype: str = "fp32"  # one of DTYPES
    output: str = "float"  # one of OUTPUTS
    verify: bool = True  # run the parity check before publishing
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES  # parity batch sizes
    seeds: tuple[int, ...] = DEFAULT_SEEDS  # parity latent seeds
    atol: float | None = None  # None: the named tolerance of the precision (parity.default_atol)

    def __post_init__(self) -> None:
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("output", self.output, OUTPUTS)
        batch_sizes, seeds, atol = check_cases(self.batch_sizes, self.seeds, self.atol)
        object.__setattr__(self, "batch_sizes", batch_sizes)
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "atol", atol)

    @property
    def output_dtype(self) -> str:
        """The artifact's output dtype as the metadata contract names it."""
        return "uint8" if self.output == "uint8" else "float32"


__all__ = [
    "DEFAULT_BATCH_SIZES", "DEFAULT_OPSET", "DEFAULT_SEEDS", "DTYPES", "EXPORT_BATCH_SIZE", "FORMATS", "MIN_OPSET",
    "OUTPUTS", "WEB_FORMAT", "WEIGHTS", "ExportOptions", "check_cases", "check_choice",
]
