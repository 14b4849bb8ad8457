"""KID and precision/recall of generated images against real ones, from any features (numpy only).

FID (`facegan.train.fid`) is biased at small sample counts: 1,000 samples score worse than 10,000
of the same model. These two are the small-budget companions, computed from the same features:

    kid(real_features, fake_features)              -> (mean, std) over random subsets
    precision_recall(real_features, fake_features) -> (precision, recall)

- **KID** (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Unbiased: it does not
  drift with the sample count, so 1,000 samples give the same answer as 10,000 (with more spread);
  about 0 for two samples of one distribution (it can dip below 0).
- **Precision and recall** (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
  around its samples, each with the radius of its k-th nearest neighbour in its own set. Precision
  is the share of generated samples inside the real manifold (are the fakes realistic?), recall
  the share of real samples inside the generated manifold (do the fakes cover the data?).
"""

from __future__ import annotations

import numpy as np

from facegan.runtime.errors import UsageError

KID_SUBSETS = 100  # random subsets averaged (Binkowski et al.: 100 of 1,000)
KID_SUBSET_SIZE = 1000  # samples per set in each subset (fewer when a set is smaller)
PR_K = 3  # nearest neighbour defining each sample's ball (the paper's k = 3)


def _features(name: str, f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise UsageError(f"{name} must be (N >= 2, D) features, got shape {f.shape}")
    return f


def kid(real: np.ndarray, fake: np.ndarray, *, num_subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased squared MMD over `num_subsets` random subsets (without replacement)."""
    real, fake = _features("real", real), _features("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise UsageError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    m = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD of two equal-sized samples under the cubic polynomial kernel."""
    d = x.shape[1]
    m = len(x)
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = PR_K) -> tuple[float, float]:
    """(precision, recall) of `fake` against `real` with k-nearest-neighbour manifolds."""
    real, fake = _features("real", real), _features("fake", fake)
    if min(len(real), len(fake)) <= k:
        raise UsageError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_radii = _kth_neighbour_distance(real, k)
    fake_radii = _kth_neighbour_distance(fake, k)
    d = _distances(fake, real)  # (n_fake, n_real)
    precision = (d <= real_radii[None, :]).any(axis=1).mean()
    recall = (d.T <= fake_radii[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of a and b (float64, clipped at 0 against rounding)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _kth_neighbour_distance(f: np.ndarray, k: int) -> np.ndarray:
    d = _distances(f, f)
    return np.partition(d, k, axis=1)[:, k]  # column 0 of the sorted row is the sample itself


__all__ = ["KID_SUBSETS", "KID_SUBSET_SIZE", "PR_K", "kid", "mmd2_unbiased", "precision_recall"]
