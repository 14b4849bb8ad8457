"""The attribute judge: a small multi-label CNN trained on real labelled images, to read generated ones.

    judge = train_judge(images_uint8, labels.values, labels.names, seed=0)   # (N, 3, H, W) uint8
    judge.accuracy                  # {"Smiling": 0.99, ...} on held-out real images
    p = judge.predict(fake, value_range=(-1, 1))   # (n, k) probabilities of each attribute
    judge.read(fake)                # (n, k) uint8 0/1: p >= 0.5
    judge.features(fake)            # (n, 128) penultimate features (for a KID on attributes)

InterFaceGAN (facegan-directions) labels generated faces with it, and benchmarks/bench_attributes.py
reads whether a conditional model draws what was asked. Images of any size are resized to
JUDGE_SIZE (32) or kept at 64 when the data are at least 64 px (toy-face glasses and smiles are a
few pixels at 32). Training is seeded: the same images, labels and seed give the same judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facegan.runtime.errors import UsageError

from .data import ImageData

JUDGE_SIZE = 32  # input side below 64-px data
MAX_JUDGE_SIZE = 64
FEATURE_DIM = 128
DEFAULT_STEPS = 600
DEFAULT_HOLDOUT = 0.1  # share of the labelled images kept out of training to measure accuracy


class JudgeNet(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> k logits; `features` is the FEATURE_DIM layer before the head."""

    def __init__(self, k: int, size: int):
        super().__init__()
        blocks, c_in, side = [], 3, size
        for c_out in (16, 32, 64, 64)[: 3 if size <= 32 else 4]:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, side = c_out, side // 2
        self.body = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(c_in * side * side, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass(eq=False)
class Judge:
    """A trained JudgeNet and what it was measured to read."""

    names: tuple[str, ...]
    net: JudgeNet
    size: int  # the network's input side
    accuracy: dict[str, float]  # held-out accuracy per attribute
    balanced_accuracy: dict[str, float]  # mean of the held-out true-positive and true-negative rates
    frequencies: dict[str, float]  # share of the labelled images with each attribute on
    holdout: int  # held-out images the accuracies are measured on
    steps: int
    seed: int
    feature_scale: float = field(default=1.0)  # gives the real images' features unit RMS (KID conditioning)

    def reliable(self, threshold: float = 0.95) -> list[str]:
        """The attributes read at `threshold` or better on held-out real images (plain and balanced)."""
        return [n for n in self.names if min(self.accuracy[n], self.balanced_accuracy[n]) >= threshold]

    @torch.no_grad()
    def predict(self, images, value_range: Sequence[float] = (-1.0, 1.0), batch_size: int = 256) -> np.ndarray:
        """(n, k) float32 probabilities of images: uint8 (n, 3, H, W), or float in `value_range`."""
        return torch.sigmoid(self._apply(self.net, images, value_range, batch_size)).numpy()

    def read(self, images, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
        """(n, k) uint8 0/1: the judge's reading of each attribute."""
        return (self.predict(images, value_range) >= 0.5).astype(np.uint8)

    @torch.no_grad()
    def features(self, images, value_range: Sequence[float] = (-1.0, 1.0), batch_size: int = 256) -> np.ndarray:
        """(n, FEATURE_DIM) float32 penultimate features, times `feature_scale`."""
        return self._apply(self.net.features, images, value_range, batch_size).numpy() * self.feature_scale

    def _apply(self, fn, images, value_range, batch_size) -> torch.Tensor:
        self.net.eval()
        x = torch.as_tensor(images) if not isinstance(images, ImageData) else None
        n = len(images)
        out = []
        for i in range(0, n, batch_size):
            part = images.take(range(i, min(n, i + batch_size))) if x is None else x[i : i + batch_size]
            out.append(fn(to_judge_input(part, self.size, value_range)))
        return torch.cat(out) if out else torch.zeros((0, len(self.names)))


def judge_size(image_size: int) -> int:
    """The judge's input side for data of `image_size` px: 32, or 64 from 64 px up."""
    return MAX_JUDGE_SIZE if image_size >= MAX_JUDGE_SIZE else JUDGE_SIZE


def to_judge_input(images: torch.Tensor, size: int, value_range: Sequence[float] = (-1.0, 1.0)) -> torch.Tensor:
    """uint8 (n, 3, H, W) or float in `value_range` -> float32 (n, 3, size, size) in [-1, 1]."""
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1] != 3:
        raise UsageError(f"the judge reads (n, 3, H, W) images, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float() / 127.5 - 1.0
    else:
        lo, hi = float(value_range[0]), float(value_range[1])
        x = (images.float().cpu() - lo) * (2.0 / (hi - lo)) - 1.0
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def _all_images(images, size: int) -> torch.Tensor:
    """Every image at the judge's side as uint8 (N, 3, size, size) (resized once, in chunks)."""
    if isinstance(images, ImageData):
        chunks = [images.take(range(i, min(len(images), i + 1024))) for i in range(0, len(images), 1024)]
    else:
        chunks = torch.as_tensor(images).split(1024)
    out = []
    for part in chunks:
        if part.dtype != torch.uint8:
            raise UsageError(f"train_judge takes uint8 images, got {part.dtype}")
        if part.shape[-1] == size and part.shape[-2] == size:
            out.append(part)
        else:
            x = to_judge_input(part, size)
            out.append(((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def train_judge(images, labels, names: Sequence[str], *, seed: int = 0, steps: int = DEFAULT_STEPS,
                batch_size: int = 64, holdout: float = DEFAULT_HOLDOUT, lr: float = 2e-3,
                size: int | None = None) -> Judge:
    """A seeded judge trained on `images` (uint8 (N, 3, H, W) tensor or ImageData) with `labels`
    (uint8 (N, k) 0/1, column j named names[j]), and its accuracy on a held-out `holdout` share.

    Training sees small random shifts (+-2 px), so imperfectly placed generated features still read.
    """
    names = tuple(names)
    y = torch.from_numpy(np.array(labels, dtype=np.float32))
    if y.dim() != 2 or y.shape[1] != len(names) or not names:
        raise UsageError(f"labels must be (N, {len(names)}) for {len(names)} names, got {tuple(y.shape)}")
    if len(images) != len(y):
        raise UsageError(f"{len(images)} images but {len(y)} label rows")
    held_n = max(1, int(round(len(y) * holdout)))
    if len(y) - held_n < batch_size:
        raise UsageError(f"{len(y)} labelled images are too few to train a judge (batch {batch_size} + {held_n} held out)")
    side = size or judge_size(images.image_size if isinstance(images, ImageData) else int(images.shape[-1]))
    x = _all_images(images, side)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    held, train = order[:held_n], order[held_n:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = JudgeNet(len(names), side)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    warm = max(1, steps // 10)  # linear warm-up, then a cosine decay to zero
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / max(1, steps))))
    # Rare attributes weigh as much as common ones: the positive class is up-weighted by its rarity.
    freq = y[train].mean(0).clamp(1e-3, 1 - 1e-3)
    pos_weight = ((1 - freq) / freq).clamp(max=20.0)
    net.train()
    perm, at = torch.randperm(len(train), generator=g), 0
    for _ in range(steps):
        if at + batch_size > len(perm):
            perm, at = torch.randperm(len(train), generator=g), 0
        idx = train[perm[at : at + batch_size]]
        at += batch_size
        dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
        xb = torch.roll(x[idx], shifts=(dy, dx), dims=(2, 3)).float() / 127.5 - 1.0
        loss = F.binary_cross_entropy_with_logits(net(xb), y[idx], pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    judge = Judge(names, net, side, {}, {}, {n: float(f) for n, f in zip(names, y.mean(0).tolist())},
                  held_n, steps, seed)
    with torch.no_grad():
        raw = torch.cat([net.features(to_judge_input(p, side)) for p in x[train[:4096]].split(512)])
    judge.feature_scale = float(1.0 / raw.pow(2).mean().sqrt().clamp(min=1e-12))
    read = torch.from_numpy(judge.read(x[held])).to(torch.float32)
    truth = y[held]
    for j, n in enumerate(names):
        right = read[:, j] == truth[:, j]
        judge.accuracy[n] = float(right.float().mean())
        rates = [float(right[truth[:, j] == v].float().mean()) for v in (0.0, 1.0) if (truth[:, j] == v).any()]
        judge.balanced_accuracy[n] = float(np.mean(rates))
    return judge


__all__ = ["FEATURE_DIM", "JUDGE_SIZE", "Judge", "JudgeNet", "judge_size", "to_judge_input", "train_judge"]
