"""The built-in toy faces: shape, determinism per (seed, index), variety, face-like layout, speed."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from facegan.train.toyfaces import draw_face, save_preview, toy_faces


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
