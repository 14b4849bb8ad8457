"""What facegan-serve encodes its responses as: the formats, their media types, its pillow options.

    body = encode_image(grid(faces), "png")                          # one picture
    body = encode(frames, MORPH_FORMAT, duration_ms=80)              # a morph (runtime.images.encode)

The pixels become bytes in facegan.runtime.images.encode, the code the CLI's files go through; what
is the service's own is the options. PNG uses zlib level 1: on a grid of 64 toy faces it measured
1.5x faster than pillow's default level 6 for files 9% larger, a good trade for a service whose
bottleneck is the CPU (encoding takes about as long as generating there). The same options every
time, so the same pixels always give the same bytes (with one pillow version: the ETag counts
pillow's version in).
"""

from __future__ import annotations

import numpy as np

from facegan.runtime.errors import UsageError
from facegan.runtime.images import encode

IMAGE_FORMATS = ("png", "jpeg", "webp")  # one picture: a face, a grid, one morph frame
MORPH_FORMAT = "gif"
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
IMAGE_OPTIONS = {
    "png": {"compress_level": 1},  # zlib level: see the module docstring
    "jpeg": {"quality": 90},
    "webp": {"quality": 90},  # lossy: lossless WebP encodes about 10x slower
}


def encode_image(image: np.ndarray, fmt: str) -> bytes:
    """One uint8 (H, W, C) picture as `fmt` ("png", "jpeg" or "webp") bytes, with the service's options."""
    if fmt not in IMAGE_OPTIONS:
        raise UsageError(f"format must be one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
    return encode(image, fmt, **IMAGE_OPTIONS[fmt])


__all__ = ["IMAGE_FORMATS", "IMAGE_OPTIONS", "MEDIA_TYPES", "MORPH_FORMAT", "encode_image"]
