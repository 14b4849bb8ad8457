"""Parity: does an exported artifact compute what the eager generator computes?

A format module hands in a runner (`runner(variant, z) -> (output names, images)`) and the variants
it runs (onnxruntime with graph optimisations ALL and DISABLED, or the TorchScript module); this
module knows nothing of formats. Every case runs one variant on latents from
`facegan.runtime.latents.latents(seed, n, dim)` and compares with the fp32 eager generator: output
names, shape, dtype, NaN/Inf, max absolute and max relative difference. Batch sizes default to 1, 3
and 64, none of which is the export batch size (2), so the dynamic batch axis is checked where the
exporter never looked.

A case passes when names, shape and dtype match, every value is finite and the max absolute
difference is within the tolerance; the relative difference is reported, not judged (it explodes
where the reference is near zero). Any failing case raises ParityMismatchError carrying the full
report; a failure is never downgraded to a warning.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from facegan.runtime.errors import one_line
from facegan.runtime.attributes import attribute_vectors
from facegan.runtime.latents import latents
from facegan.runtime.metadata import ModelMetadata

from .errors import ParityMismatchError
from .generator import LoadedGenerator, eager_reference, load_generator

# Tolerances on output values (max absolute difference), per compute precision.
ATOL_FP32 = 1e-4  # measured ~1e-6 for eager vs onnxruntime CPU
ATOL_FP16 = 2e-2  # half-precision weights and activations against the fp32 reference
# uint8 outputs are compared in levels. fp32: at most one level (a value sitting on a rounding
# boundary may round either way). fp16: the value tolerance converted to levels, plus that one.
ATOL_UINT8_LEVELS = 1

INPUT_NAME = "z"  # the inputs and the one output of the contract (facegan.input_name, attributes_input, output_name)
ATTRIBUTES_NAME = "attributes"
OUTPUT_NAME = "images"

# runner(variant, z, attributes=None) -> (output names, output array)
Runner = Callable[..., tuple[list[str], np.ndarray]]


def default_atol(dtype: str, output: str, value_range: tuple[float, float]) -> float:
    """The named tolerance for a precision and output kind (levels for uint8, values otherwise)."""
    if output != "uint8":
        return ATOL_FP16 if dtype == "fp16" else ATOL_FP32
    if dtype == "fp16":
        levels_per_unit = 255.0 / (value_range[1] - value_range[0])
        return float(math.ceil(ATOL_FP16 * levels_per_unit) + ATOL_UINT8_LEVELS)
    return float(ATOL_UINT8_LEVELS)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b|, computed in float64 so uint8 inputs cannot wrap around."""
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def max_rel_diff(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    """Largest |a - b| / max(|b|, floor), with `b` the reference."""
    if a.size == 0:
        return 0.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.max(np.abs(a64 - b64) / np.maximum(np.abs(b64), floor)))


def compare_case(
    actual: np.ndarray,
    expected: np.ndarray,
    output_names: list[str],
    *,
    expected_dtype: str,
    atol: float,
) -> dict:
    """One parity case as a dict: what was seen, the differences, `passed` and `problems`."""
    problems: list[str] = []
    if output_names != [OUTPUT_NAME]:
        problems.append(f"outputs {output_names}, expected [{OUTPUT_NAME!r}]")
    if actual.dtype != np.dtype(expected_dtype):
        problems.append(f"dtype {actual.dtype}, expected {expected_dtype}")
    if tuple(actual.shape) != tuple(expected.shape):
        problems.append(f"shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    nonfinite = int(actual.size - np.count_nonzero(np.isfinite(actual))) if actual.dtype.kind == "f" else 0
    if nonfinite:
        problems.append(f"{nonfinite} NaN/Inf values")
    abs_diff = rel_diff = math.inf
    if tuple(actual.shape) == tuple(expected.shape):
        abs_diff, rel_diff = max_abs_diff(actual, expected), max_rel_diff(actual, expected)
        if not abs_diff <= atol:  # also catches NaN
            problems.append(f"max abs diff {abs_diff:.3g} > atol {atol:.3g}")
    return {
        "output_names": output_names,
        "shape": list(actual.shape),
        "dtype": str(actual.dtype),
        "nonfinite": nonfinite,
        "max_abs_diff": abs_diff,
        "max_rel_diff": rel_diff,
        "atol": atol,
        "passed": not problems,
        "problems": problems,
    }


def check_artifact(
    runner: Runner,
    variants: Sequence[str],
    meta: ModelMetadata,
    reference: Path | LoadedGenerator,
    *,
    fmt: str,
    artifact: str,
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    atol: float | None,
) -> dict:
    """Run every (variant, batch size, seed) case and return the report; raise on any failure.

    Precision, output kind and weights come from the artifact's own metadata `meta`: `reference` is
    a LoadedGenerator, or a checkpoint loaded with the weights the artifact says it holds. Cases
    are checked by the caller's entry point (`options.check_cases`).
    """
    loaded = reference if isinstance(reference, LoadedGenerator) else load_generator(Path(reference), meta.weights)
    output = "uint8" if meta.output_dtype == "uint8" else "float"
    tol = atol if atol is not None else default_atol(meta.dtype, output, loaded.value_range)
    space = loaded.space
    start = time.perf_counter()
    cases = []
    for batch_size in batch_sizes:
        for seed in seeds:
            z = latents(seed, batch_size, loaded.latent_dim)
            inputs = (z,) if space is None else (z, case_attributes(space, batch_size, seed))
            expected = eager_reference(loaded, *inputs[:1], output, *inputs[1:])
            for variant in variants:
                try:
                    names, actual = runner(variant, *inputs)
                except Exception as e:  # a crashing artifact is a failed case, reported like one
                    case = _crashed_case(e, tol)
                else:
                    case = compare_case(np.asarray(actual), expected, list(names), expected_dtype=meta.output_dtype, atol=tol)
                cases.append({"variant": variant, "batch_size": batch_size, "seed": seed, **case})
    failed = [c for c in cases if not c["passed"]]
    report = {
        "format": fmt,
        "artifact": artifact,
        "checkpoint_sha256": loaded.checkpoint_sha256,
        "weights": loaded.weights,
        "dtype": meta.dtype,
        "output": output,
        "atol": tol,
        "atol_unit": "levels" if output == "uint8" else "value",
        "reference": "eager fp32 generator, eval mode",
        "variants": list(variants),
        "batch_sizes": list(batch_sizes),
        "seeds": list(seeds),
        "num_cases": len(cases),
        "num_failed": len(failed),
        "max_abs_diff": max((c["max_abs_diff"] for c in cases), default=0.0),
        "max_rel_diff": max((c["max_rel_diff"] for c in cases), default=0.0),
        "passed": not failed,
        "verify_s": round(time.perf_counter() - start, 3),
        "cases": cases,
    }
    if failed:
        worst = failed[0]
        raise ParityMismatchError(
            f"parity failed for {artifact}: {len(failed)} of {len(cases)} cases over "
            f"tolerance or wrong (first: {worst['variant']} batch {worst['batch_size']} seed "
            f"{worst['seed']}: {'; '.join(worst['problems'])})",
            report,
        )
    return report


def case_attributes(space, n: int, seed: int) -> np.ndarray:
    """The attributes of a conditional case: faces 0..n-1 of `seed` drawn from the prior, as the
    runtime feeds them, except the last, whose values are uniform in [0, 1] (sliders between 0 and 1)."""
    rows = attribute_vectors(space, n, seed)
    rows[-1] = np.random.default_rng(seed).random(rows.shape[1], dtype=np.float32)
    return rows


def summary(report: dict) -> dict:
    """The report without its per-case rows (JSON-safe): what goes into the artifact's metadata."""
    return _finite({k: v for k, v in report.items() if k != "cases"})


def report_json(report: dict) -> str:
    """The report as JSON; infinities (a case that never produced output) become null."""
    return json.dumps(_finite(report), indent=2, sort_keys=True)


def render_table(report: dict):
    """A rich Table with one row per case (the CLI prints it; failures stand out in red)."""
    from rich.table import Table

    unit = " (levels)" if report.get("atol_unit") == "levels" else ""
    verdict = "[green]passed[/green]" if report["passed"] else "[bold red]FAILED[/bold red]"
    table = Table(
        title=f"parity {report['artifact']} ({report['format']}, {report['dtype']}, {report['output']}): {verdict}",
        caption=f"reference: {report['reference']}; atol {report['atol']:g}{unit}",
    )
    for col in ("variant", "batch", "seed", "shape", "dtype", "NaN/Inf", "max abs", "max rel", "result"):
        table.add_column(col, justify="right" if col in ("batch", "seed", "NaN/Inf", "max abs", "max rel") else "left")
    for c in report["cases"]:
        result = "ok" if c["passed"] else "[red]" + "; ".join(c["problems"]) + "[/red]"
        table.add_row(
            c["variant"], str(c["batch_size"]), str(c["seed"]), "x".join(map(str, c["shape"])), c["dtype"],
            str(c["nonfinite"]), f"{c['max_abs_diff']:.3g}", f"{c['max_rel_diff']:.3g}", result,
        )
    return table


def _crashed_case(e: Exception, atol: float) -> dict:
    return {
        "output_names": [], "shape": [], "dtype": "", "nonfinite": 0,
        "max_abs_diff": math.inf, "max_rel_diff": math.inf, "atol": atol, "passed": False,
        "problems": [f"run failed: {type(e).__name__}: {one_line(e, 200)}"],
    }


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


__all__ = [
    "ATOL_FP16", "ATOL_FP32", "ATOL_UINT8_LEVELS", "INPUT_NAME", "OUTPUT_NAME", "Runner", "check_artifact", "compare_case", "default_atol",
    "max_abs_diff", "max_rel_diff", "render_table", "report_json", "summary",
]
