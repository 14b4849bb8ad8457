"""Parity: does an exported artifact compute what the eager generator computes?

Every case runs one variant of the artifact (onnxruntime on CPU with graph optimisations ALL and
DISABLED, or the TorchScript module) on latents from `facegan.runtime.latents.latents(seed, n,
dim)` and compares with the fp32 eager generator: output names, shape, dtype, NaN/Inf, max
absolute and max relative difference. Batch sizes default to 1, 3 and 64, none of which is the
export batch size (2), so the dynamic batch axis is checked where the exporter never looked.

A case passes when names, shape and dtype match, every value is finite and the max absolute
difference is within the tolerance; the relative difference is reported, not judged (it explodes
where the reference is near zero). Any failing case raises ParityMismatchError carrying the full
report; a failure is never downgraded to a warning.

    report = verify_onnx("celeba-g.onnx", "runs/celeba")   # raises ParityMismatchError
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from facegan.runtime.errors import MetadataError, UsageError
from facegan.runtime.latents import latents
from facegan.runtime.metadata import parse_metadata

from .errors import ParityMismatchError
from .core import (
    LoadedGenerator,
    eager_reference,
    load_generator,
    parity_report_path,
    quiet_torch,
    write_text_atomic,
)

# Tolerances on output values (max absolute difference), per compute precision.
ATOL_FP32 = 1e-4  # measured ~1e-6 for eager vs onnxruntime CPU
ATOL_FP16 = 2e-2  # half-precision weights and activations against the fp32 reference
# uint8 outputs are compared in levels. fp32: at most one level (a value sitting on a rounding
# boundary may round either way). fp16: the value tolerance converted to levels, plus that one.
ATOL_UINT8_LEVELS = 1

DEFAULT_BATCH_SIZES = (1, 3, 64)
DEFAULT_SEEDS = (0, 1, 2)
ORT_VARIANTS = ("ort-cpu-opt-all", "ort-cpu-opt-disabled")
TORCHSCRIPT_VARIANTS = ("torchscript",)
INPUT_NAME = "z"
OUTPUT_NAME = "images"

# runner(variant, z) -> (output names, output array)
Runner = Callable[[str, np.ndarray], tuple[list[str], np.ndarray]]


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


def run_parity(
    runner: Runner,
    loaded: LoadedGenerator,
    *,
    fmt: str,
    artifact: Path,
    variants: Sequence[str],
    dtype: str,
    output: str,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
) -> dict:
    """Run every (variant, batch size, seed) case and return the report; raise on any failure."""
    batch_sizes, seeds = _check_cases(batch_sizes, seeds)
    tol = float(atol) if atol is not None else default_atol(dtype, output, loaded.value_range)
    if not tol >= 0:
        raise UsageError(f"atol must be >= 0, got {atol}")
    expected_dtype = "uint8" if output == "uint8" else "float32"
    start = time.perf_counter()
    cases = []
    for batch_size in batch_sizes:
        for seed in seeds:
            z = latents(seed, batch_size, loaded.latent_dim)
            expected = eager_reference(loaded, z, output)
            for variant in variants:
                try:
                    names, actual = runner(variant, z)
                except Exception as e:  # a crashing artifact is a failed case, reported like one
                    case = _crashed_case(e, tol)
                else:
                    case = compare_case(np.asarray(actual), expected, list(names), expected_dtype=expected_dtype, atol=tol)
                cases.append({"variant": variant, "batch_size": batch_size, "seed": seed, **case})
    failed = [c for c in cases if not c["passed"]]
    report = {
        "format": fmt,
        "artifact": Path(artifact).name,
        "checkpoint_sha256": loaded.checkpoint_sha256,
        "weights": loaded.weights,
        "dtype": dtype,
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
            f"parity failed for {Path(artifact).name}: {len(failed)} of {len(cases)} cases over "
            f"tolerance or wrong (first: {worst['variant']} batch {worst['batch_size']} seed "
            f"{worst['seed']}: {'; '.join(worst['problems'])})",
            report,
        )
    return report


def summary(report: dict) -> dict:
    """The report without its per-case rows (JSON-safe): what goes into the artifact's metadata."""
    return _finite({k: v for k, v in report.items() if k != "cases"})


def report_json(report: dict) -> str:
    """The report as JSON; infinities (a case that never produced output) become null."""
    return json.dumps(_finite(report), indent=2, sort_keys=True)


def write_report(artifact: Path, report: dict | None) -> None:
    """Write the report beside `artifact`: `<artifact>.parity.json` when it passed (removing a stale
    `.parity-failed.json`), `<artifact>.parity-failed.json` when it failed, to diagnose it (the
    artifact, if any, and its own report are left alone). None removes `<artifact>.parity.json`:
    after `--force --no-verify` an earlier report would describe another file.
    """
    if report is not None and not report["passed"]:
        write_text_atomic(parity_report_path(artifact, passed=False), report_json(report))
        return
    parity_report_path(artifact, passed=False).unlink(missing_ok=True)
    path = parity_report_path(artifact)
    if report is None:
        path.unlink(missing_ok=True)
    else:
        write_text_atomic(path, report_json(report))


def verify_onnx(
    path: Path,
    checkpoint: Path | LoadedGenerator,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
    name: str | None = None,
) -> dict:
    """Check an existing .onnx against a checkpoint (file or run dir); return the report.

    Precision, output kind and weights (raw/EMA) are read from the artifact's own metadata.
    `name` is what the report and errors call the artifact (default: the file's name; the export
    checks a staged temporary file and passes the name it will be published under).
    Raises ParityMismatchError (a ParityError) when any case fails.
    """
    import onnx
    import onnxruntime as ort

    path = Path(path)
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:
        raise MetadataError(f"{path} is not a readable ONNX model: {type(e).__name__}") from None
    meta = parse_metadata({p.key: p.value for p in model.metadata_props}, source=str(path))
    loaded = _loaded_for(checkpoint, meta.weights)
    payload = model.SerializeToString()
    sessions: dict[str, ort.InferenceSession] = {}
    levels = {
        "ort-cpu-opt-all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "ort-cpu-opt-disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }

    def runner(variant: str, z: np.ndarray) -> tuple[list[str], np.ndarray]:
        if variant not in sessions:
            options = ort.SessionOptions()
            options.graph_optimization_level = levels[variant]
            options.log_severity_level = 3  # errors only: fp16 graphs make ORT chatty about casts
            sessions[variant] = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
        session = sessions[variant]
        names = [o.name for o in session.get_outputs()]
        return names, session.run(None, {INPUT_NAME: z})[0]

    return run_parity(
        runner, loaded, fmt="onnx", artifact=Path(name or path.name), variants=ORT_VARIANTS, dtype=meta.dtype,
        output="uint8" if meta.output_dtype == "uint8" else "float",
        batch_sizes=batch_sizes, seeds=seeds, atol=atol,
    )


def verify_torchscript(
    path: Path,
    checkpoint: Path | LoadedGenerator,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
    name: str | None = None,
) -> dict:
    """Check an existing TorchScript file against a checkpoint; return the report (see verify_onnx)."""
    import torch

    from .torchscript import read_metadata

    path = Path(path)
    meta = parse_metadata(read_metadata(path), source=str(path))
    loaded = _loaded_for(checkpoint, meta.weights)
    with quiet_torch():
        module = torch.jit.load(str(path), map_location="cpu")

    def runner(variant: str, z: np.ndarray) -> tuple[list[str], np.ndarray]:
        with torch.no_grad(), quiet_torch():
            out = module(torch.from_numpy(z))
        # A TorchScript module has no output names; the contract is one tensor, called `images`.
        if not isinstance(out, torch.Tensor):
            return [f"<{type(out).__name__}>"], np.zeros(0)
        return [OUTPUT_NAME], out.numpy()

    return run_parity(
        runner, loaded, fmt="torchscript", artifact=Path(name or path.name), variants=TORCHSCRIPT_VARIANTS,
        dtype=meta.dtype, output="uint8" if meta.output_dtype == "uint8" else "float",
        batch_sizes=batch_sizes, seeds=seeds, atol=atol,
    )


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


def _loaded_for(checkpoint: Path | LoadedGenerator, weights: str) -> LoadedGenerator:
    if isinstance(checkpoint, LoadedGenerator):
        return checkpoint
    return load_generator(Path(checkpoint), weights if weights in ("raw", "ema") else "auto")


def _check_cases(batch_sizes: Sequence[int], seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    batch_sizes, seeds = [int(b) for b in batch_sizes], [int(s) for s in seeds]
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError(f"batch sizes must be >= 1 and at least one, got {batch_sizes}")
    if not seeds or min(seeds) < 0:
        raise UsageError(f"seeds must be >= 0 and at least one, got {seeds}")
    return batch_sizes, seeds


def _crashed_case(e: Exception, atol: float) -> dict:
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return {
        "output_names": [], "shape": [], "dtype": "", "nonfinite": 0,
        "max_abs_diff": math.inf, "max_rel_diff": math.inf, "atol": atol, "passed": False,
        "problems": [f"run failed: {type(e).__name__}: {first}"],
    }


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
