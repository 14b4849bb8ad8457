"""The built-in toy faces: shape, determinism per (seed, index), variety, face-like layout, speed,
unchanged pixels, and the attribute labels read from the drawing parameters."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from facegan.runtime.errors import UsageError
from facegan.train.toyfaces import (
    ATTRIBUTES,
    FaceParams,
    draw_face,
    draw_params,
    face_attributes,
    render_face,
    save_preview,
    toy_face_attributes,
    toy_faces,
)


def test_shape_and_dtype():
    for size in (32, 64):
        faces = toy_faces(3, size, seed=0)
        assert faces.shape == (3, size, size, 3)
        assert faces.dtype == np.uint8
    assert draw_face(np.random.default_rng(0), 48).shape == (48, 48, 3)


def test_deterministic_and_independent_of_count():
    a = toy_faces(12, 32, seed=5)
    np.testing.assert_array_equal(a, toy_faces(12, 32, seed=5))
    # Face i is the same whether 12 are drawn or only face i.
    np.testing.assert_array_equal(a[9], toy_faces(1, 32, seed=5, start=9)[0])
    np.testing.assert_array_equal(a[:4], toy_faces(4, 32, seed=5))
    np.testing.assert_array_equal(a[3], draw_face(np.random.default_rng([5, 3]), 32))
    assert not np.array_equal(a, toy_faces(12, 32, seed=6))


def test_varied():
    faces = toy_faces(40, 32, seed=0).astype(np.float32)
    flat = faces.reshape(len(faces), -1)
    # No two faces alike.
    dists = np.abs(flat[:, None] - flat[None]).mean(-1)
    assert dists[~np.eye(len(faces), dtype=bool)].min() > 5.0
    # Colours vary: the background corner and the cheek both change a lot across faces.
    assert faces[:, 1, 1].std(0).mean() > 30
    assert faces[:, 18, 10].std(0).mean() > 15


def test_face_like_layout():
    """Centred and nearly mirror-symmetric, with a skin-coloured centre and dark pupils near eye height."""
    faces = toy_faces(64, 64, seed=1).astype(np.float32)
    mirror_diff = np.abs(faces - faces[:, :, ::-1]).mean()
    cross_diff = np.abs(faces - np.roll(faces, 1, axis=0)).mean()
    assert mirror_diff < 0.5 * cross_diff
    # The face centre is reddish (skin: R >= G >= B) in nearly every face.
    centre = faces[:, 30:34, 30:34].mean((1, 2))
    assert ((centre[:, 0] >= centre[:, 1]) & (centre[:, 1] >= centre[:, 2])).mean() > 0.9
    # Pupils: every face has pixels far darker than its skin at eye height, left and right of centre.
    band = faces[:, 20:34].sum(-1)
    skin = centre.sum(-1)
    assert (band[:, :, 10:30].min((1, 2)) < 0.6 * skin).all()
    assert (band[:, :, 34:54].min((1, 2)) < 0.6 * skin).all()


def test_save_preview(tmp_path):
    path = save_preview(tmp_path / "grid.png", n=6, size=32)
    with Image.open(path) as im:
        assert im.size == (3 * 32, 2 * 32)


def test_fast_enough():
    # Aim is >1000 images/s at 64 px (measured ~2800 here); the bound leaves room for slow shared machines.
    toy_faces(5, 64)
    t = time.perf_counter()
    toy_faces(200, 64)
    assert 200 / (time.perf_counter() - t) > 200


# --- Pixels: the data set, tests/fixtures/v0.1 and tests/test_compat.py depend on them exactly ---

# sha256 of the raw uint8 bytes, recorded before FaceParams existed. Never update these to make a
# test pass: a change here changes every toy face, every cache key's meaning and the v0.1 fixtures.
PIXEL_HASHES = {
    (256, 32, 0, 0): "8a064e9cb751306c4aa8ca82eb7c1a02fbcd3a722e9b6b57ba163ed666189a16",
    (64, 64, 3, 100): "d9af46a24950272fda1d834ee62fe1bb477507aea558274c653d79f928c53f53",
}


@pytest.mark.parametrize(("n", "size", "seed", "start"), list(PIXEL_HASHES))
def test_pixels_unchanged(n, size, seed, start):
    faces = toy_faces(n, size, seed=seed, start=start)
    assert hashlib.sha256(faces.tobytes()).hexdigest() == PIXEL_HASHES[(n, size, seed, start)]


def test_draw_face_renders_its_params_and_consumes_the_same_draws():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(3):  # several faces from one generator: each must leave it where the next expects
        np.testing.assert_array_equal(draw_face(a, 24), render_face(draw_params(b), 24))
    assert a.bit_generator.state == b.bit_generator.state


# --- Attributes ---


def test_attribute_names():
    assert len(set(ATTRIBUTES)) == len(ATTRIBUTES)
    for name in ("Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Bald", "Bangs", "Black_Hair",
                 "Brown_Hair", "Blond_Hair", "Gray_Hair", "Pale_Skin", "Rosy_Cheeks"):  # fmt: skip
        assert name in ATTRIBUTES


def test_attributes_shape_and_independent_of_n_and_start():
    a = toy_face_attributes(50, seed=4)
    assert a.shape == (50, len(ATTRIBUTES)) and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a[20:30], toy_face_attributes(10, seed=4, start=20))
    np.testing.assert_array_equal(a[7], toy_face_attributes(1, seed=4, start=7)[0])
    np.testing.assert_array_equal(a[7], face_attributes(draw_params(np.random.default_rng([4, 7]))))
    assert not np.array_equal(a, toy_face_attributes(50, seed=5))


def test_attributes_draw_no_pixels(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("toy_face_attributes drew an image")

    monkeypatch.setattr(Image, "new", boom)
    monkeypatch.setattr(ImageDraw, "Draw", boom)
    toy_face_attributes(20, seed=0)


# Expected frequencies from the drawer's choices: 3 mouths, 6 hair styles, 6 hair colours (none
# counted when bald), 7 skin tones, glasses 15%, blush 30%.
EXPECTED_FREQUENCY = {
    "Smiling": 2 / 3,
    "Mouth_Slightly_Open": 1 / 3,
    "Eyeglasses": 0.15,
    "Bald": 1 / 6,
    "Bangs": 1 / 6,
    "Long_Hair": 1 / 6,
    "Afro": 1 / 6,
    "Side_Swept_Hair": 1 / 6,
    "Black_Hair": 5 / 36,
    "Brown_Hair": 10 / 36,
    "Blond_Hair": 5 / 36,
    "Auburn_Hair": 5 / 36,
    "Gray_Hair": 5 / 36,
    "Pale_Skin": 2 / 7,
    "Dark_Skin": 2 / 7,
    "Rosy_Cheeks": 0.3,
}


def test_attribute_frequencies_and_exclusions():
    a = toy_face_attributes(2000, seed=0).astype(bool)
    assert set(EXPECTED_FREQUENCY) == set(ATTRIBUTES)
    col = {name: a[:, i] for i, name in enumerate(ATTRIBUTES)}
    for name, p in EXPECTED_FREQUENCY.items():
        # 4 standard errors of a binomial proportion over 2,000 faces is at most 0.045.
        assert abs(col[name].mean() - p) < 4 * np.sqrt(p * (1 - p) / len(a)), name
    colours = np.stack([col[c] for c in ("Black_Hair", "Brown_Hair", "Blond_Hair", "Auburn_Hair", "Gray_Hair")])
    np.testing.assert_array_equal(colours.sum(0), ~col["Bald"])  # one hair colour, none when bald
    styles = np.stack([col[s] for s in ("Bald", "Bangs", "Long_Hair", "Afro", "Side_Swept_Hair")])
    assert styles.sum(0).max() == 1
    assert not (col["Mouth_Slightly_Open"] & ~col["Smiling"]).any()
    assert not (col["Pale_Skin"] & col["Dark_Skin"]).any()


def test_params_reject_unknown_choices():
    p = draw_params(np.random.default_rng(0))
    for change in ({"hair_style": "mohawk"}, {"hair_colour": "green"}, {"mouth": "frown"}, {"skin_tone": 7}):
        with pytest.raises(UsageError):
            dataclasses.replace(p, **change)


# --- Each attribute changes the region it names: flip one parameter, render again, compare ---

SIZE = 64
Region = tuple[float, float, float, float]  # y0, y1, x0, x1 in units of the image side


def _mask(regions: list[Region], size: int, margin_px: float = 1.5) -> np.ndarray:
    """Pixels overlapping any region grown by `margin_px` (antialiasing and line widths)."""
    edges = np.arange(size + 1) / size
    lo, hi = edges[:-1], edges[1:]
    m = margin_px / size
    mask = np.zeros((size, size), dtype=bool)
    for y0, y1, x0, x1 in regions:
        rows = (hi > y0 - m) & (lo < y1 + m)
        cols = (hi > x0 - m) & (lo < x1 + m)
        mask |= rows[:, None] & cols[None, :]
    return mask


def _eye_band(p: FaceParams) -> list[Region]:
    gr = p.eye_rx * 1.45  # the glasses' half width
    return [(p.eye_y - gr * 0.85, p.eye_y + gr * 0.85, p.cx - p.eye_dx - gr, p.cx + p.eye_dx + gr)]


def _mouth(p: FaceParams) -> list[Region]:
    return [(p.mouth_y - 0.09, p.mouth_y + 0.03, p.cx - p.mouth_rx, p.cx + p.mouth_rx)]


def _above_eyes(p: FaceParams) -> list[Region]:
    return [(0.0, p.eye_y, 0.0, 1.0)]


def _cheeks(p: FaceParams) -> list[Region]:
    y0, y1, dx = p.eye_y + 0.11 - 0.025, p.eye_y + 0.11 + 0.025, p.eye_dx * 1.15
    return [(y0, y1, p.cx + side * dx - 0.045, p.cx + side * dx + 0.045) for side in (-1, 1)]


def _head_and_neck(p: FaceParams) -> list[Region]:
    half = p.face_rx * 0.98 + 0.045  # out to the ears
    return [(p.cy - p.face_ry, 0.9, p.cx - half, p.cx + half)]  # the shirt covers the neck below 0.9


Flip = Callable[[FaceParams], "FaceParams | None"]
FLIPS: dict[str, tuple[Flip, Callable[[FaceParams], list[Region]], set[str]]] = {
    # name: (change one parameter or None where it does not apply, region, attributes allowed to change)
    "Eyeglasses": (lambda p: dataclasses.replace(p, glasses=not p.glasses), _eye_band, {"Eyeglasses"}),
    "Smiling": (
        lambda p: dataclasses.replace(p, mouth="smile line" if p.mouth == "neutral" else "neutral"),
        _mouth,
        {"Smiling", "Mouth_Slightly_Open"},
    ),
    "Mouth_Slightly_Open": (
        lambda p: dataclasses.replace(p, mouth="open smile" if p.mouth != "open smile" else "smile line"),
        _mouth,
        {"Smiling", "Mouth_Slightly_Open"},
    ),
    "Blond_Hair": (  # hair on top of the head and the brows, all above the eyes for these styles
        lambda p: None
        if p.hair_style not in ("short", "bangs", "side")
        else dataclasses.replace(p, hair_colour="blond" if p.hair_colour != "blond" else "black"),
        _above_eyes,
        {"Black_Hair", "Brown_Hair", "Blond_Hair", "Auburn_Hair", "Gray_Hair"},
    ),
    "Bald": (
        lambda p: None
        if p.hair_style not in ("short", "bald", "bangs", "side")
        else dataclasses.replace(p, hair_style="bald" if p.hair_style != "bald" else "short"),
        _above_eyes,
        {"Bald", "Bangs", "Side_Swept_Hair", "Black_Hair", "Brown_Hair", "Blond_Hair", "Auburn_Hair", "Gray_Hair"},
    ),
    "Rosy_Cheeks": (lambda p: dataclasses.replace(p, blush=not p.blush), _cheeks, {"Rosy_Cheeks"}),
    "Dark_Skin": (
        lambda p: dataclasses.replace(p, skin_tone=6 if p.skin_tone < 5 else 0),
        _head_and_neck,
        {"Pale_Skin", "Dark_Skin"},
    ),
}


@pytest.mark.parametrize("name", list(FLIPS))
def test_an_attribute_changes_only_its_region(name):
    flip, region, allowed = FLIPS[name]
    tried = 0
    for i in range(40):
        p = draw_params(np.random.default_rng([0, i]))
        q = flip(p)
        if q is None:
            continue
        tried += 1
        changed_attrs = {a for a, x, y in zip(ATTRIBUTES, face_attributes(p), face_attributes(q)) if x != y}
        assert name in changed_attrs and changed_attrs <= allowed, (i, changed_attrs)
        changed = (render_face(p, SIZE) != render_face(q, SIZE)).any(-1)
        inside = _mask(region(p), SIZE) & _mask(region(q), SIZE)
        assert changed.sum() >= 10, (i, "the flip barely shows")
        assert not (changed & ~inside).any(), (i, np.argwhere(changed & ~inside)[:5].tolist())
    assert tried >= 10
