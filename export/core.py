"""What both exporters share: loading the generator, the exported module, paths and safe writes.

The flow is checkpoint -> `load_generator` (eval mode, raw or EMA weights) -> `ExportModule`
(precision casts and the optional uint8 tail) -> an artifact written to a temporary file beside
its final path, verified, and only then renamed into place, so a failed export or a failed parity
check never leaves a half-written or wrong artifact at the path a user asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facegan.runtime import __version__ as facegan_version
from facegan.runtime.errors import FaceganError
from facegan.runtime.images import nchw_to_nhwc, to_uint8
from facegan.runtime.files import default_file_mode
from facegan.train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path, sha256_file
from facegan.train.config import ModelConfig, from_dict
from facegan.train.models import generator_from_state

from .errors import ExportError

FORMATS = ("onnx", "torchscript")
DTYPES = ("fp32", "fp16")
OUTPUTS = ("float", "uint8")
WEIGHTS = ("auto", "ema", "raw")
SUFFIXES = {"onnx": "-g.onnx", "torchscript": "-g.ts.pt"}
# The batch size used to trace/export. It is deliberately not among the default parity batch sizes
# (1, 3, 64), so parity always runs at batch sizes the exporter never saw.
EXPORT_BATCH_SIZE = 2



@dataclass(frozen=True)
class LoadedGenerator:
    """The eval-mode generator of a checkpoint plus what the metadata needs to describe it."""

    generator: nn.Module  # fp32, eval mode (BatchNorm uses running statistics)
    model_config: dict  # ModelConfig fields plus "value_range", as written into the metadata
    preset: str  # preset the run started from
    weights: str  # "raw" or "ema": which weights `generator` holds
    train_step: int  # optimizer steps of the checkpoint
    train_epoch: int  # epochs completed
    checkpoint_path: Path  # the resolved checkpoint file
    checkpoint_sha256: str  # hash of that file, so an artifact names its exact source

    @property
    def latent_dim(self) -> int:
        return int(self.model_config["latent_dim"])

    @property
    def value_range(self) -> tuple[float, float]:
        lo, hi = self.model_config["value_range"]
        return float(lo), float(hi)


@dataclass(frozen=True)
class ExportResult:
    """What an export produced."""

    path: Path  # the artifact, at its final path
    format: str  # "onnx" or "torchscript"
    metadata: dict  # the facegan.* key/value map written into the artifact
    parity: dict | None  # the full parity report, or None with verify=False
    export_s: float  # seconds spent exporting (tracing, conversion, checks, writing)
    verify_s: float  # seconds spent on parity checks (0 with verify=False)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ExportError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def load_generator(checkpoint: Path, weights: str = "auto") -> LoadedGenerator:
    """Load a checkpoint (file or run directory) and build its generator in eval mode.

    `weights`: "ema" needs EMA weights in the checkpoint, "raw" takes the trained weights, "auto"
    prefers EMA when present (it is the generator a run with EMA means to ship).
    """
    check_choice("weights", weights, WEIGHTS)
    path = resolve_checkpoint_path(Path(checkpoint))
    state = load_checkpoint(path)
    ema_state = state.get("generator_ema")
    if weights == "ema" and ema_state is None:
        raise ExportError(f"{path} holds no EMA generator weights (trained with ema=0); use --weights raw")
    chosen = "ema" if (weights == "ema" or (weights == "auto" and ema_state is not None)) else "raw"
    try:
        cfg = from_dict(ModelConfig, state["model_config"])
        cfg.validate()
        generator = generator_from_state(cfg, ema_state if chosen == "ema" else state["generator"])
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} holds a generator this facegan cannot build: {first[:200]}") from None
    model_config = {**dataclasses.asdict(cfg), "value_range": list(cfg.value_range)}
    return LoadedGenerator(
        generator=generator.float().eval(),
        model_config=model_config,
        preset=str(state["train_config"].get("preset", "")),
        weights=chosen,
        train_step=int(state["step"]),
        train_epoch=int(state["epoch"]),
        checkpoint_path=path,
        checkpoint_sha256=sha256_file(path),
    )


class ExportModule(nn.Module):
    """The generator as exported: z (N, latent_dim) float32 in, `images` out.

    fp16 casts z to half at the input and the images back to float32 at the output, so callers
    always feed and receive float32 whatever the compute precision. The uint8 tail is the graph
    form of `facegan.runtime.images.to_uint8` (same arithmetic, round half to even, clip) followed
    by NCHW -> NHWC, so an app in any language can display the output as is.
    """

    def __init__(self, generator: nn.Module, value_range: tuple[float, float], dtype: str, output: str):
        super().__init__()
        self.generator = generator.half() if dtype == "fp16" else generator
        self.half_precision = dtype == "fp16"
        self.uint8_output = output == "uint8"
        self.lo = float(value_range[0])
        self.scale = 255.0 / (float(value_range[1]) - float(value_range[0]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.generator(z.half() if self.half_precision else z).float()
        if self.uint8_output:
            x = torch.clamp(torch.round((x - self.lo) * self.scale), 0.0, 255.0)
            x = x.to(torch.uint8).permute(0, 2, 3, 1)  # NCHW -> NHWC
        return x


class StemGemm(nn.Module):
    """The generator's stem folded into one matrix multiply: z -> ReLU(z W + b) as (ngf*8) x 4 x 4.

    Both stems are affine in z before their ReLU: a ConvTranspose2d from a 1x1 map (or a Linear)
    to a 4x4 map, then an eval-mode BatchNorm (a per-channel scale and shift). onnxruntime runs a
    ConvTranspose on a 1x1 input at ~8% of its GEMM rate (per-node profile in
    benchmarks/bench_generate.py); as one Gemm with the BatchNorm folded in, the whole 64x64
    generator measured 1.07x (batch 1) to 1.12x (batch 16-64) faster. Exact up to float rounding;
    parity checks compare the artifact with the unmodified eager generator.
    """

    def __init__(self, stem: nn.Sequential):
        super().__init__()
        first, norm = stem[0], next(m for m in stem if isinstance(m, nn.BatchNorm2d))
        if isinstance(first, nn.ConvTranspose2d):  # weight (latent, c0, 4, 4): output index c*16 + y*4 + x
            weight = first.weight.detach().reshape(first.in_channels, -1)
        else:  # nn.Linear(latent, c0*16) then Unflatten(1, (c0, 4, 4)): the same output order
            weight = first.weight.detach().t()
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias.detach() - norm.running_mean * scale
        pixels = weight.shape[1] // norm.num_features  # 16: the 4x4 map
        self.shape = (norm.num_features, 4, 4)
        self.weight = nn.Parameter(weight * scale.repeat_interleave(pixels)[None, :], requires_grad=False)
        self.bias = nn.Parameter(shift.repeat_interleave(pixels), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z arrives as (N, latent) or, for the convtranspose stem, (N, latent, 1, 1)
        x = torch.relu(torch.addmm(self.bias, z.flatten(1), self.weight))
        return x.reshape(z.shape[0], *self.shape)


def build_export_module(loaded: LoadedGenerator, dtype: str, output: str) -> ExportModule:
    """A fresh copy of the generator, its stem folded into one Gemm, wrapped for export.

    The loaded generator stays untouched (fp32, original layers): it is the parity reference.
    """
    check_choice("dtype", dtype, DTYPES)
    check_choice("output", output, OUTPUTS)
    g = generator_from_state(
        from_dict(ModelConfig, loaded.model_config), loaded.generator.state_dict()
    )
    g.stem = StemGemm(g.stem)
    return ExportModule(g, loaded.value_range, dtype, output).eval()


def eager_reference(loaded: LoadedGenerator, z: np.ndarray, output: str) -> np.ndarray:
    """What an artifact should compute for `z`: the fp32 eager generator, de-normalised for uint8.

    fp16 artifacts are compared with this fp32 reference too (with a looser tolerance): the
    question parity answers is how far the artifact is from the trained model.
    """
    with torch.no_grad():
        images = loaded.generator(torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))).numpy()
    if output == "uint8":
        return nchw_to_nhwc(to_uint8(images, loaded.value_range))
    return images


def example_latents(latent_dim: int) -> torch.Tensor:
    """The latents exporters trace with (batch EXPORT_BATCH_SIZE, never a parity batch size)."""
    return torch.zeros(EXPORT_BATCH_SIZE, latent_dim, dtype=torch.float32)


def versions(onnx_version: str | None = None) -> dict[str, str]:
    """Versions recorded in the metadata (build_metadata adds the `_version` suffix)."""
    out = {"torch": torch.__version__.split("+")[0], "facegan": facegan_version}
    if onnx_version is not None:
        out["onnx"] = onnx_version
    return out


def run_name(checkpoint: Path) -> str:
    """The name artifacts are derived from: the run directory's name, else the checkpoint stem.

    `run/checkpoints/last.pt` and `run/` are "run"; another file in `run/checkpoints/`, e.g.
    `snapshot-000120.pt`, is "run-snapshot-000120" so exports of two snapshots never collide.
    """
    checkpoint = Path(checkpoint).resolve()  # `last.pt` typed inside checkpoints/ is the same file
    if checkpoint.is_dir():
        return checkpoint.name
    if checkpoint.parent.name == "checkpoints":
        run = checkpoint.parent.parent.name
        return run if checkpoint.stem == "last" else f"{run}-{checkpoint.stem}"
    return checkpoint.stem


def default_artifact_path(checkpoint: Path, fmt: str, out_dir: Path | None = None) -> Path:
    """`<run>-g.onnx` / `<run>-g.ts.pt`, next to the run directory (or the file) unless `out_dir`."""
    check_choice("format", fmt, FORMATS)
    checkpoint = Path(checkpoint).resolve()
    if out_dir is None:
        if checkpoint.is_dir():
            out_dir = checkpoint.parent
        elif checkpoint.parent.name == "checkpoints":
            out_dir = checkpoint.parent.parent.parent
        else:
            out_dir = checkpoint.parent
    return Path(out_dir) / (run_name(checkpoint) + SUFFIXES[fmt])


def parity_report_path(artifact: Path, passed: bool = True) -> Path:
    """Where the parity report of `artifact` is written: `<artifact>.parity.json`.

    A failed check writes `<artifact>.parity-failed.json` instead, so the report of an artifact
    already at that path (which a failed overwrite leaves in place) keeps describing it.
    """
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + (".parity.json" if passed else ".parity-failed.json"))


def check_destination(path: Path, force: bool) -> Path:
    """Refuse an existing artifact (unless force) or a folder we cannot write; create the folder."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"output path {path} is a folder; give a file name")
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Probe with a real file: permission bits lie on some file systems and for root.
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"cannot write to {path.parent}: {e.strerror or e}") from None
    return path


@contextlib.contextmanager
def staged_file(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final_path`; it is deleted unless the body renamed it.

    Same folder, so the closing `os.replace` is an atomic rename on one file system.
    """
    final_path = Path(final_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=".tmp", dir=final_path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


def publish(tmp_path: Path, final_path: Path) -> None:
    """Move a verified artifact into place (atomic; replaces an existing file only after checks)."""
    # mkstemp makes 0600 files; an artifact is meant to be shared, so give it the usual mode.
    os.chmod(tmp_path, default_file_mode())
    os.replace(tmp_path, final_path)


def write_text_atomic(path: Path, text: str) -> None:
    with staged_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        publish(tmp, path)


@contextlib.contextmanager
def quiet_torch() -> Iterator[io.StringIO]:
    """Silence what torch exporters print or warn about by design, and nothing else.

    The dynamo ONNX exporter prints progress to stdout (which would corrupt `--json` output) and
    every torch.jit API emits a FutureWarning/DeprecationWarning announcing its deprecation; both
    are expected here. onnxscript's version converter logs a traceback when it falls back, which
    facegan turns into one line of its own (`to_onnx_model` checks the opset it got), so its
    warnings are held back too. Other warnings and errors still show.
    """
    buf = io.StringIO()
    converter_log = logging.getLogger("onnxscript")
    level = converter_log.level
    converter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
            for category in (FutureWarning, DeprecationWarning):
                warnings.filterwarnings("ignore", category=category, message=r".*torch\.jit.*")
                warnings.filterwarnings("ignore", category=category, message=r".*is deprecated.*", module=r"torch\.")
                warnings.filterwarnings("ignore", category=category, module=r"torch\.onnx")
            yield buf
    finally:
        converter_log.setLevel(level)
