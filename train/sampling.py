"""Pictures from a generator: the weights to sample from, eval mode, uint8 outputs and grids.

Samples, FID and the end-of-run pictures all come from the EMA generator when the run keeps one
(as export does), in eval mode (BatchNorm running statistics, as in every exported model):

    g = sampling_generator(state)
    faces = generate_uint8(g, latents(seed, n, dim), value_range)   # (N, H, W, 3)
    save_grid(g_images_01, path)                                   # torch (N, 3, H, W) in [0, 1]
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torchvision.utils import save_image

from facegan.runtime.images import nchw_to_nhwc, to_uint8


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


def generate(g: nn.Module, z: torch.Tensor | np.ndarray, value_range) -> torch.Tensor:
    """Eval-mode outputs for latents `z`, mapped from `value_range` to float32 [0, 1]."""
    z = torch.as_tensor(z).to(next(g.parameters()).device)
    lo, hi = value_range
    with eval_mode(g):
        return ((g(z).float() - lo) / (hi - lo)).clamp(0, 1)


def generate_uint8(g: nn.Module, z: np.ndarray, value_range, batch_size: int = 64) -> np.ndarray:
    """Eval-mode generator outputs for latents `z` as uint8 (N, H, W, 3), in chunks."""
    device = next(g.parameters()).device
    with eval_mode(g):
        out = [
            to_uint8(nchw_to_nhwc(g(torch.from_numpy(z[i : i + batch_size]).to(device)).float().cpu().numpy()), value_range)
            for i in range(0, len(z), batch_size)
        ]
    return np.concatenate(out)


def save_grid(images_01: torch.Tensor, path: Path) -> None:
    """A square-ish PNG grid of float (N, 3, H, W) images in [0, 1]."""
    save_image(images_01, path, nrow=max(1, int(math.sqrt(len(images_01)))))


__all__ = ["eval_mode", "generate", "generate_uint8", "sampling_generator", "save_grid"]
