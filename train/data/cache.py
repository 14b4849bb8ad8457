"""The decoded-image cache: one key per source, and an (N, 3, H, W) uint8 .npy memory-mapped from disk.

    key = cache_key("img_align_celeba", 64, crop=0, files=files)   # img_align_celeba-64px-<hash>
    opened = open_cache(cache_dir / f"{key}.npy", 64)             # (images, skipped) or None
    images, skipped = opened or write_cache(path, len(files), 64, fill)

`cache_key` is the one name of "these pixels": the decode cache and the FID reference statistics
(`facegan.train.fid.reference_key`) are both keyed by it. For files it hashes the list (path, size,
mtime), the image size and the crop, so a changed, added or removed file is another key. The .npy
and its .json (row count, skipped files) are written through `atomic_path`, the .json first, so
concurrent or interrupted runs never see half a cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from facegan.runtime.files import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

# Bump when decoding or toy-face drawing changes, so caches of the old pixels are not reused.
CACHE_FORMAT_VERSION = 1

Skipped = list[tuple[str, str]]  # (path, reason) of each unreadable file


def slug(name: str) -> str:
    """`name` with everything but letters, digits, '-' and '_' replaced, for file names."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "data"


def cache_key(name: str, image_size: int, crop: int = 0, files: Sequence[Path] | None = None) -> str:
    """`<name>-<size>px`, plus a hash of `files` (paths, sizes, mtimes), the size and the crop.

    Without files (drawn data) `name` itself must say what is drawn (seed, count, version).
    """
    key = f"{slug(name)}-{image_size}px"
    if files is None:
        return key
    h = hashlib.sha256(f"facegan-cache v{CACHE_FORMAT_VERSION} size={image_size} crop={crop}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"{key}-{h.hexdigest()[:20]}"


def open_cache(path: Path, image_size: int) -> tuple[np.ndarray, Skipped] | None:
    """The cached array (memory-mapped) and its skipped-file list, or None if absent or unusable."""
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable data cache %s (%s); rebuilding it", path, e)
        return None
    expected = (meta.get("num_images"), 3, image_size, image_size)
    if images.dtype != np.uint8 or images.shape != expected:
        log.warning("ignoring data cache %s with unexpected shape %s; rebuilding it", path, images.shape)
        return None
    return images, [tuple(s) for s in meta.get("skipped", [])]


class NothingReadable(Exception):
    """No row could be filled: the caller turns it into a DataError naming its source."""

    def __init__(self, skipped: Skipped):
        super().__init__(f"{len(skipped)} files, none readable")
        self.skipped = skipped


def write_cache(
    path: Path, total: int, image_size: int, fill: Callable[[np.ndarray], tuple[int, Skipped]]
) -> tuple[np.ndarray, Skipped]:
    """Create the cache at `path`: `fill(array)` writes rows and returns (rows, skipped).

    Raises NothingReadable (and leaves nothing behind) when `fill` wrote no row.
    """
    shape = (total, 3, image_size, image_size)
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        rows, skipped = fill(arr)
        if rows == 0:
            del arr
            raise NothingReadable(skipped)
        if rows < total:
            # Unreadable files leave unused rows at the end: copy the rest into a right-sized file.
            with atomic_path(tmp) as tmp_small:
                small = np.lib.format.open_memmap(tmp_small, mode="w+", dtype=np.uint8, shape=(rows, *shape[1:]))
                small[:] = arr[:rows]
                small.flush()
                del small, arr
        else:
            arr.flush()
            del arr
        # The .json goes first: a finished .npy always has its metadata beside it.
        atomic_write_text(path.with_suffix(".json"), json.dumps({"num_images": rows, "skipped": skipped}))
    return np.load(path, mmap_mode="r"), skipped


__all__ = ["CACHE_FORMAT_VERSION", "NothingReadable", "cache_key", "open_cache", "slug", "write_cache"]
