"""DiffAugment: the same random, differentiable augmentations on every image D sees, real and fake.

With little data, D memorises the training images and wins within a few hundred steps; G then gets
no useful gradient. Augmenting only the reals would teach G to draw augmented images; augmenting
both, with operations G's gradient can pass through, keeps D from memorising while G still learns
the un-augmented distribution (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training"). The policy (`TrainConfig.diffaug`, names from `config.AUGMENTATIONS`) is a
comma-separated list applied in order:

    color        brightness, saturation and contrast jitter
    translation  shift by up to 1/8 of the side, zero-filled
    cutout       zero a random square of half the side

Images are NCHW in the model's value range; randomness comes from torch's global generator, so a
seeded run is reproducible and its state travels in the checkpoint like the rest.
"""

from __future__ import annotations

import torch

TRANSLATION_RATIO = 1 / 8  # largest shift, as a share of the side
CUTOUT_RATIO = 1 / 2  # side of the erased square, as a share of the image side


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply each augmentation of `policy` ("translation,cutout", as config stores it) per image."""
    for name in filter(None, policy.split(",")):
        x = _AUGMENTATIONS[name](x)
    return x


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    r = lambda: torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype)  # noqa: E731
    x = x + (r() - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r() * 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r() + 0.5) + mean  # contrast


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by a random whole number of pixels in y and x; uncovered pixels become 0."""
    n, _, h, w = x.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    # Index a copy padded by one zero pixel: every source outside the image reads the padding.
    src_y = (ys + dy + 1).clamp(0, h + 1).expand(n, h, w)
    src_x = (xs + dx + 1).clamp(0, w + 1).expand(n, h, w)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # N, H+2, W+2, C
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded[batch, src_y, src_x].permute(0, 3, 1, 2)  # NCHW with channels_last strides


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero one random square of side `ratio` * side per image (it may hang over the border)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - size_y // 2, cx - size_x // 2
    inside = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}

__all__ = ["cutout", "color", "diff_augment", "translation"]
