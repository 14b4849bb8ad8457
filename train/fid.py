"""FID, KID and precision/recall of a generator against real images, on Inception features, offline.

FID (Heusel et al. 2017) fits a Gaussian to InceptionV3 pool features of real and of generated
images and reports ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)); lower is better.
KID and precision/recall (`facegan.train.scores`) come from the same features and stay
meaningful at 1,000 samples, where FID is biased upward.

Protocol (FID_PROTOCOL, stored with every cached reference):
- Features: facegan.train.inception (TF-FID InceptionV3 pool3, 2048-d, TF1 resize to 299).
- Images: uint8 RGB, as a user would see them (generated outputs go through `to_uint8`).
- Real images: a random subset of min(n, N) of the N images, drawn with
  `np.random.default_rng(REFERENCE_SEED)` (seed 0) and read in index order, so a folder sorted by
  class is sampled across its classes. Training (--fid-every) and facegan-fid both get them from
  `reference_stats_for`, cached under one name (`reference_key`), so each reuses the other's file.
- Statistics: mean and unbiased covariance (np.cov) in float64; the matrix square root through two
  symmetric eigendecompositions (no scipy).
- Generated latents: `facegan.runtime.latents(seed, n, latent_dim)` (the default, portable recipe),
  so an eager checkpoint and its ONNX export are scored on the same faces, whichever recipe the
  export records for its seeds.
FID depends on the sample count (biased upwards for small n): compare only numbers with equal n.

    real = reference_features(spec, 1000, inception, default_reference_dir(), data=data)
    scores = quality_scores(real, generator_features(g, 100, (-1, 1), 1000, inception=inception))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from facegan.runtime.attributes import attribute_vectors
from facegan.runtime.errors import UsageError
from facegan.runtime.images import to_uint8
from facegan.runtime.latents import latents

from .inception import InceptionFeatures  # re-exported: callers build one and pass it as `inception`
from .scores import kid, precision_recall

FID_PROTOCOL = "facegan-fid-v1: tf-inception-v3 pool3 2048-d, uint8 -> tf1-bilinear 299, x/128-1"

Stats = tuple[np.ndarray, np.ndarray]  # (mu (D,), sigma (D, D)), float64
Features = Callable[[np.ndarray | torch.Tensor], np.ndarray]  # uint8 (N, C, H, W) -> (N, D); InceptionFeatures


# ---------------------------------------------------------------------------------------------
# The distance


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) between two Gaussians.

    Tr((S1 S2)^(1/2)) equals Tr((L^T S2 L)^(1/2)) with S1 = L L^T (Cholesky, or V W^(1/2) on the
    range of S1 when it is singular), whose argument is symmetric PSD: `eigvalsh` gives it stably,
    where a general sqrtm of the non-symmetric S1 S2 can return complex noise (and needs scipy).
    Covariances of fewer samples than dimensions are singular: eigenvalues below rounding level
    are set to exactly 0, or their square roots (~1e-8 each) would add up.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    try:
        # S1 = L L^T: L^T S2 L has the eigenvalues of S1 S2, and Cholesky is ~10x cheaper than eigh.
        lower = np.linalg.cholesky(s1)
        middle = lower.T @ s2 @ lower
    except np.linalg.LinAlgError:  # singular S1 (fewer samples than dimensions): S1 = L L^T on its
        # range, L = V sqrt(W) of the eigenvalues kept (D x rank), so L^T S2 L is only rank x rank
        w, v = np.linalg.eigh((s1 + s1.T) / 2)
        keep = _clip_null(w) > 0
        lower = v[:, keep] * np.sqrt(w[keep])
        middle = lower.T @ s2 @ lower
    tr_covmean = np.sqrt(_clip_null(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def _clip_null(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with those below the rounding tolerance (as in matrix_rank) set to 0."""
    top = float(np.abs(eigenvalues).max(initial=0.0))
    tol = top * len(eigenvalues) * np.finfo(np.float64).eps
    return np.where(eigenvalues > tol, eigenvalues, 0.0)


def feature_stats(features: np.ndarray) -> Stats:
    """Mean and unbiased covariance of (N, D) features, float64; N >= 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def features_of(batches: np.ndarray | torch.Tensor | Iterable, inception: Features) -> np.ndarray:
    """Features of an array of uint8 images, or of an iterable of such batches, stacked."""
    if isinstance(batches, (np.ndarray, torch.Tensor)):
        return inception(batches)
    parts = [inception(b) for b in batches]
    if not parts:
        raise ValueError("no images to compute FID features of")
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# Scores


def generated_batches(
    g: torch.nn.Module,
    latent_dim: int,
    value_range: tuple[float, float],
    n: int,
    device: str | torch.device,
    batch_size: int = 50,
    seed: int = 0,
    space=None,
) -> Iterator[np.ndarray]:
    """uint8 (B, C, H, W) images from the eager generator `g` for latents(seed, n, latent_dim).

    A conditional `g` gets the attributes of the same faces drawn from `space` (the training data's
    prior, a runtime.attributes.AttributeSpace), as the runtime's generate(n, seed) draws them.
    """
    z_all = latents(seed, n, latent_dim)
    inputs = [z_all] if space is None else [z_all, attribute_vectors(space, n, seed)]
    was_training = g.training
    g.eval()  # BatchNorm running statistics, as in every exported model
    try:
        for start in range(0, n, batch_size):
            chunk = [torch.from_numpy(x[start : start + batch_size]).to(device) for x in inputs]
            with torch.no_grad():
                x = g(*chunk).float().cpu().numpy()
            yield to_uint8(x, value_range)
    finally:
        g.train(was_training)


def generator_features(
    g: torch.nn.Module,
    latent_dim: int,
    value_range: tuple[float, float],
    n: int,
    *,
    inception: Features,
    device: str | torch.device | None = None,
    batch_size: int = 50,
    seed: int = 0,
    space=None,
) -> np.ndarray:
    """Features of `n` images of the eager generator `g` (eval mode, restored after).

    `device` defaults to where g's weights are. Pass one `inception` across calls in a training
    run to load Inception once.
    """
    _check_n(n)
    if device is None:
        device = next(g.parameters()).device
    return features_of(generated_batches(g, latent_dim, value_range, n, device, batch_size, seed, space), inception)


def onnx_features(
    model_path: Path, n: int, *, inception: Features, device: str = "cpu", batch_size: int = 50, seed: int = 0
) -> np.ndarray:
    """Features of `n` images of an exported ONNX model, run through facegan.runtime.FaceGenerator on `device`."""
    from facegan.runtime.generator import FaceGenerator

    _check_n(n)
    gen = FaceGenerator(model_path, device=device, batch_size=batch_size)
    z_all = latents(seed, n, gen.latent_dim)  # not gen.latents: the eager scorer's, whatever the model's recipe
    a_all = gen.attribute_vectors(n, seed) if gen.attributes else None  # as generated_batches draws them

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, n, batch_size):
            rows = None if a_all is None else a_all[start : start + batch_size]
            nhwc = gen.generate_from_latents(z_all[start : start + batch_size], output="uint8", attributes=rows)
            yield np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))

    return features_of(batches(), inception)


def quality_scores(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """FID, KID (mean and std over subsets) and precision/recall of fake against real features."""
    kid_mean, kid_std = kid(real, fake)
    precision, recall = precision_recall(real, fake)
    fid = frechet_distance(*feature_stats(real), *feature_stats(fake))
    return {"fid": fid, "kid": kid_mean, "kid_std": kid_std, "precision": precision, "recall": recall}


def _check_n(n: int) -> None:
    if n < 2:
        raise UsageError(f"scoring needs at least 2 generated images, got {n}")


__all__ = [
    "FID_PROTOCOL",
    "InceptionFeatures",
    "feature_stats",
    "features_of",
    "frechet_distance",
    "generated_batches",
    "generator_features",
    "onnx_features",
    "quality_scores",
]
