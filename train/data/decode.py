"""Files and decoding: which files are images, and one image file -> (3, size, size) uint8.

    files = list_images(folder)                       # sorted, recursive, by extension
    image = decode_image(files[0], image_size=64)     # centre-cropped, resized, (3, 64, 64) uint8

`DecodeDataset` wraps any `load(item) -> array` (a decoded file, a drawn toy face) for DataLoader
workers: strict while training (a broken file is a DataError naming it), lenient while the cache is
built (a broken file is skipped and its reason kept).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
# What a broken or foreign file raises in PIL; anything else is a bug and propagates.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
CHUNK = 64  # items per worker task while decoding or checking many files

Load = Callable[[Any], np.ndarray]  # item (a path, a toy-face index) -> (3, H, W) uint8
Progress = Callable[[int, int], None]  # (done, total)


def list_images(folder: Path) -> list[Path]:
    """Every image file below `folder` (by extension, case-insensitive), as one sorted flat list."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(Path(dirpath) / name)
    return sorted(found)


def decode_image(path: Path, image_size: int, crop: int = 0) -> np.ndarray:
    """Decode, centre-crop and resize one image to (3, image_size, image_size) uint8.

    The crop is the largest centred square, or `crop` source pixels (clamped to the image) if > 0.
    Raises what PIL raises for an unreadable file.
    """
    # Imported here: torchvision brings torch._dynamo (about 1 s), which only folder data needs.
    from torchvision.transforms.v2 import functional as TF

    with Image.open(path) as im:
        w, h = im.size
        side = min(w, h) if crop <= 0 else min(crop, w, h)
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the crop stays >= image_size:
        # about twice as fast, and the DCT downscale is itself antialiased. No-op for other formats.
        im.draft("RGB", (math.ceil(w * image_size / side), math.ceil(h * image_size / side)))
        rgb = im.convert("RGB")
    scaled_side = min(round(side * rgb.size[0] / w), *rgb.size)
    t = TF.pil_to_tensor(rgb)
    t = TF.center_crop(t, [scaled_side, scaled_side])
    t = TF.resize(t, [image_size, image_size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return t.numpy()


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _check_header(path: Path) -> str:
    """'' if PIL can identify the file as an image, else the reason it cannot."""
    try:
        with Image.open(path) as im:
            im.size
        return ""
    except DECODE_ERRORS as e:
        return _reason(e)


class DecodeDataset(Dataset):
    """`load(items[i])`. Strict: a tensor, or a DataError naming the item. Lenient: (i, array or None, reason)."""

    def __init__(self, items: Sequence, load: Load, strict: bool):
        self.items, self.load, self.strict = items, load, strict

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            img = self.load(self.items[i])
        except DECODE_ERRORS as e:
            if self.strict:
                raise DataError(
                    f"cannot decode {self.items[i]} ({_reason(e)}); delete it, or train with the "
                    "decode cache, which skips unreadable files"
                ) from e
            return i, None, _reason(e)
        return torch.from_numpy(img) if self.strict else (i, img, "")


class _HeaderDataset(Dataset):
    def __init__(self, files: Sequence[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, str]:
        return i, _check_header(self.files[i])


def _as_list(batch: list) -> list:  # a named function: DataLoader workers pickle their collate_fn
    return batch


def _chunks(dataset: Dataset, workers: int, total: int, progress: Progress | None):
    """Ordered chunks of a lenient dataset's items, computed by `workers` processes."""
    done = 0
    # Its own generator: drawing worker seeds from torch's global one would change a run's noise
    # depending on whether the cache already existed.
    loader = DataLoader(dataset, batch_size=CHUNK, num_workers=workers, collate_fn=_as_list, generator=torch.Generator())
    for chunk in loader:
        yield chunk
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def decode_into(
    items: Sequence, load: Load, out: np.ndarray, workers: int, progress: Progress | None
) -> tuple[int, list[tuple[str, str]]]:
    """Decode `items` in order into the first rows of `out`; unreadable ones are skipped.

    Returns (rows written, [(item, reason)] of the skipped ones).
    """
    rows, skipped = 0, []
    for chunk in _chunks(DecodeDataset(items, load, strict=False), workers, len(items), progress):
        for i, img, reason in chunk:
            if img is None:
                skipped.append((str(items[i]), reason))
            else:
                out[rows] = img
                rows += 1
    return rows, skipped


def readable_files(
    files: Sequence[Path], workers: int, progress: Progress | None
) -> tuple[list[Path], list[tuple[str, str]]]:
    """(files whose header PIL reads, [(file, reason)] of the others): a cheap check, no decoding."""
    readable, skipped = [], []
    for chunk in _chunks(_HeaderDataset(files), workers, len(files), progress):
        for i, reason in chunk:
            if reason:
                skipped.append((str(files[i]), reason))
            else:
                readable.append(files[i])
    return readable, skipped


__all__ = ["DECODE_ERRORS", "IMAGE_EXTENSIONS", "DecodeDataset", "decode_image", "decode_into", "list_images",
           "readable_files"]
