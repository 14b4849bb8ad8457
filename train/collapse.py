"""Recognise the two ways a GAN run fails, say so once with advice, and record it.

- **D has won**: D tells real from fake almost perfectly over a window of log lines (D(x) near 1,
  D(G(z)) near 0) while G's loss runs away (its adversarial term: a conditional run's attribute
  term is no verdict of D's on real and fake). G then gets no useful gradient and stops learning;
  the samples freeze as blobs. What the classic recipe does on real data at small budgets.
- **Mode collapse**: G maps every z to nearly the same picture. Measured on the fixed-noise grid:
  the mean pairwise distance between its samples, relative to that between real images, once it
  has fallen from its own best (an untrained G draws alike greys too: that is not a collapse).

    detector = CollapseDetector()
    event = detector.observe_step(step, real_logits, fake_logits, loss_g_adversarial)   # each log line
    event = detector.observe_samples(step, fake_images, real_images)     # each snapshot
    if event: warn(event.message); append {"step", "event", "message"} to metrics.jsonl

Each kind is reported once per run, so a log does not fill with the same warning.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch

WINDOW = 4  # log lines a verdict on D looks back over
D_WON_ACCURACY = 0.99  # D classifies at least this share of reals and fakes right, every line
G_LOSS_HIGH = 5.0  # ... and G's loss is this high (D's logits on fakes far below 0) ...
G_LOSS_RUNAWAY = 1.5  # ... or grew by this factor over the window (from above 2)
COLLAPSE_DIVERSITY = 0.2  # samples' pairwise distance below this share of the reals' ...
COLLAPSE_DROP = 0.5  # ... after falling below this share of its own best: the samples *became* alike

ADVICE_D_WON = (
    "D has won: it tells real from fake almost perfectly and G's loss is running away, so G has "
    "stopped learning. Try the default recipe (--preset facegan: hinge loss, spectral norm, "
    "DiffAugment), or lower --lr-d, or add --diffaug color,translation,cutout"
)
ADVICE_COLLAPSE = (
    "mode collapse: the fixed-noise samples have become alike (diversity {ratio:.2f} of the real "
    "images'). Try the default recipe (--preset facegan), --mbstd-group 4, or a lower --lr-g"
)


@dataclass(frozen=True)
class Event:
    step: int
    kind: str  # "d_won" or "mode_collapse"
    message: str

    def to_metrics(self) -> dict:
        return {"step": self.step, "event": self.kind, "message": self.message}


@dataclass
class CollapseDetector:
    window: int = WINDOW
    reported: set[str] = field(default_factory=set)
    best_ratio: float = 0.0  # the most varied the samples have been, relative to the reals
    _lines: deque = field(default_factory=deque)

    def observe_step(self, step: int, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                     loss_g: float) -> Event | None:
        """One log line: D's accuracy on this batch (logit > 0 means real) and G's adversarial loss."""
        accuracy = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()).item()
        self._lines.append((accuracy, float(loss_g)))
        while len(self._lines) > self.window:
            self._lines.popleft()
        if len(self._lines) < self.window or "d_won" in self.reported:
            return None
        accuracies, g_losses = zip(*self._lines)
        runaway = g_losses[-1] >= G_LOSS_HIGH or (g_losses[0] > 2.0 and g_losses[-1] > G_LOSS_RUNAWAY * g_losses[0])
        if min(accuracies) >= D_WON_ACCURACY and runaway:
            return self._report(Event(step, "d_won", f"step {step}: {ADVICE_D_WON}"))
        return None

    def observe_samples(self, step: int, fake: torch.Tensor, real: torch.Tensor) -> Event | None:
        """The fixed-noise samples against as many real images (NCHW, any value range, same range)."""
        if "mode_collapse" in self.reported:
            return None
        ratio = diversity(fake) / max(diversity(real), 1e-12)
        self.best_ratio = max(self.best_ratio, ratio)
        if ratio < COLLAPSE_DIVERSITY and ratio < COLLAPSE_DROP * self.best_ratio:
            return self._report(Event(step, "mode_collapse", f"step {step}: " + ADVICE_COLLAPSE.format(ratio=ratio)))
        return None

    def _report(self, event: Event) -> Event:
        self.reported.add(event.kind)
        return event


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance between images, at 16x16 so pixel noise counts little."""
    x = torch.nn.functional.adaptive_avg_pool2d(images.float(), 16).flatten(1)
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / max(n * (n - 1), 1))


__all__ = ["CollapseDetector", "Event", "diversity"]
