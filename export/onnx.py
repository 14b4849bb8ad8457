"""The ONNX format: convert, serialise with metadata, read the metadata back, run for parity.

The graph takes `z` (batch, latent_dim) float32 with a dynamic batch axis and returns `images`:
float32 NCHW in the model's value range, or uint8 NHWC RGB with `output="uint8"`. The opset is
pinned (DEFAULT_OPSET = 18, the first opset of torch's dynamo exporter, read by onnxruntime >= 1.14).
The file holds its weights inline (no external data) and passes `onnx.checker.check_model(
full_check=True)`. It is checked for parity against the eager generator (unless verify=False)
before anything is written at `out_path`.

    from facegan.export import export_onnx, verify_onnx
    result = export_onnx(Path("runs/celeba"), Path("celeba-g.onnx"))
    report = verify_onnx(Path("celeba-g.onnx"), Path("runs/celeba"))   # raises ParityMismatchError
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from facegan.runtime.errors import MetadataError, UsageError, one_line
from facegan.runtime.metadata import parse_metadata

from . import parity
from .errors import ExportError
from .generator import LoadedGenerator, quiet_torch
from .metadata import versions
from .options import DEFAULT_BATCH_SIZES, DEFAULT_OPSET, DEFAULT_SEEDS, MIN_OPSET, ExportOptions, check_cases
from .publish import ExportResult, StagedArtifact, export_artifacts, stage

# onnxruntime on CPU with every graph optimisation, and with none: a fusion that changes the
# numbers shows up as a difference between the two.
VARIANTS = {
    "ort-cpu-opt-all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "ort-cpu-opt-disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def export_onnx(
    checkpoint: Path,
    out_path: Path,
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
) -> ExportResult:
    """Export the generator of `checkpoint` (file or run directory) to `out_path` (.onnx).

    Raises UsageError (a ValueError: bad choice, opset, batch sizes, seeds or atol), CheckpointError
    (bad checkpoint), ExportError (existing output without force, unwritable folder, exporter
    failure) or ParityMismatchError; none leaves a file at `out_path` (an existing one survives).
    """
    options = ExportOptions(dtype, output, verify, batch_sizes, seeds, atol)
    check_opset(opset)
    stager = functools.partial(stage_onnx, opset=opset)
    return export_artifacts(checkpoint, {Path(out_path): stager}, options, weights=weights, force=force)[0]


def verify_onnx(
    path: Path,
    checkpoint: Path | LoadedGenerator,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
) -> dict:
    """Check an existing .onnx against a checkpoint (file or run dir); return the parity report.

    Precision, output kind and weights (raw/EMA) are read from the artifact's own metadata.
    Raises ParityMismatchError (a ParityError) when any case fails.
    """
    batch_sizes, seeds, atol = check_cases(batch_sizes, seeds, atol)
    path = Path(path)
    return check(path.read_bytes(), checkpoint, artifact=path.name, batch_sizes=batch_sizes, seeds=seeds, atol=atol)


def check_opset(opset: int) -> int:
    max_opset = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset:
        raise UsageError(
            f"opset must be an integer from {MIN_OPSET} to {max_opset} (the installed onnx "
            f"{onnx.__version__}'s newest), got {opset!r}"
        )
    return opset


def stage_onnx(loaded: LoadedGenerator, path: Path, options: ExportOptions, *, opset: int) -> StagedArtifact:
    """The verified ONNX artifact of `loaded`, in memory (see `publish.stage`)."""
    return stage(
        "onnx", loaded, path, options, convert=functools.partial(convert, opset=opset), serialize=serialize,
        check=check, versions=versions(onnx=onnx.__version__),
    )


def convert(module: torch.nn.Module, example: tuple[torch.Tensor, ...], opset: int) -> onnx.ModelProto:
    """Convert with torch's dynamo exporter: input `z` (and a conditional model's `attributes`) with
    one dynamic batch axis, output `images`."""
    names = [parity.INPUT_NAME, parity.ATTRIBUTES_NAME][: len(example)]
    batch = torch.export.Dim("batch")
    try:
        with quiet_torch(), torch.no_grad():
            program = torch.onnx.export(
                module,
                example,
                None,
                input_names=names,
                output_names=[parity.OUTPUT_NAME],
                opset_version=opset,
                dynamic_shapes=({0: batch},) + ((({0: batch},),) if len(example) > 1 else ()),  # z, *attributes
                external_data=False,
                verbose=False,
            )
            model = program.model_proto  # renames the dynamic axes, with a warning when two share "batch"
    except Exception as e:  # the exporter raises many types; the CLI needs one line
        raise ExportError(f"torch.onnx.export failed: {type(e).__name__}: {one_line(e)}") from e
    # torch.onnx falls back to its own opset, with a warning only, when it cannot convert to the
    # one asked for (e.g. one newer than the installed onnx knows): a pinned opset is checked.
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise ExportError(
            f"torch.onnx.export wrote opset {written}, not the requested {opset} "
            f"(the installed onnx {onnx.__version__} knows opsets up to {onnx.defs.onnx_opset_version()})"
        )
    model.doc_string = "facegan DCGAN generator: z (batch, latent_dim) float32" + (
        " and attributes (batch, k) float32" if len(example) > 1 else "") + " -> images"
    return model


def serialize(model: onnx.ModelProto, metadata: dict[str, str]) -> bytes:
    """The model with `metadata` as its metadata_props, checked by onnx.checker, as file bytes."""
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"exported ONNX model fails onnx.checker: {one_line(e)}") from e
    # One file: weights inline, never external data (a generator is far below the 2 GB limit).
    return model.SerializeToString()


def read_metadata(source: Path | bytes) -> dict[str, str]:
    """The metadata_props of an .onnx file (or its bytes) as a dict."""
    try:
        if isinstance(source, bytes):
            model = onnx.load_model_from_string(source)
        else:
            model = onnx.load_model(str(source), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise MetadataError(f"{_name(source)} is not a readable ONNX model: {type(e).__name__}") from e
    return {p.key: p.value for p in model.metadata_props}


def runner(data: bytes) -> parity.Runner:
    """Run the model in `data` as each of VARIANTS does; sessions are made once, on first use."""
    sessions: dict[str, ort.InferenceSession] = {}

    def run(variant: str, z: np.ndarray, attributes: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        if variant not in sessions:
            options = ort.SessionOptions()
            options.graph_optimization_level = VARIANTS[variant]
            options.log_severity_level = 3  # errors only: fp16 graphs make ORT chatty about casts
            sessions[variant] = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        session = sessions[variant]
        feed = {parity.INPUT_NAME: z} if attributes is None else {parity.INPUT_NAME: z, parity.ATTRIBUTES_NAME: attributes}
        return [o.name for o in session.get_outputs()], session.run(None, feed)[0]

    return run


def check(data: bytes, reference: Path | LoadedGenerator, *, artifact: str, **cases) -> dict:
    """The parity report of the ONNX model in `data`, named `artifact` (cases as parity.check_artifact)."""
    meta = parse_metadata(read_metadata(data), source=artifact)
    return parity.check_artifact(runner(data), tuple(VARIANTS), meta, reference, fmt="onnx", artifact=artifact, **cases)


def _name(source: Path | bytes) -> str:
    return "the model" if isinstance(source, bytes) else str(source)


__all__ = ["VARIANTS", "check", "check_opset", "convert", "export_onnx", "read_metadata", "runner", "serialize",
           "stage_onnx", "verify_onnx"]
