"""The generator as export sees it: checkpoint -> eval generator -> the module handed to a converter.

    loaded = load_generator(Path("runs/celeba"), "auto")    # fp32, eval mode, raw or EMA weights
    module = build_export_module(loaded, "fp16", "uint8")  # a copy: stem as one Gemm, casts, uint8 tail
    eager_reference(loaded, z, "uint8")                    # what that module must compute for z

The loaded generator stays untouched: it is the reference every parity check compares with.
Uses only train's public model and checkpoint API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facegan.runtime.errors import one_line
from facegan.runtime.images import nchw_to_nhwc, to_uint8
from facegan.train.checkpoint import CheckpointError, generator_weights, load_checkpoint, resolve_checkpoint_path, sha256_file
from facegan.train.config import ModelConfig, from_dict
from facegan.train.models import generator_from_state

from .options import EXPORT_BATCH_SIZE, WEIGHTS, check_choice


@dataclass(frozen=True)
class LoadedGenerator:
    """The eval-mode generator of a checkpoint plus what the metadata needs to describe it."""

    generator: nn.Module  # fp32, eval mode (BatchNorm uses running statistics)
    model_config: dict  # ModelConfig fields plus "value_range", as written into the metadata
    preset: str  # preset the run started from
    weights: str  # "raw" or "ema": which weights `generator` holds
    train_step: int  # optimizer steps of the checkpoint
    train_epoch: int  # epochs completed
    checkpoint_sha256: str  # hash of the checkpoint file, so an artifact names its exact source

    @property
    def latent_dim(self) -> int:
        return int(self.model_config["latent_dim"])

    @property
    def value_range(self) -> tuple[float, float]:
        lo, hi = self.model_config["value_range"]
        return float(lo), float(hi)


def load_generator(checkpoint: Path, weights: str = "auto") -> LoadedGenerator:
    """Load a checkpoint (file or run directory) and build its generator in eval mode.

    `weights`: "ema" needs EMA weights in the checkpoint, "raw" takes the trained weights, "auto"
    prefers EMA when present (it is the generator a run with EMA means to ship).
    """
    check_choice("weights", weights, WEIGHTS)
    path = resolve_checkpoint_path(Path(checkpoint))
    state = load_checkpoint(path)
    try:
        chosen, weights_dict = generator_weights(state, weights)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    try:
        cfg = from_dict(ModelConfig, state["model_config"])
        cfg.validate()
        generator = generator_from_state(cfg, weights_dict)
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{path} holds a generator this facegan cannot build: {one_line(e, 200)}") from e
    return LoadedGenerator(
        generator=generator.float().eval(),
        model_config={**dataclasses.asdict(cfg), "value_range": list(cfg.value_range)},
        preset=str(state["train_config"].get("preset", "")),
        weights=chosen,
        train_step=int(state["step"]),
        train_epoch=int(state["epoch"]),
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
    """A fresh copy of the generator, its stem folded into one Gemm, wrapped for export."""
    g = generator_from_state(from_dict(ModelConfig, loaded.model_config), loaded.generator.state_dict())
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
    """The latents converters trace with (batch EXPORT_BATCH_SIZE, never a parity batch size)."""
    return torch.zeros(EXPORT_BATCH_SIZE, latent_dim, dtype=torch.float32)


@contextlib.contextmanager
def quiet_torch() -> Iterator[io.StringIO]:
    """Silence what torch exporters print or warn about by design, and nothing else.

    The dynamo ONNX exporter prints progress to stdout (which would corrupt `--json` output) and
    every torch.jit API emits a FutureWarning/DeprecationWarning announcing its deprecation; both
    are expected here. onnxscript's version converter logs a traceback when it falls back, which
    facegan turns into one line of its own (the ONNX export checks the opset it got), so its
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


__all__ = [
    "ExportModule", "LoadedGenerator", "StemGemm", "build_export_module", "eager_reference", "example_latents",
    "load_generator", "quiet_torch",
]
