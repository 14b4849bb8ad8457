"""GAN losses on discriminator logits, D label targets, and the WGAN-GP gradient penalty.

The discriminator returns one raw logit per image, shape (N,). The train loop calls

    real_t, fake_t = d_targets(n, cfg.label_smoothing, cfg.label_noise, device)
    loss_d = d_loss(cfg.loss, d(real), d(fake.detach()), real_t, fake_t)
    if cfg.loss == "wgan-gp":
        loss_d = loss_d + cfg.gp_weight * gradient_penalty(d, real, fake)
    loss_g = g_loss(cfg.loss, d(fake))

Losses: "bce" (the DCGAN paper's, with the non-saturating G loss), "lsgan" (least squares on the
raw output, Mao et al. 2017), "hinge" (Miyato et al. 2018) and "wgan-gp" (Gulrajani et al. 2017).
Label targets only affect "bce" and "lsgan": hinge and Wasserstein losses have no labels.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from facegan.runtime.errors import UsageError

from .config import LOSSES


def d_loss(
    loss: str,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_target: torch.Tensor | float = 1.0,
    fake_target: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Discriminator loss (a scalar to minimise) from D's logits on a real and a fake batch.

    Targets may be floats or per-sample tensors of shape (N,) from `d_targets`.
    """
    _check_loss(loss)
    if loss == "bce":
        # Sum of the two halves, as in pytorch/examples dcgan (errD_real + errD_fake).
        return F.binary_cross_entropy_with_logits(
            real_logits, _target_like(real_target, real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, _target_like(fake_target, fake_logits))
    if loss == "lsgan":
        # 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] with a=0, b=1: regression on the raw output.
        return 0.5 * (
            F.mse_loss(real_logits, _target_like(real_target, real_logits))
            + F.mse_loss(fake_logits, _target_like(fake_target, fake_logits))
        )
    if loss == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    # wgan-gp: the critic maximises E[D(x)] - E[D(G(z))]; the penalty is added by the caller.
    return fake_logits.mean() - real_logits.mean()


def g_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss (a scalar to minimise) from D's logits on a fake batch."""
    _check_loss(loss)
    if loss == "bce":
        # Non-saturating: maximise log D(G(z)) instead of minimising log(1 - D(G(z))), whose
        # gradient vanishes early in training when D rejects every fake.
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if loss == "lsgan":
        return 0.5 * F.mse_loss(fake_logits, torch.ones_like(fake_logits))
    return -fake_logits.mean()  # hinge and wgan-gp


def attribute_loss(class_logits: torch.Tensor, attributes: torch.Tensor,
                   frequencies: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of D's attribute logits against the attributes (float (N, k) in [0, 1]),
    averaged over images and attributes: the auxiliary classifier's loss (AC-GAN).

    With the data's `frequencies` (k,), balanced: an attribute's positives weigh 0.5 / f and its
    negatives 0.5 / (1 - f), as if it were on half the images, so a rare attribute (baldness on a
    sixth of the faces, one digit class in ten) is read and drawn as firmly as a common one.
    """
    if frequencies is None:
        return F.binary_cross_entropy_with_logits(class_logits, attributes)
    f = frequencies.clamp(1e-3, 1 - 1e-3)  # an attribute never (or always) on: its weights stay finite
    weight = attributes * (0.5 / f) + (1 - attributes) * (0.5 / (1 - f))
    return F.binary_cross_entropy_with_logits(class_logits, attributes, weight=weight)


def undecided_loss(class_logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of D's attribute logits on generated images against an undecided
    reading: the classifier learns that G's faces are no evidence either way, so G has to draw an
    attribute as real faces show it for the classifier to read it. `target` (k,) is that reading
    per attribute (Conditioning.undecided); default 0.5 for every attribute."""
    if target is None:
        return attribute_loss(class_logits, torch.full_like(class_logits, 0.5))
    return attribute_loss(class_logits, target.to(class_logits).expand_as(class_logits))


def gradient_penalty(d: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] at random interpolates x_hat (unweighted).

    The mixing weights come from the global torch RNG (drawn on the CPU, so the sequence does not
    depend on the device and a resumed run that restores the RNG state repeats it). The graph is
    kept (create_graph) so the penalty itself can be back-propagated into D.
    """
    n = real.shape[0]
    alpha = torch.rand(n, *([1] * (real.dim() - 1))).to(device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = d(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(1).norm(2, dim=1)
    return ((grad_norm - 1.0) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real_input: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real images, unweighted.

    `real_input` is the tensor D saw (augmented, with requires_grad set before D's forward), so the
    penalty reuses D's forward pass; the graph is kept so the penalty trains D.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_input, create_graph=True)
    return grad.float().flatten(1).pow(2).sum(dim=1).mean()


def d_targets(
    n: int, label_smoothing: float, label_noise: float, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample D targets (real_target, fake_target), each float32 of shape (n,).

    One-sided label smoothing (Salimans et al. 2016): real targets are 1 - label_smoothing, fake
    targets stay 0 (smoothing fakes would reward D for fakes it half believes). Label noise flips
    each label with probability `label_noise`: a flipped real is labelled 0, a flipped fake is
    labelled as a real (1 - label_smoothing). The flips come from the global torch RNG on the CPU,
    only when label_noise > 0, so runs without noise consume no random numbers here.
    """
    real_label = 1.0 - label_smoothing
    real_t = torch.full((n,), real_label)
    fake_t = torch.zeros(n)
    if label_noise > 0:
        flip_real = torch.rand(n) < label_noise
        flip_fake = torch.rand(n) < label_noise
        real_t = torch.where(flip_real, torch.zeros(n), real_t)
        fake_t = torch.where(flip_fake, torch.full((n,), real_label), fake_t)
    return real_t.to(device), fake_t.to(device)


def d_outputs(loss: str, logits: torch.Tensor) -> float:
    """The D(x) / D(G(z)) number to log for a batch of logits.

    bce: the mean probability sigmoid(logit), the classic DCGAN read-out (0.5 = undecided).
    lsgan: the raw mean, since LSGAN regresses the raw output onto 0 and 1 directly.
    hinge / wgan-gp: the raw mean critic score (unbounded; only differences are meaningful).
    """
    _check_loss(loss)
    logits = logits.detach().float()
    if loss == "bce":
        return torch.sigmoid(logits).mean().item()
    return logits.mean().item()


def _target_like(target: torch.Tensor | float, logits: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
    return t.expand_as(logits)


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise UsageError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


__all__ = ["attribute_loss", "d_loss", "d_outputs", "d_targets", "g_loss", "gradient_penalty", "r1_penalty"]
