"""Pixel conversions shared by every part: model outputs to uint8 RGB images.

`to_uint8` is the one definition of de-normalisation; the training sample grids, the export's
uint8 graph tail and the runtime all agree with it to within one level. `save_grid`,
`save_images` and `save_gif` write uint8 (N, H, W, C) arrays with pillow, atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UsageError
from .files import atomic_path


def to_uint8(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map float images in `value_range` to uint8 [0, 255], rounding to nearest and clipping."""
    lo, hi = float(value_range[0]), float(value_range[1])
    scaled = (np.asarray(x, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C), contiguous."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


# Saving. Pillow is imported inside the functions: generating needs only numpy + onnxruntime.


def check_images(images: object, name: str = "images") -> np.ndarray:
    """Return `images` if it is uint8 (N, H, W, C) with C in (1, 3, 4), else raise UsageError."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = getattr(images, "dtype", type(images).__name__)
        raise UsageError(f"{name} must be a uint8 numpy array (N, H, W, C), got {kind}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or len(images) == 0:
        raise UsageError(f"{name} must have shape (N, H, W, C) with N >= 1 and C in 1, 3, 4, got {images.shape}")
    return images


def to_pil(image: np.ndarray):
    """One uint8 (H, W, C) image (or (1, H, W, C)) as a PIL image (L, RGB or RGBA)."""
    image = np.asarray(image)
    if image.ndim == 4 and len(image) == 1:
        image = image[0]
    check_images(image[None] if image.ndim == 3 else image, "image")
    from PIL import Image

    if image.shape[-1] == 1:
        return Image.fromarray(np.ascontiguousarray(image[..., 0]))  # 2-D uint8 -> mode "L"
    return Image.fromarray(np.ascontiguousarray(image))


def grid(images: np.ndarray, nrow: int = 8, padding_px: int = 2, fill: int = 0) -> np.ndarray:
    """Tile (N, H, W, C) uint8 images into one (H', W', C) image, `nrow` images per row."""
    images = check_images(images)
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise UsageError(f"nrow must be an integer >= 1, got {nrow!r}")
    n, h, w, c = images.shape
    cols = min(int(nrow), n)
    rows = -(-n // cols)
    canvas = np.full(
        (rows * h + (rows + 1) * padding_px, cols * w + (cols + 1) * padding_px, c), fill, dtype=np.uint8
    )
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        y, x = padding_px + r * (h + padding_px), padding_px + col * (w + padding_px)
        canvas[y : y + h, x : x + w] = image
    return canvas


def save_grid(images: np.ndarray, path: str | Path, nrow: int = 8, padding_px: int = 2) -> Path:
    """Write the images as one grid image (format from the suffix, e.g. .png); returns the path."""
    picture = to_pil(grid(images, nrow, padding_px))
    return _atomic_save(Path(path), lambda tmp, fmt: picture.save(tmp, format=fmt))


def save_images(images: np.ndarray, folder: str | Path, prefix: str = "face", suffix: str = ".png") -> list[Path]:
    """Write each image as `folder/{prefix}-{i:0Nd}{suffix}` (zero-padded, N >= 4); returns the paths."""
    images = check_images(images)
    folder = Path(folder)
    width = max(4, len(str(len(images) - 1)))
    paths = []
    for i, image in enumerate(images):
        picture = to_pil(image)
        paths.append(_atomic_save(folder / f"{prefix}-{i:0{width}d}{suffix}", lambda tmp, fmt: picture.save(tmp, format=fmt)))
    return paths


def save_gif(frames: np.ndarray, path: str | Path, duration_ms: int = 80, loop: int = 0) -> Path:
    """Write frames as an animated GIF, `duration_ms` per frame, looping forever by default."""
    frames = check_images(frames, "frames")
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, np.integer)) or duration_ms < 1:
        raise UsageError(f"duration_ms must be an integer >= 1, got {duration_ms!r}")
    pictures = [to_pil(f) for f in frames]

    def write(tmp: Path, fmt: str) -> None:
        pictures[0].save(
            tmp, format=fmt, save_all=True, append_images=pictures[1:], duration=int(duration_ms), loop=loop,
            optimize=False,
        )

    return _atomic_save(Path(path), write)


def image_format(path: Path) -> str:
    """Pillow's format name for the suffix of `path` (".png" -> "PNG"), or UsageError naming it."""
    from PIL import Image

    if path.is_dir():
        raise UsageError(f"{path} is a folder; give an image file name such as faces.png")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"cannot tell which image format {path} should be: give a name ending in .png, .jpg, .webp or .gif")
    return fmt


def _atomic_save(path: Path, write) -> Path:
    """`write(tmp, format)` through `files.atomic_path`, the format from the suffix of `path` itself
    (checked before anything is written: pillow would otherwise guess it from the temporary name)."""
    fmt = image_format(path)
    with atomic_path(path) as tmp:
        write(tmp, fmt)
    return path
