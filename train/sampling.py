"""Pictures from a generator: the weights to sample from, eval mode, uint8 outputs and grids.

Samples, FID and the end-of-run pictures all come from the EMA generator when the run keeps one
(as export does), in eval mode (BatchNorm running statistics, as in every exported model):

    g = sampling_generator(state)
    faces = generate_uint8(g, latents(seed, n, dim), value_range)   # (N, H, W, 3)
    save_grid(g_images_01, path)                                   # torch (N, 3, H, W) in [0, 1]

A conditional generator also takes float (N, k) `attributes`, one row per latent.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from facegan.runtime.images import nchw_to_nhwc, to_uint8
from facegan.runtime.images import save_grid as save_uint8_grid

ATTRIBUTE_GRID_FACES = 8  # columns of samples/attributes-NNN.png: faces 0..7 of the run's seed


def sampling_generator(state) -> nn.Module:
    """The generator to draw pictures with: the EMA copy when the run keeps one, else G itself."""
    return state.ema.module if state.ema is not None else state.g


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode without gradients, then back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def generate(g: nn.Module, z: torch.Tensor | np.ndarray, value_range,
             attributes: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
    """Eval-mode outputs for latents `z`, mapped from `value_range` to float32 [0, 1]."""
    device = next(g.parameters()).device
    inputs = [torch.as_tensor(x).to(device) for x in (z, attributes) if x is not None]
    lo, hi = value_range
    with eval_mode(g):
        return ((g(*inputs).float() - lo) / (hi - lo)).clamp(0, 1)


def generate_uint8(g: nn.Module, z: np.ndarray, value_range, attributes: np.ndarray | None = None,
                   batch_size: int = 64) -> np.ndarray:
    """Eval-mode generator outputs for latents `z` as uint8 (N, H, W, 3), in chunks."""
    device = next(g.parameters()).device
    parts = [x for x in (z, attributes) if x is not None]
    with eval_mode(g):
        out = [
            to_uint8(nchw_to_nhwc(g(*(torch.from_numpy(x[i : i + batch_size]).to(device) for x in parts))
                                  .float().cpu().numpy()), value_range)
            for i in range(0, len(z), batch_size)
        ]
    return np.concatenate(out)


def attribute_grid(g: nn.Module, z: torch.Tensor, space, value_range, seed: int) -> torch.Tensor:
    """The same faces (one per column, latents `z` of faces 0..n-1 of `seed`) with each attribute of
    `space` switched on, then off, one row each: (2 * k * n, 3, H, W) in [0, 1], drawn as the
    runtime draws `generate(n, seed, attributes={name: 1})`, so the other attributes stay put."""
    from facegan.runtime.attributes import attribute_vectors

    rows = [attribute_vectors(space, len(z), seed, {name: value})
            for name in space.names for value in (1.0, 0.0)]
    return generate(g, z.repeat(len(rows), 1), value_range, np.concatenate(rows))


def save_grid(images_01: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """A PNG grid of float (N, 3, H, W) images in [0, 1], `nrow` a row (default: square-ish).

    The runtime's grid, as facegan-generate draws it: one way to tile faces, and no torchvision
    (whose import brings torch._dynamo) in processes that only draw, such as facegan-directions."""
    pixels = to_uint8(nchw_to_nhwc(images_01.detach().float().cpu().numpy()), (0.0, 1.0))
    save_uint8_grid(pixels, path, nrow=nrow or max(1, int(math.sqrt(len(pixels)))))


__all__ = ["attribute_grid", "eval_mode", "generate", "generate_uint8", "sampling_generator", "save_grid"]
