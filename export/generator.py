"""The generator as export sees it: checkpoint -> eval generator -> the module handed to a converter.

    loaded = load_generator(Path("runs/celeba"), "auto")    # fp32, eval mode, raw or EMA weights
    module = build_export_module(loaded, "fp16", "uint8")  # a copy: stem as one Gemm, casts, uint8 tail
    eager_reference(loaded, z, "uint8")                    # what that module must compute for z
    eager_reference(loaded, z, "uint8", attributes)        # a conditional generator: and (N, k) attributes

The loaded generator stays untouched: it is the reference every parity check compares with.
Uses only train's public model and checkpoint API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facegan.runtime.attributes import AttributeSpace, Directions
from facegan.runtime.errors import MetadataError, one_line
from facegan.runtime.images import nchw_to_nhwc, to_uint8
from facegan.train.checkpoint import CheckpointError, generator_weights, load_checkpoint, resolve_checkpoint_path, sha256_file
from facegan.train.config import ModelConfig, from_dict
from facegan.train.rundir import RunDir
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
    attributes: dict | None = None  # a conditional model's names, frequencies and prior (checkpoint "attributes")
    directions: dict | None = None  # facegan-directions' latent directions for these weights, if any
    notes: tuple[str, ...] = ()  # what the user should hear (directions fit on other weights, left out)

    @property
    def latent_dim(self) -> int:
        return int(self.model_config["latent_dim"])

    @property
    def value_range(self) -> tuple[float, float]:
        lo, hi = self.model_config["value_range"]
        return float(lo), float(hi)

    @property
    def space(self) -> AttributeSpace | None:
        return None if self.attributes is None else AttributeSpace.from_json(self.attributes, "the checkpoint")


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
    attributes = _attributes(state, cfg, path)
    sha256 = sha256_file(path)
    directions, notes = _directions(RunDir.of_checkpoint(path).directions_json, sha256, chosen, cfg.latent_dim)
    return LoadedGenerator(
        generator=generator.float().eval(),
        model_config={**dataclasses.asdict(cfg), "value_range": list(cfg.value_range)},
        preset=str(state["train_config"].get("preset", "")),
        weights=chosen,
        train_step=int(state["step"]),
        train_epoch=int(state["epoch"]),
        checkpoint_sha256=sha256,
        attributes=attributes,
        directions=directions,
        notes=notes,
    )


def _attributes(state: dict, cfg: ModelConfig, path: Path) -> dict | None:
    """The checkpoint's attribute summary, checked against the generator it describes."""
    summary = state.get("attributes")
    if cfg.num_attributes == 0 and summary is None:
        return None
    try:
        space = AttributeSpace.from_json(summary, str(path))
    except MetadataError as e:
        raise CheckpointError(f"{path}: the conditional generator's attributes are unreadable: {e}") from e
    if len(space.names) != cfg.num_attributes:
        raise CheckpointError(f"{path}: the generator takes {cfg.num_attributes} attributes but the "
                              f"checkpoint names {len(space.names)}")
    return summary


def _directions(path: Path, sha256: str, weights: str, latent_dim: int) -> tuple[dict | None, tuple[str, ...]]:
    """The directions facegan-directions fit on exactly these weights, or None and why not."""
    if not path.is_file():
        return None, ()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        found = (record["checkpoint_sha256"], record["weights"])
        Directions.from_json(record["directions"], latent_dim, str(path))
    except (ValueError, KeyError, TypeError, OSError, MetadataError) as e:
        raise CheckpointError(f"{path} is not a readable directions file: {one_line(e, 200)}; "
                              "run facegan-directions again") from e
    if found != (sha256, weights):
        return None, (f"note: {path} was fit on other weights ({found[1]} of checkpoint {found[0][:12]}), not "
                      f"these ({weights} of {sha256[:12]}); exported without edit directions (run "
                      "facegan-directions again to add them)",)
    return record["directions"], ()


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

    def forward(self, z: torch.Tensor, *attributes: torch.Tensor) -> torch.Tensor:
        cast = (lambda t: t.half()) if self.half_precision else (lambda t: t)
        x = self.generator(cast(z), *(cast(a) for a in attributes)).float()
        if self.uint8_output:
            x = torch.clamp(torch.round((x - self.lo) * self.scale), 0.0, 255.0)
            x = x.to(torch.uint8).permute(0, 2, 3, 1)  # NCHW -> NHWC
        return x


class StemGemm(nn.Module):
    """The generator's stem folded into one matrix multiply: z -> z W + b as (ngf*8) x 4 x 4 (the ReLU follows).

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
        x = torch.addmm(self.bias, z.flatten(1), self.weight)
        return x.reshape(z.shape[0], *self.shape)


def build_export_module(loaded: LoadedGenerator, dtype: str, output: str) -> ExportModule:
    """A fresh copy of the generator, its stem folded into one Gemm, wrapped for export."""
    g = generator_from_state(from_dict(ModelConfig, loaded.model_config), loaded.generator.state_dict())
    g.stem = nn.Sequential(StemGemm(g.stem), nn.ReLU())  # a Sequential ending in its ReLU, as before
    return ExportModule(g, loaded.value_range, dtype, output).eval()


def eager_reference(loaded: LoadedGenerator, z: np.ndarray, output: str, attributes: np.ndarray | None = None) -> np.ndarray:
    """What an artifact should compute for `z` (and `attributes`): the fp32 eager generator, de-normalised for uint8.

    fp16 artifacts are compared with this fp32 reference too (with a looser tolerance): the
    question parity answers is how far the artifact is from the trained model.
    """
    with torch.no_grad():
        inputs = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in (z, attributes) if x is not None]
        images = loaded.generator(*inputs).numpy()
    if output == "uint8":
        return nchw_to_nhwc(to_uint8(images, loaded.value_range))
    return images


def example_inputs(loaded: LoadedGenerator) -> tuple[torch.Tensor, ...]:
    """What converters trace with: z, and a conditional model's attributes (batch EXPORT_BATCH_SIZE,
    never a parity batch size; the attributes in [0, 1], so nothing is traced as a constant)."""
    z = torch.zeros(EXPORT_BATCH_SIZE, loaded.latent_dim, dtype=torch.float32)
    k = int(loaded.model_config.get("num_attributes", 0))
    return (z,) if k == 0 else (z, torch.full((EXPORT_BATCH_SIZE, k), 0.5))


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
            # z and attributes share one batch axis by design; the exporter says so each time
            warnings.filterwarnings("ignore", category=UserWarning, message=r"# The axis name: batch will not be used")
            yield buf
    finally:
        converter_log.setLevel(level)


__all__ = [
    "ExportModule", "LoadedGenerator", "StemGemm", "build_export_module", "eager_reference", "example_inputs",
    "load_generator", "quiet_torch",
]
