"""Pixel conversions shared by every part: model outputs to uint8 RGB images.

`to_uint8` is the one definition of de-normalisation; the training sample grids, the export's
uint8 graph tail and the runtime all agree with it to within one level. `encode` is the one
place pixels become image-file bytes (pillow): `save_grid`, `save_images` and `save_gif` write its
bytes atomically and facegan-serve sends them. `grid_shape` is the one size formula of `grid`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import UsageError
from .files import atomic_path

GRID_PADDING_PX = 2  # background pixels around and between the faces of a grid


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


def grid_shape(
    n: int, height: int, width: int, channels: int, nrow: int = 8, padding_px: int = GRID_PADDING_PX
) -> tuple[int, int, int]:
    """The (H', W', C) shape of `grid` of n (height, width, channels) images, `nrow` per row."""
    rows, cols = _grid_cells(n, nrow)
    return rows * height + (rows + 1) * padding_px, cols * width + (cols + 1) * padding_px, channels


def grid(images: np.ndarray, nrow: int = 8, padding_px: int = GRID_PADDING_PX, fill: int = 0) -> np.ndarray:
    """Tile (N, H, W, C) uint8 images into one (H', W', C) image, `nrow` images per row."""
    n, h, w, c = check_images(images).shape
    canvas = np.full(grid_shape(n, h, w, c, nrow, padding_px), fill, dtype=np.uint8)
    _, cols = _grid_cells(n, nrow)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        y, x = padding_px + r * (h + padding_px), padding_px + col * (w + padding_px)
        canvas[y : y + h, x : x + w] = image
    return canvas


def encode(images: np.ndarray, fmt: str, *, duration_ms: int | None = None, loop: int = 0, **options) -> bytes:
    """uint8 pixels as the bytes of an image file in `fmt`, pillow's format name in any case
    ("png", "jpeg", "webp", "gif", "BMP", ...).

    Without `duration_ms`: one picture, (H, W, C) or (1, H, W, C). With it: (N, H, W, C) frames as
    an animation (GIF, or another format pillow animates), `duration_ms` per frame, played `loop`
    times (0 = forever). `options` go to pillow's writer, e.g. compress_level=1 (PNG) or quality=90
    (JPEG, WebP). The same pixels and options always give the same bytes (with one pillow version).
    """
    from PIL import Image

    Image.init()  # registers every format (webp, tiff, ...), not just the common ones
    name = str(fmt).upper()
    if name not in Image.SAVE:
        raise UsageError(f"pillow cannot write image format {fmt!r}; try png, jpeg, webp or gif")
    out = io.BytesIO()
    if duration_ms is None:
        if np.ndim(images) == 4 and len(images) != 1:
            raise UsageError("encode writes one picture: tile images with grid(), or pass duration_ms for an animation")
        to_pil(images).save(out, format=name, **options)
        return out.getvalue()
    frames = check_images(images, "frames")
    duration_ms = _check_positive(duration_ms, "duration_ms")
    if name not in Image.SAVE_ALL:
        raise UsageError(f"image format {fmt!r} cannot hold an animation; use gif")
    pictures = [to_pil(f) for f in frames]
    options = {"optimize": False, **options}  # what save_gif has always written: keeps its bytes
    pictures[0].save(
        out, format=name, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=loop, **options
    )
    return out.getvalue()


def save_grid(images: np.ndarray, path: str | Path, nrow: int = 8, padding_px: int = GRID_PADDING_PX) -> Path:
    """Write the images as one grid image (format from the suffix, e.g. .png); returns the path."""
    return _save(Path(path), grid(images, nrow, padding_px))


def save_images(images: np.ndarray, folder: str | Path, prefix: str = "face", suffix: str = ".png") -> list[Path]:
    """Write each image as `folder/{prefix}-{i:0Nd}{suffix}` (zero-padded, N >= 4); returns the paths."""
    images = check_images(images)
    folder = Path(folder)
    width = max(4, len(str(len(images) - 1)))
    return [_save(folder / f"{prefix}-{i:0{width}d}{suffix}", image) for i, image in enumerate(images)]


def save_gif(frames: np.ndarray, path: str | Path, duration_ms: int = 80, loop: int = 0) -> Path:
    """Write frames as an animated GIF, `duration_ms` per frame, looping forever by default."""
    frames = check_images(frames, "frames")
    _check_positive(duration_ms, "duration_ms")  # before the path: the arguments' errors come first
    return _save(Path(path), frames, duration_ms=duration_ms, loop=loop)


def image_format(path: Path) -> str:
    """Pillow's format name for the suffix of `path` (".png" -> "PNG"), or UsageError naming it."""
    from PIL import Image

    if path.is_dir():
        raise UsageError(f"{path} is a folder; give an image file name such as faces.png")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"cannot tell which image format {path} should be: give a name ending in .png, .jpg, .webp or .gif")
    return fmt


def _save(path: Path, images: np.ndarray, **options) -> Path:
    """`encode` in the format the suffix of `path` names (checked before anything is written),
    then written atomically. Encoding inside `atomic_path` lets pillow's errors name `path`."""
    fmt = image_format(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(encode(images, fmt, **options))
    return path


def _grid_cells(n: object, nrow: object) -> tuple[int, int]:
    """(rows, columns) of a grid of n images, `nrow` per row (fewer columns when n < nrow)."""
    n, nrow = _check_positive(n, "n"), _check_positive(nrow, "nrow")
    cols = min(nrow, n)
    return -(-n // cols), cols


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)
