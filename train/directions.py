"""InterFaceGAN directions: one unit vector in z per attribute, found by reading generated faces.

    judge = train_judge(real_images, labels.values, labels.names)
    found = find_directions(g, model_cfg, judge, samples=4000, seed=0)
    found.directions          # the facegan.directions object (notes/ATTR.md A): names, vectors, ...
    measure_edits(g, model_cfg, judge, found.directions, z, alpha=2.0)   # how often an edit flips the reading

The recipe of Shen et al. (2020): draw N latents (the portable Philox recipe, so face i of seed s is
the one every runtime draws), generate them with the checkpoint's generator, label each face with the
judge (trained on the real labelled images), fit one linear boundary per attribute in z, and take
its unit normal as the direction: z + alpha * d moves a face alpha standard deviations across the
boundary. The first 80% of the faces fit the boundary, the rest measure it (boundary accuracy).

The boundary is a logistic regression fitted here in torch (L-BFGS, float64, a small L2 penalty),
not scikit-learn's: scikit-learn is no dependency of facegan, and ~20 lines of torch fit the
(4000 x 100) problem in well under a second, deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from facegan.runtime import latents
from facegan.runtime.errors import UsageError

from .judge import Judge

METHOD = "interfacegan"
DEFAULT_SAMPLES = 4000
DEFAULT_ALPHA = 2.0  # the edit that measure_edits applies: two standard deviations of z
BOUNDARY_HOLDOUT = 0.2  # share of the generated faces that measure the boundary instead of fitting it
MIN_CLASS = 10  # faces needed on each side of a boundary (in the fitting share) to fit one
L2 = 1e-3


@dataclass
class FoundDirections:
    directions: dict  # the facegan.directions object: names, vectors, accuracy, boundary_accuracy, samples, method
    skipped: dict[str, str] = field(default_factory=dict)  # attribute -> why no direction was fitted
    generated_share: dict[str, float] = field(default_factory=dict)  # share of generated faces read with it on


@torch.no_grad()
def generate_images(g, z: np.ndarray, attributes: np.ndarray | None = None, batch_size: int = 200) -> torch.Tensor:
    """Eval-mode outputs of `g` for latents `z` (and attribute rows for a conditional g), on the CPU."""
    g.eval()
    device = next(g.parameters()).device
    out = []
    for i in range(0, len(z), batch_size):
        zb = torch.from_numpy(np.ascontiguousarray(z[i : i + batch_size], dtype=np.float32)).to(device)
        if attributes is None:
            out.append(g(zb).float().cpu())
        else:
            ab = torch.from_numpy(np.ascontiguousarray(attributes[i : i + batch_size], dtype=np.float32)).to(device)
            out.append(g(zb, ab).float().cpu())
    return torch.cat(out)


def read_generated(g, model_cfg, judge: Judge, z: np.ndarray, attributes: np.ndarray | None = None) -> np.ndarray:
    """(n, k) uint8: the judge's reading of the faces of `z` (and `attributes`)."""
    return judge.read(generate_images(g, z, attributes), model_cfg.value_range)


def fit_boundary(z: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 100) -> tuple[np.ndarray, float]:
    """A logistic-regression boundary w.z + b = 0 separating y = 1 from y = 0: (w float64, b)."""
    x = torch.from_numpy(np.asarray(z, dtype=np.float64))
    t = torch.from_numpy(np.asarray(y, dtype=np.float64))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, t) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().copy(), float(b.detach())


def find_directions(g, model_cfg, judge: Judge, *, names: Sequence[str] | None = None, samples: int = DEFAULT_SAMPLES,
                    seed: int = 0, attributes: np.ndarray | None = None) -> FoundDirections:
    """Directions of the attributes `names` (default: all the judge reads) for generator `g`.

    `attributes`: the (samples, k) rows a conditional g takes with the latents (None for an
    unconditional g). An attribute whose faces all read one way (fewer than MIN_CLASS on a side)
    gets no direction; `skipped` says why.
    """
    names = list(judge.names if names is None else names)
    unknown = [n for n in names if n not in judge.names]
    if unknown:
        raise UsageError(f"the judge reads no attribute {', '.join(unknown)}; it reads {', '.join(judge.names)}")
    if samples < 2 * MIN_CLASS:
        raise UsageError(f"samples must be at least {2 * MIN_CLASS}, got {samples}")
    z = latents(seed, samples, model_cfg.latent_dim)
    read = read_generated(g, model_cfg, judge, z, attributes)
    cut = samples - max(1, int(round(samples * BOUNDARY_HOLDOUT)))
    found = FoundDirections({"names": [], "vectors": [], "accuracy": [], "boundary_accuracy": [],
                             "samples": int(samples), "method": METHOD})
    for name in names:
        y = read[:, judge.names.index(name)].astype(np.float64)
        found.generated_share[name] = float(y.mean())
        on = int(y[:cut].sum())
        if min(on, cut - on) < MIN_CLASS:
            found.skipped[name] = f"{on} of {cut} generated faces read {name} on: too few on one side for a boundary"
            continue
        w, b = fit_boundary(z[:cut], y[:cut])
        norm = float(np.linalg.norm(w))
        if not np.isfinite(norm) or norm == 0.0:
            found.skipped[name] = "the boundary did not converge"
            continue
        held = ((z[cut:].astype(np.float64) @ w + b) > 0).astype(np.float64)
        d = found.directions
        d["names"].append(name)
        d["vectors"].append([float(v) for v in w / norm])
        d["accuracy"].append(float(judge.accuracy[name]))
        d["boundary_accuracy"].append(float((held == y[cut:]).mean()))
    return found


def measure_edits(g, model_cfg, judge: Judge, directions: dict, z: np.ndarray, *, alpha: float = DEFAULT_ALPHA,
                  attributes: np.ndarray | None = None, others: Sequence[str] | None = None) -> dict[str, dict]:
    """Per direction: how often moving a face `alpha` along it, toward the value it does not read
    (+alpha when read off, -alpha when read on), flips the judge's reading ("flip"), and how often
    the judge's other attributes (`others`, default every other one it reads) stay as they were
    ("identity"), over the faces of `z`.
    """
    base = read_generated(g, model_cfg, judge, z, attributes)
    out = {}
    for name, vector in zip(directions["names"], directions["vectors"]):
        j = judge.names.index(name)
        sign = np.where(base[:, j] == 1, -1.0, 1.0).astype(np.float32)[:, None]
        moved = (z + sign * np.float32(alpha) * np.asarray(vector, dtype=np.float32)[None, :]).astype(np.float32)
        after = read_generated(g, model_cfg, judge, moved, attributes)
        rest = [judge.names.index(n) for n in (others if others is not None else judge.names) if n != name and n in judge.names]
        kept = (after[:, rest] == base[:, rest]).all(axis=1) if rest else np.ones(len(z), dtype=bool)
        out[name] = {"flip": float((after[:, j] != base[:, j]).mean()), "identity": float(kept.mean()),
                     "alpha": float(alpha), "faces": int(len(z))}
    return out


__all__ = ["BOUNDARY_HOLDOUT", "DEFAULT_ALPHA", "DEFAULT_SAMPLES", "FoundDirections", "METHOD", "find_directions",
           "fit_boundary", "generate_images", "measure_edits", "read_generated"]
