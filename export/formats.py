"""Several formats in one export, all or nothing: what `facegan-export --format all` calls.

    results = export_formats(Path("runs/celeba"), ("onnx", "torchscript"), out_dir=Path("dist"))
    results["onnx"].path   # dist/celeba-g.onnx, published only because the TorchScript one passed too

The checkpoint is loaded once; every artifact is staged and checked in memory, and none is written
unless all of them passed (see `publish`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from .onnx import check_opset, stage_onnx
from .options import DEFAULT_BATCH_SIZES, DEFAULT_OPSET, DEFAULT_SEEDS, ExportOptions
from .publish import ExportResult, default_artifact_path, export_artifacts
from .torchscript import stage_torchscript


def export_formats(
    checkpoint: Path,
    formats: Sequence[str] = ("onnx",),
    out_dir: Path | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    dtype: str = "fp32",
    output: str = "float",
    weights: str = "auto",
    verify: bool = True,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
    force: bool = False,
) -> dict[str, ExportResult]:
    """Export to each of `formats` at its default path (`default_artifact_path`), all or nothing.

    Options, errors and guarantees as `export_onnx`; `opset` is used (and checked) for onnx only.
    """
    options = ExportOptions(dtype, output, verify, batch_sizes, seeds, atol)
    paths = {fmt: default_artifact_path(checkpoint, fmt, out_dir) for fmt in dict.fromkeys(formats)}
    stagers = {"torchscript": stage_torchscript}
    if "onnx" in paths:
        stagers["onnx"] = functools.partial(stage_onnx, opset=check_opset(opset))
    results = export_artifacts(checkpoint, {paths[f]: stagers[f] for f in paths}, options, weights=weights, force=force)
    return dict(zip(paths, results))


__all__ = ["export_formats"]
