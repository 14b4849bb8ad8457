"""Procedurally drawn cartoon faces: the built-in data set for the quickstart and the tests.

Each face is drawn with PIL ImageDraw at a few times the target resolution and box-downsampled, so
edges are antialiased. The layout is centred and fairly uniform (a small GAN learns it within
minutes on a CPU) while face shape, skin tone, eyes, brows, nose, mouth, hair, clothes and background
vary. Face `i` of seed `s` is drawn from its own generator `np.random.default_rng([s, i])`, so it
never depends on how many faces are drawn or in which order. The random choices are made first,
into a `FaceParams` (toyface_params.py), then drawn by `render_face`; the same parameters give the
attribute labels without drawing anything.

    faces = toy_faces(1000, 64, seed=0)          # (1000, 64, 64, 3) uint8
    labels = toy_face_attributes(1000, seed=0)   # (1000, len(ATTRIBUTES)) uint8 0/1, same faces
    save_preview("toy-faces.png", n=64)          # an 8x8 grid to look at
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .toyface_params import (
    ATTRIBUTES,
    HAIR_COLOURS,
    HAIR_STYLES,
    IRIS_COLOURS,
    LIP_COLOURS,
    SKIN_TONES,
    FaceParams,
    draw_params,
    face_attributes,
    toy_face_attributes,
)

__all__ = [
    "ATTRIBUTES",
    "HAIR_COLOURS",
    "HAIR_STYLES",
    "IRIS_COLOURS",
    "SKIN_TONES",
    "FaceParams",
    "draw_face",
    "draw_params",
    "face_attributes",
    "render_face",
    "save_preview",
    "toy_face_attributes",
    "toy_faces",
]


def _supersampling(size: int) -> int:
    """Drawing scale: 4x for small images, fewer for large ones, to keep drawing fast."""
    return max(2, min(4, 256 // size))


def _colour(rgb: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(np.rint(rgb), 0, 255).astype(int)
    return (int(c[0]), int(c[1]), int(c[2]))


def render_face(params: FaceParams, size: int) -> np.ndarray:
    """Draw `params` as a (size, size, 3) uint8 RGB array; no randomness here."""
    p = params
    ss = _supersampling(size)
    s = size * ss  # canvas side in pixels; all geometry below is in units of the canvas side

    def box(cx: float, cy: float, rx: float, ry: float) -> tuple[float, float, float, float]:
        return ((cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s)

    background, background2 = np.asarray(p.background), np.asarray(p.background2)
    skin = p.skin_rgb()
    skin_shadow = skin * 0.82
    hair = p.hair_rgb()
    iris = np.asarray(p.iris)
    shirt = np.asarray(p.shirt)
    lips = 0.6 * LIP_COLOURS[p.lips] + 0.4 * skin * np.array([1.0, 0.7, 0.7])
    # Local names keep the drawing below readable (and identical to the drawer before FaceParams).
    cx, cy, face_rx, face_ry = p.cx, p.cy, p.face_rx, p.face_ry
    hair_style = p.hair_style
    eye_dx, eye_y, eye_rx, eye_ry = p.eye_dx, p.eye_y, p.eye_rx, p.eye_ry
    gaze, brow_lift, brow_tilt, brow_w = p.gaze, p.brow_lift, p.brow_tilt, p.brow_w
    mouth_y, mouth_rx, glasses, blush = p.mouth_y, p.mouth_rx, p.glasses, p.blush

    img = Image.new("RGB", (s, s), _colour(background))
    d = ImageDraw.Draw(img)
    # A two-tone background (a wall and a floor-ish band) gives the model a little more to learn.
    d.rectangle((0, s * p.floor_top, s, s), fill=_colour(background2))

    # Hair behind the head (long hair, afro).
    if hair_style == "long":
        d.rounded_rectangle(
            box(cx, cy + 0.08, face_rx * 1.22, face_ry * 1.12), radius=int(face_rx * s), fill=_colour(hair)
        )
    elif hair_style == "afro":
        d.ellipse(box(cx, cy - 0.08, face_rx * 1.45, face_ry * 1.15), fill=_colour(hair))

    # Neck and shoulders.
    d.rectangle(box(cx, cy + face_ry + 0.05, face_rx * 0.42, 0.1), fill=_colour(skin_shadow))
    d.ellipse(box(cx, 1.08, 0.46, 0.2), fill=_colour(shirt))

    # Ears, then the face over them.
    for side in (-1, 1):
        d.ellipse(box(cx + side * face_rx * 0.98, eye_y + 0.03, 0.045, 0.07), fill=_colour(skin_shadow))
    if p.face_shape == "ellipse":
        d.ellipse(box(cx, cy, face_rx, face_ry), fill=_colour(skin))
    elif p.face_shape == "rounded square":
        d.rounded_rectangle(box(cx, cy, face_rx, face_ry), radius=int(face_rx * s * 0.8), fill=_colour(skin))
    else:
        d.ellipse(box(cx, cy - face_ry * 0.1, face_rx, face_ry * 0.9), fill=_colour(skin))
        d.polygon(
            [
                ((cx - face_rx * 0.93) * s, (cy + face_ry * 0.1) * s),
                ((cx + face_rx * 0.93) * s, (cy + face_ry * 0.1) * s),
                (cx * s, (cy + face_ry) * s),
            ],
            fill=_colour(skin),
        )

    # Hair on top of the head.
    top = cy - face_ry
    if hair_style in ("short", "long", "bangs", "side"):
        d.chord(box(cx, cy - face_ry * 0.25, face_rx * 1.06, face_ry * 0.85), 180, 360, fill=_colour(hair))
    if hair_style == "bangs":
        d.rectangle(
            (
                (cx - face_rx * 0.9) * s,
                (top + face_ry * 0.4) * s,
                (cx + face_rx * 0.9) * s,
                (top + face_ry * 0.62) * s,
            ),
            fill=_colour(hair),
        )
    elif hair_style == "side":
        sweep = box(cx - face_rx * 0.3, top + face_ry * 0.5, face_rx * 0.85, face_ry * 0.35)
        d.pieslice(sweep, 180, 360, fill=_colour(hair))
    elif hair_style == "afro":
        d.chord(box(cx, cy - face_ry * 0.3, face_rx * 1.05, face_ry * 0.8), 180, 360, fill=_colour(hair))

    # Eyes: white, iris, pupil, a highlight.
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse(box(ex, eye_y, eye_rx, eye_ry), fill=(245, 245, 240))
        ix, iy = ex + gaze[0] * eye_rx * 0.4, eye_y + gaze[1] * eye_ry * 0.3
        ir = eye_ry * 0.85
        d.ellipse(box(ix, iy, ir, ir), fill=_colour(iris))
        d.ellipse(box(ix, iy, ir * 0.55, ir * 0.55), fill=(15, 12, 10))
        d.ellipse(box(ix - ir * 0.3, iy - ir * 0.3, ir * 0.2, ir * 0.2), fill=(255, 255, 255))
        # Brows: a thick line above each eye, tilted symmetrically.
        by = eye_y - eye_ry * brow_lift - 0.02
        inner, outer = ex - side * eye_rx * 1.1, ex + side * eye_rx * 1.1
        d.line(
            ((inner * s, (by + brow_tilt) * s), (outer * s, (by - brow_tilt) * s)),
            fill=_colour(hair * 0.8),
            width=max(1, int(brow_w * s)),
        )
        if glasses:
            gr = eye_rx * 1.45
            d.ellipse(box(ex, eye_y, gr, gr * 0.85), outline=(30, 30, 30), width=max(1, int(0.012 * s)))
        if blush:
            cheek = box(cx + side * eye_dx * 1.15, eye_y + 0.11, 0.045, 0.025)
            d.ellipse(cheek, fill=_colour(skin * 0.9 + lips * 0.1))
    if glasses:
        d.line(
            (((cx - eye_dx + eye_rx * 1.45) * s, eye_y * s), ((cx + eye_dx - eye_rx * 1.45) * s, eye_y * s)),
            fill=(30, 30, 30),
            width=max(1, int(0.012 * s)),
        )

    # Nose: a soft shadow wedge.
    ny = eye_y + eye_ry + 0.02
    d.polygon(
        [(cx * s, ny * s), ((cx - 0.035) * s, (ny + p.nose_len) * s), ((cx + 0.03) * s, (ny + p.nose_len) * s)],
        fill=_colour(skin_shadow),
    )

    # Mouth.
    mw = max(1, int(0.018 * s))
    if p.mouth == "smile line":
        d.arc(box(cx, mouth_y - 0.04, mouth_rx, 0.05), 20, 160, fill=_colour(lips * 0.7), width=mw)
    elif p.mouth == "open smile":
        d.chord(box(cx, mouth_y - 0.02, mouth_rx, 0.05), 0, 180, fill=(120, 30, 35))
        d.chord(box(cx, mouth_y - 0.02, mouth_rx * 0.85, 0.025), 0, 180, fill=(250, 250, 245))
    else:
        d.line(
            (((cx - mouth_rx * 0.8) * s, mouth_y * s), ((cx + mouth_rx * 0.8) * s, mouth_y * s)),
            fill=_colour(lips * 0.8),
            width=mw,
        )

    return np.asarray(img.reduce(ss), dtype=np.uint8)


def draw_face(rng: np.random.Generator, size: int) -> np.ndarray:
    """One cartoon face as a (size, size, 3) uint8 RGB array, every choice drawn from `rng`."""
    return render_face(draw_params(rng), size)


def toy_faces(n: int, size: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """Faces `start .. start+n-1` of `seed` as an (n, size, size, 3) uint8 array."""
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for j in range(n):
        out[j] = draw_face(np.random.default_rng([seed, start + j]), size)
    return out


def save_preview(path: str | Path, n: int = 64, size: int = 64, seed: int = 0) -> Path:
    """Save a square-ish grid of the first `n` faces as a PNG, to look at them."""
    faces = toy_faces(n, size, seed)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * size, cols * size, 3), 255, dtype=np.uint8)
    for i, face in enumerate(faces):
        r, c = divmod(i, cols)
        grid[r * size : (r + 1) * size, c * size : (c + 1) * size] = face
    path = Path(path)
    Image.fromarray(grid).save(path)
    return path
