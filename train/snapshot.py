"""Snapshots: the fixed-noise sample grid and the checkpoints of the current state, on rank 0.

    written = save_snapshot(s, run, fixed_noise, info, say, epoch_end=True, healthy=guard.healthy)

At an epoch's end: samples/epoch-NNN.png (and samples/attributes-NNN.png for a conditional run),
checkpoints/epoch-NNN.pt (pruned to --keep) and last.pt; otherwise (Ctrl-C, end of run) last.pt
only. A state that went bad is never saved.
"""

from __future__ import annotations

from typing import Callable

import torch

from . import distributed
from .checkpoint import save_checkpoint
from .distributed import DistInfo
from .rundir import RunDir
from .sampling import ATTRIBUTE_GRID_FACES, attribute_grid, generate, sampling_generator, save_grid
from .state import State


def save_snapshot(
    s: State, run: RunDir, fixed_noise: torch.Tensor, info: DistInfo, say: Callable[[str], None], *,
    epoch_end: bool, healthy: bool = True,
) -> bool:
    """Write the snapshot; return whether it was written (the same answer on every rank).

    During a streak of non-finite losses (`healthy` False), or with NaN/inf weights, the weights
    may already be garbage (an update can blow D up while its own loss was still finite): that
    must not become last.pt, which the guard restores and --resume continues from. Such a
    snapshot is skipped and said.
    """
    distributed.average_buffers(s.g, info)
    distributed.average_buffers(s.d, info)
    ok = healthy and s.weights_finite()  # on every rank: the weights are the same everywhere
    if not info.is_main:
        distributed.barrier(info)
        return ok
    if not ok:
        say(f"step {s.step}: losses or weights are not finite; no checkpoint written")
        distributed.barrier(info)
        return False
    if s.ema is not None:  # statistics that belong to the averaged weights (ema.py says why)
        s.ema.recalibrate(s.model_cfg.latent_dim, seed=(s.train_cfg.seed * 1_000_003 + s.step) % 2**63,
                          space=s.conditioning.space if s.conditioning is not None else None)
    state = s.to_checkpoint()
    if epoch_end:
        g, value_range, cond = sampling_generator(s), s.model_cfg.value_range, s.conditioning
        fixed = None if cond is None else cond.draw(len(fixed_noise), s.train_cfg.seed, fixed_noise.device)
        save_grid(generate(g, fixed_noise, value_range, fixed), run.epoch_samples(s.epoch))
        if cond is not None:
            faces = fixed_noise[:ATTRIBUTE_GRID_FACES]
            save_grid(attribute_grid(g, faces, cond.space, value_range, s.train_cfg.seed), run.attribute_samples(s.epoch),
                      nrow=len(faces))
        save_checkpoint(state, run.epoch_checkpoint(s.epoch))
        run.prune(s.train_cfg.keep)
    save_checkpoint(state, run.last)
    distributed.barrier(info)
    return True


__all__ = ["save_snapshot"]
