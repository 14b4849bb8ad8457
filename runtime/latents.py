"""Seeded latents: the same seed is the same face everywhere.

Latents are float32 standard normals of shape (n, latent_dim), always drawn on the CPU from a seed,
so seed 7 gives the same face in training samples, export parity checks and the runtime, on any
provider and any machine. How they are drawn is a named recipe, recorded in every export
(`facegan.latents`) so a runtime draws a model's latents the way its exporter meant:

- PHILOX_RECIPE, the default for everything new: Philox4x32-10 counters and Box-Muller
  (runtime/philox.py, README "Portable seeds"). Any language reproduces it from the text, and face
  i of seed s is addressable directly: `latents(s, 1, dim, start=i)` is row i of `latents(s, n, dim)`.
- NUMPY_RECIPE, what facegan 0.1 exported: `np.random.default_rng(seed).standard_normal`. Old models
  keep it and give exactly the faces they gave; only numpy reproduces it.

Changing a recipe changes every face of every model that names it: add a new name instead.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import UsageError
from .philox import philox_latents

PHILOX_RECIPE = "philox4x32-10 box-muller float32"  # portable; what new exports record
NUMPY_RECIPE = "numpy.default_rng(seed).standard_normal float32"  # facegan 0.1's exports
LATENT_RECIPES = (PHILOX_RECIPE, NUMPY_RECIPE)  # every recipe this facegan can draw
DEFAULT_RECIPE = PHILOX_RECIPE
SEED_LIMIT = 2**64  # seeds and face indices are 64-bit unsigned: [0, 2^64)
NUMPY_MAX_START = 10_000_000  # numpy's recipe replays the faces before `start`: ~1 s per million at dim 100
NUMPY_SKIP_CHUNK = 4096  # faces drawn and dropped at a time while skipping
INTERPOLATION_METHODS = ("slerp", "lerp")  # the paths `interpolate` can follow; slerp is the default


def check_seed(seed: object, name: str = "seed") -> int:
    """Return `seed` as an int in [0, 2^64), or raise UsageError (a ValueError) naming the argument."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UsageError(f"{name} must be a non-negative integer below 2**64, got {seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"{name} must be a non-negative integer below 2**64, got {seed}")
    return int(seed)


def check_recipe(recipe: object) -> str:
    """Return `recipe` if this facegan can draw it, or raise UsageError listing the ones it can."""
    if recipe not in LATENT_RECIPES:
        known = " or ".join(repr(r) for r in LATENT_RECIPES)
        raise UsageError(f"unknown latents recipe {recipe!r}; this facegan draws {known}")
    return recipe


def latents(seed: int, n: int, dim: int, *, recipe: str = DEFAULT_RECIPE, start: int = 0) -> np.ndarray:
    """Latents of faces `start` .. `start + n - 1` of `seed`: float32 (n, dim), drawn by `recipe`.

    Face i of a seed never depends on `n`. The Philox recipe computes face i directly; numpy's
    draws (and drops) the `start` faces before it, so it refuses a start over NUMPY_MAX_START.
    """
    seed = check_seed(seed)
    recipe = check_recipe(recipe)
    n = _check_size(n, "n", minimum=0)
    dim = _check_size(dim, "dim", minimum=1)
    start = check_seed(start, "start")
    if n and start + n > SEED_LIMIT:
        raise UsageError(f"faces start .. start + n - 1 must be below 2**64, got start={start}, n={n}")
    if recipe == NUMPY_RECIPE:
        return _numpy_latents(seed, start, n, dim)
    return philox_latents(seed, start, n, dim)


def _numpy_latents(seed: int, start: int, n: int, dim: int) -> np.ndarray:
    """numpy's recipe: a stream, so face `start` comes after drawing (and dropping) the ones before.

    standard_normal fills row by row and successive calls continue the stream, so face i is the
    same whatever n is and the skip can run in chunks of bounded memory.
    """
    if start > NUMPY_MAX_START:
        raise UsageError(
            f"start must be at most {NUMPY_MAX_START} with numpy's recipe (it replays the faces before "
            f"it), got {start}; the portable recipe has no such limit"
        )
    rng = np.random.default_rng(seed)
    for first in range(0, start, NUMPY_SKIP_CHUNK):
        rng.standard_normal((min(NUMPY_SKIP_CHUNK, start - first), dim), dtype=np.float32)
    return rng.standard_normal((n, dim), dtype=np.float32)


def _check_size(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
