"""Export a facegan generator to a frozen TorchScript file with facegan metadata.

Same contract as the ONNX export: `z` (batch, latent_dim) float32 in, `images` out (float32 NCHW,
or uint8 NHWC with `output="uint8"`), any batch size. The module is traced at batch 2 and frozen
(weights become constants), so `torch.jit.load(path)` alone runs it: no facegan, no Python class
definitions needed. The metadata travels as the extra file `facegan.json` (the full `facegan.*`
map as JSON), readable with `torch.jit.load(path, _extra_files={"facegan.json": ""})`.

torch.jit is deprecated in favour of torch.export, and every call warns so; those warnings are
filtered here on purpose (see `core.quiet_torch`). TorchScript remains the format libtorch (C++)
apps load.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from facegan.runtime.errors import MetadataError
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

METADATA_FILE = "facegan.json"


def export_torchscript(
    checkpoint: Path,
    out_path: Path,
    *,
    dtype: str = "fp32",
    output: str = "float",
    weights: str = "auto",
    verify: bool = True,
    batch_sizes: Sequence[int] = parity.DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = parity.DEFAULT_SEEDS,
    atol: float | None = None,
    force: bool = False,
) -> ExportResult:
    """Export the generator of `checkpoint` (file or run directory) to `out_path` (.ts.pt).

    Errors and guarantees as `export_onnx`: nothing is left at `out_path` on failure.
    """
    check_choice("dtype", dtype, DTYPES)
    check_choice("output", output, OUTPUTS)
    out_path = check_destination(Path(out_path), force)
    loaded = load_generator(checkpoint, weights)

    start = time.perf_counter()
    module = to_torchscript(build_export_module(loaded, dtype, output), loaded.latent_dim)
    return write_verified(
        "torchscript", module, loaded, out_path, save=_save, check=parity.verify_torchscript, dtype=dtype, output=output,
        versions=versions(), verify=verify, batch_sizes=batch_sizes, seeds=seeds, atol=atol,
        export_s=time.perf_counter() - start,
    )


def to_torchscript(module: torch.nn.Module, latent_dim: int) -> torch.jit.ScriptModule:
    """Trace at batch 2 and freeze. The batch size stays dynamic: the generator reads it from z."""
    try:
        with quiet_torch(), torch.no_grad():
            traced = torch.jit.trace(module.eval(), example_latents(latent_dim))
            return torch.jit.freeze(traced)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ExportError(f"TorchScript tracing failed: {type(e).__name__}: {first}") from None


def read_metadata(path: Path) -> dict[str, str]:
    """The facegan.* map stored in a TorchScript file's `facegan.json` extra file."""
    extra = {METADATA_FILE: ""}
    try:
        with quiet_torch():
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise MetadataError(f"{path} is not a readable TorchScript file: {type(e).__name__}") from None
    raw = extra[METADATA_FILE]
    if not raw:
        raise MetadataError(f"{path} has no facegan metadata; export it with facegan-export")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise MetadataError(f"{path} has malformed facegan metadata in {METADATA_FILE}") from None
    if not isinstance(meta, dict):
        raise MetadataError(f"{path} has malformed facegan metadata in {METADATA_FILE}")
    return {str(k): str(v) for k, v in meta.items()}


def _save(module: torch.jit.ScriptModule, metadata: dict[str, str], path: Path) -> None:
    # Saved through a buffer: torch names the archive's inner folder after the file, and the
    # temporary name should not end up inside the published artifact.
    buffer = io.BytesIO()
    with quiet_torch():
        torch.jit.save(module, buffer, _extra_files={METADATA_FILE: json.dumps(metadata, sort_keys=True)})
    Path(path).write_bytes(buffer.getvalue())
