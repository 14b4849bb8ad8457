"""Export a facegan generator to one self-contained ONNX file with facegan metadata.

The graph takes `z` (batch, latent_dim) float32 with a dynamic batch axis and returns `images`:
float32 NCHW in the model's value range, or uint8 NHWC RGB with `output="uint8"`. The opset is
pinned (DEFAULT_OPSET = 18, the first opset of torch's dynamo exporter, read by onnxruntime >= 1.14).
The file holds its weights inline (no external data) and passes `onnx.checker.check_model(
full_check=True)`. It is written to a temporary file, checked for parity against the eager
generator (unless verify=False) and only then renamed to `out_path`.

    from facegan.export import export_onnx
    result = export_onnx(Path("runs/celeba"), Path("celeba-g.onnx"))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from . import parity
from .core import (
    DTYPES,
    OUTPUTS,
    ExportError,
    ExportResult,
    build_export_module,
    check_choice,
    check_destination,
    example_latents,
    load_generator,
    quiet_torch,
    versions,
)
from .pipeline import write_verified

DEFAULT_OPSET = 18
MIN_OPSET = 18  # the dynamo exporter emits opset 18 natively; older opsets need lossy conversion


def export_onnx(
    checkpoint: Path,
    out_path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    dtype: str = "fp32",
    output: str = "float",
    weights: str = "auto",
    verify: bool = True,
    batch_sizes: Sequence[int] = parity.DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = parity.DEFAULT_SEEDS,
    atol: float | None = None,
    force: bool = False,
) -> ExportResult:
    """Export the generator of `checkpoint` (file or run directory) to `out_path` (.onnx).

    Raises CheckpointError (bad checkpoint), ExportError (bad choice, existing output without
    force, unwritable folder, exporter failure) or ParityMismatchError; none leaves a file at
    `out_path` (an existing one survives a failed overwrite).
    """
    check_choice("dtype", dtype, DTYPES)
    check_choice("output", output, OUTPUTS)
    max_opset = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"opset must be an integer from {MIN_OPSET} to {max_opset} (the installed onnx's newest), got {opset!r}")
    out_path = check_destination(Path(out_path), force)
    loaded = load_generator(checkpoint, weights)

    start = time.perf_counter()
    model = to_onnx_model(build_export_module(loaded, dtype, output), loaded.latent_dim, opset)
    return write_verified(
        "onnx", model, loaded, out_path, save=_save, check=parity.verify_onnx, dtype=dtype, output=output,
        versions=versions(onnx.__version__), verify=verify, batch_sizes=batch_sizes, seeds=seeds, atol=atol,
        export_s=time.perf_counter() - start,
    )


def to_onnx_model(module: torch.nn.Module, latent_dim: int, opset: int) -> onnx.ModelProto:
    """Convert with torch's dynamo exporter: input `z` with a dynamic batch axis, output `images`."""
    try:
        with quiet_torch(), torch.no_grad():
            program = torch.onnx.export(
                module,
                (example_latents(latent_dim),),
                None,
                input_names=["z"],
                output_names=["images"],
                opset_version=opset,
                dynamic_shapes={"z": {0: torch.export.Dim("batch")}},
                external_data=False,
                verbose=False,
            )
        model = program.model_proto
    except Exception as e:  # the exporter raises many types; the CLI needs one line
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ExportError(f"torch.onnx.export failed: {type(e).__name__}: {first}") from None
    # torch.onnx falls back to its own opset, with a warning only, when it cannot convert to the
    # one asked for (e.g. one newer than the installed onnx knows): a pinned opset is checked.
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise ExportError(
            f"torch.onnx.export wrote opset {written}, not the requested {opset} "
            f"(the installed onnx {onnx.__version__} knows opsets up to {onnx.defs.onnx_opset_version()})"
        )
    model.doc_string = "facegan DCGAN generator: z (batch, latent_dim) float32 -> images"
    return model


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an .onnx file as a dict (weights are not loaded)."""
    model = onnx.load_model(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _save(model: onnx.ModelProto, metadata: dict[str, str], path: Path) -> None:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0][:300]
        raise ExportError(f"exported ONNX model fails onnx.checker: {first}") from None
    # One file: weights inline, never external data (a generator is far below the 2 GB limit).
    onnx.save_model(model, str(path), save_as_external_data=False)
