"""The training state: networks, optimizers, schedules, EMA and counters, and its checkpoint form.

    s = build_state(model_cfg, train_cfg, device, total_steps)   # seeded weights, fresh optimizers
    s.load(checkpoint)                                           # continue exactly where it stopped
    save_checkpoint(s.to_checkpoint(), path)

A checkpoint holds all of it, RNG included, so a run stopped after k steps and resumed ends with
the same weights as one that never stopped (on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .checkpoint import build_checkpoint
from .conditioning import Conditioning
from .config import ModelConfig, TrainConfig
from .ema import EMA
from .models import Discriminator, Generator, build_models
from .schedule import make_scheduler


@dataclass
class State:
    """Everything that changes during training, i.e. what a checkpoint holds."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    g: Generator
    d: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    ema: EMA | None
    device: torch.device
    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs completed
    batch: int = 0  # next batch within `epoch`
    num_images: int = 0  # size of the data set: a resume must find the same data
    metrics: dict = field(default_factory=dict)  # the last metrics line
    conditioning: Conditioning | None = None  # a conditional run's labels and prior (fixed for the run)

    def to_checkpoint(self) -> dict:
        return build_checkpoint(
            self.model_cfg,
            self.train_cfg,
            generator=self.g.state_dict(),
            discriminator=self.d.state_dict(),
            generator_ema=self.ema.module.state_dict() if self.ema else None,
            ema_updates=self.ema.num_updates if self.ema else 0,
            optimizers={
                "optimizer_g": self.opt_g.state_dict(),
                "optimizer_d": self.opt_d.state_dict(),
                "scheduler_g": self.sched_g.state_dict(),
                "scheduler_d": self.sched_d.state_dict(),
            },
            step=self.step,
            epoch=self.epoch,
            batch=self.batch,
            num_images=self.num_images,
            rng=rng_state(),
            metrics=self.metrics,
            attributes=self.conditioning.summary if self.conditioning is not None else None,
        )

    def load(self, ckpt: dict) -> None:
        self.g.load_state_dict(ckpt["generator"])
        self.d.load_state_dict(ckpt["discriminator"])
        self.opt_g.load_state_dict(ckpt["optimizer_g"])
        self.opt_d.load_state_dict(ckpt["optimizer_d"])
        self.sched_g.load_state_dict(ckpt["scheduler_g"])
        self.sched_d.load_state_dict(ckpt["scheduler_d"])
        if self.ema is not None and ckpt.get("generator_ema") is not None:
            self.ema.load_state_dict(ckpt["generator_ema"], ckpt.get("ema_updates", 0))
        self.step = int(ckpt["step"])
        self.epoch = int(ckpt["data_position"]["epoch"])
        self.batch = int(ckpt["data_position"]["batch"])
        self.metrics = dict(ckpt.get("metrics") or {})
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])

    def weights_finite(self) -> bool:
        return is_finite(*self.g.parameters(), *self.d.parameters())


def build_state(model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device, total_steps: int) -> State:
    """A fresh state: seeded weights on `device`, Adam, and schedules `total_steps` D steps long."""
    g, d = build_models(model_cfg, train_cfg.seed)
    g, d = g.to(device), d.to(device)
    if train_cfg.channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    betas = (train_cfg.beta1, train_cfg.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=train_cfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=train_cfg.lr_d, betas=betas)
    sched = dict(schedule=train_cfg.lr_schedule, warmup_steps=train_cfg.warmup_steps)
    g_steps = max(1, total_steps // train_cfg.n_critic)  # G steps once per n_critic D steps
    return State(
        model_cfg,
        train_cfg,
        g,
        d,
        opt_g,
        opt_d,
        make_scheduler(opt_g, total_steps=g_steps, **sched),
        make_scheduler(opt_d, total_steps=total_steps, **sched),
        EMA(g, train_cfg.ema) if train_cfg.ema > 0 else None,
        device,
    )


def is_finite(*values: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


__all__ = ["State", "build_state", "is_finite"]
