"""Pixel conversions shared by every part: model outputs to uint8 RGB images.

`to_uint8` is the one definition of de-normalisation; the training sample grids, the export's
uint8 graph tail and the runtime all agree with it to within one level.
"""

from __future__ import annotations

import numpy as np


def to_uint8(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map float images in `value_range` to uint8 [0, 255], rounding to nearest and clipping."""
    lo, hi = float(value_range[0]), float(value_range[1])
    scaled = (np.asarray(x, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
