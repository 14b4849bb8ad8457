"""The real side of FID, KID and precision/recall: Inception features of a seeded subset of the data, cached.

    real = reference_features(spec, 1000, inception, cache_dir, data=data)   # (n, 2048) float64

Training (--fid-every) and facegan-fid both call this, so they draw the same images and share one
cache file (`reference_key`): the features of a random subset of min(n, N) of the N images, drawn
with `np.random.default_rng(REFERENCE_SEED)` and read in index order, so a folder sorted by class
is sampled across its classes. Features rather than (mu, sigma) are kept because KID and
precision/recall need the samples themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facegan.runtime.errors import UsageError
from facegan.runtime.files import atomic_path

from .data import DataSpec, ImageData, load_data, source_fingerprint
from .fid import FID_PROTOCOL, Features, features_of

REFERENCE_SEED = 0  # seeds the random subset of real images the reference features are taken from


def default_reference_dir() -> Path:
    """Where facegan-fid keeps reference features by default: $XDG_CACHE_HOME/facegan/fid (~/.cache/...)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facegan" / "fid"


def reference_key(fingerprint: str, n: int, seed: int = REFERENCE_SEED) -> str:
    """The file name of the features of `n` real images (subset `seed`) of the data `fingerprint` names."""
    return f"fid-ref-{fingerprint}-n{n}-seed{seed}.npz"


def reference_subset(num_images: int, n: int, seed: int = REFERENCE_SEED) -> np.ndarray:
    """Sorted indices of a random subset of min(n, num_images) of `num_images` images."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_images, size=min(n, num_images), replace=False))


def reference_features(
    spec: DataSpec,
    n: int,
    inception: Features,
    cache_dir: Path,
    seed: int = REFERENCE_SEED,
    data: ImageData | None = None,
) -> np.ndarray:
    """Features (min(n, N), D) of a seeded random subset of the real images of `spec`.

    Read from `cache_dir / reference_key(...)` when present, else computed and written there.
    `data` is the loaded data of `spec` when the caller has it (training); otherwise it is loaded
    (no decode cache) on a miss only, and decodes just the subset.
    """
    fingerprint = data.fingerprint if data is not None else source_fingerprint(spec)
    path = Path(cache_dir) / reference_key(fingerprint, n, seed)
    cached = load_features(path)
    if cached is not None:
        return cached
    if data is None:
        data = load_data(DataSpec(spec.source, spec.image_size, spec.crop, cache=False, cache_dir=None, workers=0,
                                  seed=spec.seed, toy_faces=spec.toy_faces), report=False)
    if len(data) < 2:
        raise UsageError(f"{spec.source} has {len(data)} image(s); scoring needs at least 2")
    features = features_of(data.take(reference_subset(len(data), n, seed)), inception)
    save_features(path, features)
    return features


def save_features(path: Path, features: np.ndarray) -> None:
    """Write features as an .npz (float32, half the size; scores are computed in float64) with the protocol."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez adds no suffix
        np.savez(f, features=features.astype(np.float32), protocol=np.str_(FID_PROTOCOL))


def load_features(path: Path) -> np.ndarray | None:
    """Cached features as float64, or None when missing, unreadable or of another protocol."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["protocol"]) != FID_PROTOCOL:
                return None
            return z["features"].astype(np.float64)
    except (OSError, KeyError, ValueError):
        return None


__all__ = ["REFERENCE_SEED", "default_reference_dir", "load_features", "reference_features", "reference_key",
           "reference_subset", "save_features"]
