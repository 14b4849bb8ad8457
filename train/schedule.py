"""Learning-rate schedules: linear warm-up, then constant, linear decay to 0, or cosine to 0.

`lr_at` is the whole definition, a pure function of the optimizer step; `make_scheduler` wraps it
in a LambdaLR so its state (the step count) goes into checkpoints and resumes exactly:

    sched_g = make_scheduler(opt_g, total_steps, cfg.lr_schedule, cfg.warmup_steps)
    ...opt_g.step(); sched_g.step()          # the k-th optimizer step (0-based) uses lr_at(k)

`fit_schedules` makes the settings measured in steps fit the run they are used in: the LR
schedules already end with the run; a warm-up or an EMA half-life longer than the run would
leave it warming up or averaged toward its start, so a preset's value is scaled down (with a
note) and one the user chose is refused.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from facegan.runtime.errors import UsageError

from .config import LR_SCHEDULES, PRESETS, TrainConfig, flag

SCALED_SHARE = 10  # a schedule too long for the run is scaled to a tenth of it


def lr_at(step: int, base_lr: float, total_steps: int, schedule: str, warmup_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`.

    Warm-up: step k < warmup_steps uses base_lr * (k + 1) / warmup_steps, so the first step is
    small but not zero. After it, progress p runs from 0 (end of warm-up) to 1 (step total_steps):
    constant -> base_lr; linear -> base_lr * (1 - p); cosine -> base_lr * (1 + cos(pi p)) / 2.
    """
    if schedule not in LR_SCHEDULES:
        raise UsageError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")
    if warmup_steps < 0 or total_steps < 1:
        raise UsageError(f"need warmup_steps >= 0 and total_steps >= 1, got {warmup_steps}, {total_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    if schedule == "linear":
        return base_lr * (1.0 - progress)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, schedule: str, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR that sets each param group's lr to lr_at(step, its initial lr, ...).

    The factor function is a plain closure, so state_dict() holds only the step count and base
    lrs (loadable with weights_only=True), not the schedule: the schedule comes from the config.
    """
    lr_at(0, 1.0, total_steps, schedule, warmup_steps)  # validate the arguments now, not at step 0

    def factor(step: int) -> float:
        return lr_at(step, 1.0, total_steps, schedule, warmup_steps)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def ema_half_life(decay: float) -> float:
    """Updates after which an EMA with this decay weighs the current weights as much as the past."""
    return math.log(0.5) / math.log(decay)


def fit_schedules(cfg: TrainConfig, total_steps: int) -> tuple[TrainConfig, list[str]]:
    """`cfg` with its warm-up and EMA half-life fitting `total_steps`, and one note per change.

    A value equal to the preset's is the preset's default and is scaled to a tenth of the run; any
    other value was chosen and raises UsageError when it does not fit.
    """
    preset = PRESETS[cfg.preset].train if cfg.preset in PRESETS else TrainConfig()
    g_steps = max(1, total_steps // cfg.n_critic)
    changes, notes = {}, []

    def too_long(name: str, steps: float, limit: int, scaled, what: str) -> None:
        if steps < limit:
            return
        if getattr(cfg, name) != getattr(preset, name):
            raise UsageError(f"{flag(name)} {getattr(cfg, name)} ({what} of {steps:.0f} steps) does not fit in this "
                             f"{limit}-step run; lower it or train longer")
        changes[name] = scaled
        notes.append(f"note: the {cfg.preset} preset's {flag(name)} {getattr(cfg, name)} ({what} of {steps:.0f} steps) "
                     f"does not fit in this {limit}-step run; using {scaled} ({what} of a tenth of the run)")

    if cfg.warmup_steps:
        too_long("warmup_steps", cfg.warmup_steps, total_steps, max(1, total_steps // SCALED_SHARE), "a warm-up")
    if cfg.ema:
        fitted = round(0.5 ** (1.0 / max(1.0, g_steps / SCALED_SHARE)), 6)
        too_long("ema", ema_half_life(cfg.ema), g_steps, fitted, "a half-life")
    return (dataclasses.replace(cfg, **changes) if changes else cfg), notes


__all__ = ["ema_half_life", "fit_schedules", "lr_at", "make_scheduler"]
