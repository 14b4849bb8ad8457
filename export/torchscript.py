"""The TorchScript format: trace and freeze, serialise with metadata, read it back, run for parity.

Same contract as the ONNX export: `z` (batch, latent_dim) float32 in, `images` out (float32 NCHW,
or uint8 NHWC with `output="uint8"`), any batch size. The module is traced at batch 2 and frozen
(weights become constants), so `torch.jit.load(path)` alone runs it: no facegan, no Python class
definitions needed. The metadata travels as the extra file `facegan.json` (the full `facegan.*`
map as JSON), readable with `torch.jit.load(path, _extra_files={"facegan.json": ""})`.

torch.jit is deprecated in favour of torch.export, and every call warns so; those warnings are
filtered here on purpose (see `generator.quiet_torch`). TorchScript remains the format libtorch
(C++) apps load.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from facegan.runtime.errors import MetadataError, one_line
from facegan.runtime.metadata import parse_metadata

from . import parity
from .errors import ExportError
from .generator import LoadedGenerator, quiet_torch
from .metadata import versions
from .options import DEFAULT_BATCH_SIZES, DEFAULT_SEEDS, ExportOptions, check_cases
from .publish import ExportResult, StagedArtifact, export_artifacts, stage

METADATA_FILE = "facegan.json"
VARIANTS = ("torchscript",)


def export_torchscript(
    checkpoint: Path,
    out_path: Path,
    *,
    dtype: str = "fp32",
    output: str = "float",
    weights: str = "auto",
    verify: bool = True,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
    force: bool = False,
) -> ExportResult:
    """Export the generator of `checkpoint` (file or run directory) to `out_path` (.ts.pt).

    Errors and guarantees as `export_onnx`: nothing is left at `out_path` on failure.
    """
    options = ExportOptions(dtype, output, verify, batch_sizes, seeds, atol)
    return export_artifacts(checkpoint, {Path(out_path): stage_torchscript}, options, weights=weights, force=force)[0]


def verify_torchscript(
    path: Path,
    checkpoint: Path | LoadedGenerator,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
) -> dict:
    """Check an existing TorchScript file against a checkpoint; return the report (see verify_onnx)."""
    batch_sizes, seeds, atol = check_cases(batch_sizes, seeds, atol)
    path = Path(path)
    return check(path.read_bytes(), checkpoint, artifact=path.name, batch_sizes=batch_sizes, seeds=seeds, atol=atol)


def stage_torchscript(loaded: LoadedGenerator, path: Path, options: ExportOptions) -> StagedArtifact:
    """The verified TorchScript artifact of `loaded`, in memory (see `publish.stage`)."""
    return stage("torchscript", loaded, path, options, convert=convert, serialize=serialize, check=check,
                 versions=versions())


def convert(module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    """Trace at batch 2 and freeze. The batch size stays dynamic: the generator reads it from z."""
    try:
        with quiet_torch(), torch.no_grad():
            traced = torch.jit.trace(module.eval(), example)
            return torch.jit.freeze(traced)
    except Exception as e:
        raise ExportError(f"TorchScript tracing failed: {type(e).__name__}: {one_line(e)}") from e


def serialize(module: torch.jit.ScriptModule, metadata: dict[str, str]) -> bytes:
    """The module with `metadata` as its `facegan.json` extra file, as file bytes."""
    # Through a buffer: torch names the archive's inner folder after the file it writes to, and
    # a temporary name should not end up inside the published artifact.
    buffer = io.BytesIO()
    with quiet_torch():
        torch.jit.save(module, buffer, _extra_files={METADATA_FILE: json.dumps(metadata, sort_keys=True)})
    return buffer.getvalue()


def read_metadata(source: Path | bytes) -> dict[str, str]:
    """The facegan.* map stored in a TorchScript file's (or its bytes') `facegan.json` extra file."""
    return _load(source)[1]


def runner(module: torch.jit.ScriptModule) -> parity.Runner:
    def run(variant: str, z: np.ndarray, attributes: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        with torch.no_grad(), quiet_torch():
            out = module(*(torch.from_numpy(x) for x in (z, attributes) if x is not None))
        # A TorchScript module has no output names; the contract is one tensor, called `images`.
        if not isinstance(out, torch.Tensor):
            return [f"<{type(out).__name__}>"], np.zeros(0)
        return [parity.OUTPUT_NAME], out.numpy()

    return run


def check(data: bytes, reference: Path | LoadedGenerator, *, artifact: str, **cases) -> dict:
    """The parity report of the TorchScript module in `data` (cases as parity.check_artifact)."""
    module, props = _load(data, artifact)
    meta = parse_metadata(props, source=artifact)
    return parity.check_artifact(runner(module), VARIANTS, meta, reference, fmt="torchscript", artifact=artifact, **cases)


def _load(source: Path | bytes, name: str | None = None) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """The module and its facegan.* map, from a file or its bytes."""
    name = name or ("the module" if isinstance(source, bytes) else str(source))
    extra = {METADATA_FILE: ""}
    try:
        with quiet_torch():
            f = io.BytesIO(source) if isinstance(source, bytes) else str(source)
            module = torch.jit.load(f, map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise MetadataError(f"{name} is not a readable TorchScript file: {type(e).__name__}") from e
    raw = extra[METADATA_FILE]
    if not raw:
        raise MetadataError(f"{name} has no facegan metadata; export it with facegan-export")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise MetadataError(f"{name} has malformed facegan metadata in {METADATA_FILE}") from e
    if not isinstance(meta, dict):
        raise MetadataError(f"{name} has malformed facegan metadata in {METADATA_FILE}")
    return module, {str(k): str(v) for k, v in meta.items()}


__all__ = ["METADATA_FILE", "VARIANTS", "check", "convert", "export_torchscript", "read_metadata", "runner",
           "serialize", "stage_torchscript", "verify_torchscript"]
