"""One DCGAN training step: a real batch in, the losses and D's outputs out.

    s = build_state(model_cfg, train_cfg, device, total_steps)
    nets = step_networks(s)                    # compiled / DDP-wrapped views of G and D (optional)
    result = train_step(s, real_uint8, nets)   # (1) update D, (2) update G, schedules, counters
    result = train_step(s, real_uint8, nets, attributes)   # a conditional model: the batch's (B, k) labels
    result.finite, result.loss_d.item(), result.d_outputs()

`train()` and benchmarks/bench_train.py both call it. The order of random draws (flips, noise,
label flips, augmentations, gradient-penalty mixing) is part of the contract: seeded runs and exact resume rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import losses
from .augment import diff_augment
from .data import normalize
from .devices import autocast_for
from .distributed import DistInfo
from .state import State, is_finite


@dataclass
class StepResult:
    loss_d: torch.Tensor  # scalar; non-finite when the step was skipped
    loss_g: torch.Tensor  # scalar; 0 on steps without a G update
    real_logits: torch.Tensor  # D's logits on the real batch, shape (N,)
    fake_logits: torch.Tensor  # D's logits on the generated batch, shape (N,)
    loss: str  # the loss these are of (it decides how D's outputs read)
    finite: bool  # both losses finite: the update was applied
    loss_g_adversarial: torch.Tensor  # loss_g without a conditional run's attribute term: D's verdict alone

    @property
    def num_images(self) -> int:
        return self.real_logits.shape[0]

    def d_outputs(self) -> tuple[float, float]:
        """(D(x), D(G(z))) as logged: probabilities for bce, raw scores otherwise."""
        return losses.d_outputs(self.loss, self.real_logits.float()), losses.d_outputs(self.loss, self.fake_logits.float())


def step_networks(s: State, info: DistInfo = DistInfo()) -> tuple[nn.Module, nn.Module]:
    """G and D as the step calls them: DDP-wrapped and/or compiled; their state stays on s.g, s.d."""

    def wrap(module: nn.Module) -> nn.Module:
        if info.enabled:
            ids = [s.device.index] if s.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
        return torch.compile(module) if s.train_cfg.compile else module

    return wrap(s.g), wrap(s.d)


def train_step(s: State, real_u8: torch.Tensor, nets: tuple[nn.Module, nn.Module] | None = None,
               attributes: torch.Tensor | None = None) -> StepResult:
    """Train on one uint8 (N, 3, H, W) batch and advance s.step and s.batch.

    A non-finite loss leaves the weights of that network untouched (the schedules still advance);
    `nets` are the views from `step_networks`, default the plain s.g and s.d. A conditional model
    takes the batch's float (N, k) `attributes`, for the real images and for the fakes alike.
    """
    cfg, model_cfg = s.train_cfg, s.model_cfg
    g, d = nets or (s.g, s.d)
    autocast = autocast_for(s.device, cfg.amp)
    real = normalize(real_u8.to(s.device, non_blocking=True), model_cfg.value_range)
    if cfg.hflip:
        real = torch.where(torch.rand(real.shape[0], 1, 1, 1, device=s.device) < 0.5, real.flip(3), real)
    if cfg.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    n = real.shape[0]
    y = () if attributes is None else (attributes.to(s.device, torch.float32),)  # G's and D's extra input
    balance = None  # the data's attribute frequencies, when the attribute losses are balanced
    if y and cfg.attribute_balance and s.conditioning is not None:  # (a state built without labels: unweighted)
        balance = s.conditioning.frequencies.to(s.device)
    undecided = None  # what D learns to read on G's faces: 0.5 everywhere, or uniform over a class column's classes
    if y and cfg.attribute_uniform_classes and s.conditioning is not None:
        undecided = s.conditioning.undecided.to(s.device)

    def augment(x: torch.Tensor) -> torch.Tensor:  # DiffAugment: the same on everything D sees
        return diff_augment(x, cfg.diffaug) if cfg.diffaug else x

    # (1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss)
    noise = torch.randn(n, model_cfg.latent_dim, device=s.device)
    real_target, fake_target = losses.d_targets(n, cfg.label_smoothing, cfg.label_noise, s.device)
    r1_step = cfg.r1_gamma > 0 and s.step % cfg.r1_every == 0
    with autocast:
        fake = g(noise, *y)
        real_seen = augment(real).requires_grad_(r1_step)
        if y:  # conditional: D's classifier also learns to read the real images' attributes
            real_logits, real_classes = d(real_seen, *y, classify=True)
        else:
            real_logits = d(real_seen)
        fakes_classified = bool(y) and cfg.attribute_fake_weight > 0  # and to read the fakes as undecided
        if fakes_classified:
            fake_logits, fake_classes = d(augment(fake.detach()), *y, classify=True)
        else:
            fake_logits = d(augment(fake.detach()), *y)
        loss_d = losses.d_loss(cfg.loss, real_logits.float(), fake_logits.float(), real_target, fake_target)
        if y:
            loss_d = loss_d + cfg.attribute_weight * losses.attribute_loss(real_classes.float(), y[0], balance)
        if fakes_classified:
            loss_d = loss_d + cfg.attribute_weight * cfg.attribute_fake_weight * losses.undecided_loss(
                fake_classes.float(), undecided)
    if cfg.loss == "wgan-gp":
        loss_d = loss_d + cfg.gp_weight * losses.gradient_penalty(lambda x: s.d(x, *y), real, fake.detach())
    if r1_step:  # lazy: every r1_every steps, weighted up by as much (StyleGAN2)
        loss_d = loss_d + 0.5 * cfg.r1_gamma * cfg.r1_every * losses.r1_penalty(real_logits, real_seen)
    s.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()

    # (2) Update G: maximise log D(G(z)) (non-saturating), every n_critic steps
    update_g = (s.step + 1) % cfg.n_critic == 0
    loss_g = adversarial = torch.zeros((), device=s.device)
    if is_finite(loss_d):
        _clip(s.d, cfg.grad_clip)
        s.opt_d.step()
        if update_g:
            with autocast:
                if y:  # and G is trained to have its faces read with the attributes it was given
                    fake_logits_g, fake_classes_g = d(augment(fake), *y, classify=True)
                    adversarial = losses.g_loss(cfg.loss, fake_logits_g.float())
                    loss_g = adversarial + cfg.attribute_weight * losses.attribute_loss(fake_classes_g.float(), y[0], balance)
                else:
                    loss_g = adversarial = losses.g_loss(cfg.loss, d(augment(fake)).float())
            s.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            if is_finite(loss_g):
                _clip(s.g, cfg.grad_clip)
                s.opt_g.step()
                if s.ema is not None:
                    s.ema.update(s.g)
    s.sched_d.step()
    if update_g:  # each schedule counts its own optimizer's steps
        s.sched_g.step()
    s.step += 1
    s.batch += 1
    return StepResult(loss_d, loss_g, real_logits.detach(), fake_logits.detach(), cfg.loss, is_finite(loss_d, loss_g),
                      adversarial.detach())


def _clip(module: nn.Module, max_norm: float) -> None:
    if max_norm > 0:
        nn.utils.clip_grad_norm_(module.parameters(), max_norm)


__all__ = ["StepResult", "step_networks", "train_step"]
