"""Image helpers: grid layout and its shape, encoding to bytes, zero-padded file names, GIF frames, atomic writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facegan.runtime.errors import UsageError
from facegan.runtime.images import encode, grid, grid_shape, save_gif, save_grid, save_images, to_pil, to_uint8


def faces(n: int, size: int = 8, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def test_to_uint8_range_ends():
    x = np.array([-1.0, -0.999, 0.0, 1.0, 1.5], np.float32)
    np.testing.assert_array_equal(to_uint8(x, (-1, 1)), [0, 0, 128, 255, 255])


def test_grid_layout():
    images = faces(5)
    g = grid(images, nrow=2, padding_px=2)
    assert g.shape == (3 * 8 + 4 * 2, 2 * 8 + 3 * 2, 3)
    np.testing.assert_array_equal(g[2:10, 2:10], images[0])
    np.testing.assert_array_equal(g[12:20, 12:20], images[3])  # row 1, column 1
    np.testing.assert_array_equal(g[22:30, 2:10], images[4])
    assert (g[22:30, 12:20] == 0).all()  # the empty cell stays background
    assert grid(images, nrow=100).shape == (12, 5 * 8 + 6 * 2, 3)  # nrow capped at N


@pytest.mark.parametrize(("n", "nrow", "padding_px", "channels"), [(1, 8, 2, 3), (5, 2, 2, 3), (7, 3, 0, 1), (4, 100, 5, 4)])
def test_grid_shape_is_the_shape_of_grid(n, nrow, padding_px, channels):
    images = np.random.default_rng(n).integers(0, 256, (n, 6, 9, channels), dtype=np.uint8)  # not square
    assert grid_shape(n, 6, 9, channels, nrow, padding_px) == grid(images, nrow, padding_px).shape


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_grid_shape_refuses_bad_counts(bad):
    for kwargs in ({"n": bad, "nrow": 2}, {"n": 2, "nrow": bad}):
        with pytest.raises(UsageError, match="n must|nrow"):
            grid_shape(height=8, width=8, channels=3, **kwargs)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_encode_png_round_trips_exactly(channels):
    image = faces(1, channels=channels)[0]
    for pixels in (image, image[None]):  # (H, W, C) or (1, H, W, C)
        for options in ({}, {"compress_level": 1}):
            np.testing.assert_array_equal(decode(encode(pixels, "png", **options)).reshape(image.shape), image)


def test_encode_is_what_save_grid_writes(tmp_path):
    images = faces(3)
    for suffix, fmt in ((".png", "PNG"), (".jpg", "jpeg"), (".webp", "WebP"), (".gif", "gif")):
        path = save_grid(images, tmp_path / f"grid{suffix}", nrow=2)
        assert encode(grid(images, nrow=2), fmt) == path.read_bytes()
    assert encode(images, "gif", duration_ms=50) == save_gif(images, tmp_path / "m.gif", duration_ms=50).read_bytes()


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_encode_lossy_formats_keep_the_picture(fmt):
    image = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, axis=0).repeat(3, axis=2)  # smooth
    data = encode(image, fmt, quality=90)
    assert Image.open(io.BytesIO(data)).format == fmt.upper()
    assert np.abs(decode(data).astype(int) - image).max() <= 8
    assert len(encode(image, fmt, quality=10)) < len(data)  # the option reaches pillow


def test_encode_gif_frames():
    frames = faces(4, size=16)
    with Image.open(io.BytesIO(encode(frames, "gif", duration_ms=40))) as gif:
        assert gif.n_frames == 4 and gif.size == (16, 16)
        assert gif.info["duration"] == 40 and gif.info["loop"] == 0
    with Image.open(io.BytesIO(encode(frames[:1], "gif", duration_ms=40, loop=3))) as gif:
        assert gif.n_frames == 1 and gif.info["loop"] == 3


@pytest.mark.parametrize(("call", "message"), [
    (lambda: encode(faces(2), "png"), "one picture"),
    (lambda: encode(faces(1), "nonsense"), "image format"),
    (lambda: encode(faces(2), "bmp", duration_ms=40), "animation"),
    (lambda: encode(faces(2), "gif", duration_ms=0), "duration_ms"),
    (lambda: encode(faces(2).astype(np.float32), "gif", duration_ms=40), "frames"),
    (lambda: encode(faces(1)[0].astype(np.float32), "png"), "image"),
], ids=["many", "format", "still-format", "duration", "frames-dtype", "image-dtype"])
def test_encode_refusals_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_save_grid_roundtrip(tmp_path):
    images = faces(4)
    path = save_grid(images, tmp_path / "sub" / "grid.png", nrow=2)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), grid(images, nrow=2))
    assert sorted(p.name for p in path.parent.iterdir()) == ["grid.png"]  # no temporary left


def test_save_images_zero_padded(tmp_path):
    images = faces(3)
    paths = save_images(images, tmp_path / "out")
    assert [p.name for p in paths] == ["face-0000.png", "face-0001.png", "face-0002.png"]
    for path, image in zip(paths, images):
        np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]


def test_save_gif_frames(tmp_path):
    frames = faces(5, size=16)
    path = save_gif(frames, tmp_path / "morph.gif", duration_ms=50)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16)
        assert gif.info["duration"] == 50
    assert [p.name for p in tmp_path.iterdir()] == ["morph.gif"]


def test_to_pil_modes():
    assert to_pil(faces(1)[0]).mode == "RGB"
    assert to_pil(faces(1)).size == (8, 8)
    assert to_pil(faces(1, channels=1)[0]).mode == "L"


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((2, 3, 8, 8), np.uint8),
     np.zeros((0, 8, 8, 3), np.uint8), [[1, 2]]],
)
def test_rejects_non_images(tmp_path, bad):
    with pytest.raises(UsageError, match="images"):
        save_grid(bad, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("save", [lambda p: save_grid(faces(2), p), lambda p: save_gif(faces(2), p),
                                  lambda p: save_images(faces(2), p.parent / "faces", suffix=p.suffix)],
                         ids=["grid", "gif", "folder"])
def test_an_unknown_image_format_is_a_value_error_and_leaves_nothing(tmp_path, save):
    # README: "a picture path whose suffix names no image format" raises ValueError (a UsageError).
    with pytest.raises(UsageError, match="image format") as failure:
        save(tmp_path / "x.unknown-format")
    assert isinstance(failure.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_a_format_pillow_cannot_write_is_one_clear_error(tmp_path):
    from facegan.runtime.images import save_grid

    with pytest.raises(OSError) as failure:
        save_grid(np.zeros((1, 4, 4, 3), np.uint8), tmp_path / "a.xbm")
    assert str(failure.value).startswith(f"cannot write {tmp_path / 'a.xbm'}") and "None" not in str(failure.value)
    assert list(tmp_path.iterdir()) == []
