"""Seeded latents: the same seed is the same face everywhere.

Latents are always drawn on the CPU from numpy's PCG64 generator (`np.random.default_rng(seed)`),
as float32 standard normals of shape (n, latent_dim). PyTorch, TorchScript and onnxruntime on any
provider all consume these arrays, so seed 7 gives the same face in training samples, export parity
checks and the runtime, on any machine. Changing this function changes every face: don't.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import UsageError

INTERPOLATION_METHODS = ("slerp", "lerp")  # the paths `interpolate` can follow; slerp is the default


def check_seed(seed: object, name: str = "seed") -> int:
    """Return `seed` as an int, or raise UsageError (a ValueError) naming the argument."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UsageError(f"{name} must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise UsageError(f"{name} must be a non-negative integer, got {seed}")
    return int(seed)


def latents(seed: int, n: int, dim: int) -> np.ndarray:
    """Draw `n` latent vectors of size `dim` from the documented seeded generator (float32)."""
    seed = check_seed(seed)
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def check_truncation(psi: object) -> float:
    """Return `psi` as a float >= 0 (1.0 = no truncation), or raise UsageError."""
    try:
        value = float(psi) if isinstance(psi, numbers.Real) and not isinstance(psi, bool) else math.nan
    except OverflowError:  # an int too large for a float
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise UsageError(f"truncation must be a finite number >= 0 (1.0 = off), got {psi!r}")
    return value


def truncate(z: np.ndarray, psi: float) -> np.ndarray:
    """Scale latents toward the mean of the prior (zero) by `psi`: less variety, fewer artefacts."""
    psi = check_truncation(psi)
    with np.errstate(over="ignore"):  # the caller sees the overflow as inf and names it
        return (z * np.float32(psi)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Straight-line interpolation from `a` to `b` (both shape (dim,)), `steps` points inclusive."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return ((1 - t) * a[None, :] + t * b[None, :]).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation: keeps the norm typical of Gaussian latents along the path.

    Linear interpolation passes near the origin, where a Gaussian prior almost never lands, which
    shows up as washed-out faces mid-morph; slerp follows the great circle instead.
    """
    t = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel vectors: slerp degenerates to lerp
        return lerp(a, b, steps)
    so = np.sin(omega)
    out = (np.sin((1 - t) * omega) / so) * a64[None, :] + (np.sin(t * omega) / so) * b64[None, :]
    return out.astype(np.float32)
