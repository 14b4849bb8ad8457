"""The random choices behind one toy face, and the attribute labels read from them.

`draw_params(rng)` makes every random choice of a face (in the order the drawer always made them,
so the pixels of every face stay as they were) into a frozen `FaceParams`; `toyfaces.render_face`
draws it. Labels come from the parameters alone, without drawing a pixel, so a labelled set of
60k faces costs a second or two:

    labels = toy_face_attributes(1000, seed=0)   # (1000, len(ATTRIBUTES)) uint8 0/1
    labels[:, ATTRIBUTES.index("Smiling")]       # matches toy_faces(1000, 64, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegan.runtime.errors import UsageError

__all__ = [
    "ATTRIBUTES",
    "FACE_SHAPES",
    "FaceParams",
    "HAIR_COLOURS",
    "HAIR_COLOUR_NAMES",
    "HAIR_STYLES",
    "IRIS_COLOURS",
    "LIP_COLOURS",
    "MOUTHS",
    "SKIN_TONES",
    "draw_params",
    "face_attributes",
    "toy_face_attributes",
]

# Realistic skin tones (light to dark), jittered per face.
SKIN_TONES = np.array(
    [
        (255, 224, 196),
        (241, 194, 160),
        (224, 172, 130),
        (198, 134, 96),
        (160, 104, 72),
        (120, 76, 50),
        (88, 56, 38),
    ],
    dtype=np.float64,
)
HAIR_COLOUR_NAMES = ("black", "dark brown", "brown", "blond", "auburn", "grey")
HAIR_COLOURS = np.array(
    [
        (25, 20, 18),  # black
        (70, 45, 30),  # dark brown
        (120, 80, 45),  # brown
        (190, 150, 90),  # blond
        (150, 60, 30),  # auburn
        (140, 140, 140),  # grey
    ],
    dtype=np.float64,
)
IRIS_COLOURS = np.array([(60, 40, 25), (90, 60, 30), (50, 90, 140), (70, 110, 70), (40, 40, 40)], dtype=np.float64)
LIP_COLOURS = np.array([(190, 80, 80), (160, 70, 70), (200, 100, 110)], dtype=np.float64)
HAIR_STYLES = ("short", "long", "bald", "bangs", "afro", "side")
FACE_SHAPES = ("ellipse", "rounded square", "pointed chin")
MOUTHS = ("smile line", "open smile", "neutral")

# One label per column, 1 where the rule holds. CelebA's name wherever the meaning matches.
ATTRIBUTES = (
    "Smiling",  # mouth is a smile line or an open smile
    "Mouth_Slightly_Open",  # mouth is an open smile (teeth showing)
    "Eyeglasses",  # round glasses over both eyes
    "Bald",  # hair style bald (no hair on the head; brows stay, in the hair colour)
    "Bangs",  # hair style bangs (a fringe across the forehead)
    "Long_Hair",  # not CelebA: hair style long (hair behind the head down to the jaw)
    "Afro",  # not CelebA: hair style afro (a large round mass behind and over the head)
    "Side_Swept_Hair",  # not CelebA: hair style side (a sweep to one side over the forehead)
    "Black_Hair",  # hair colour black, not bald
    "Brown_Hair",  # hair colour dark brown or brown, not bald
    "Blond_Hair",  # hair colour blond, not bald
    "Auburn_Hair",  # not CelebA: hair colour auburn, not bald
    "Gray_Hair",  # hair colour grey, not bald
    "Pale_Skin",  # skin tone one of the two lightest of SKIN_TONES
    "Dark_Skin",  # not CelebA: skin tone one of the two darkest of SKIN_TONES
    "Rosy_Cheeks",  # blush on both cheeks
)

Vec3 = tuple[float, float, float]


def _vec3(a: np.ndarray) -> Vec3:
    # Python floats hold float64 exactly, so np.asarray(_vec3(a)) == a bit for bit.
    return (float(a[0]), float(a[1]), float(a[2]))


@dataclass(frozen=True)
class FaceParams:
    """Every random choice of one toy face. Geometry is in units of the image side."""

    background: Vec3  # RGB of the wall
    background2: Vec3  # RGB of the lower band
    skin_tone: int  # index into SKIN_TONES, 0 lightest .. 6 darkest
    skin_brightness: float  # multiplies the tone; keeps its hue
    skin_jitter: Vec3  # small per-channel offset added after the brightness
    hair_colour: str  # one of HAIR_COLOUR_NAMES
    hair_jitter: Vec3  # per-channel offset added to the hair colour
    iris: Vec3  # RGB of the irises
    shirt: Vec3  # RGB of the shirt
    lips: int  # index into LIP_COLOURS (mixed with the skin when drawn)
    cx: float  # head centre, x
    cy: float  # head centre, y
    face_rx: float  # half width of the face
    face_ry: float  # half height of the face
    face_shape: str  # one of FACE_SHAPES
    hair_style: str  # one of HAIR_STYLES
    eye_dx: float  # horizontal distance of each eye from the centre
    eye_y: float  # height of the eyes
    eye_rx: float  # half width of an eye
    eye_ry: float  # half height of an eye
    gaze: tuple[float, float]  # iris offset in eye radii, x and y, in -0.3 .. 0.3
    brow_lift: float  # brow height above the eye, in eye half heights
    brow_tilt: float  # brow tilt, inner end raised when > 0
    brow_w: float  # brow thickness
    nose_len: float  # length of the nose wedge
    mouth_y: float  # height of the mouth
    mouth_rx: float  # half width of the mouth
    mouth: str  # one of MOUTHS
    glasses: bool  # round glasses over both eyes
    blush: bool  # a rosy patch on each cheek
    floor_top: float  # where the lower background band starts

    def __post_init__(self) -> None:
        for field, value, choices in (
            ("hair_colour", self.hair_colour, HAIR_COLOUR_NAMES),
            ("face_shape", self.face_shape, FACE_SHAPES),
            ("hair_style", self.hair_style, HAIR_STYLES),
            ("mouth", self.mouth, MOUTHS),
        ):
            if value not in choices:
                raise UsageError(f"FaceParams.{field} must be one of {', '.join(choices)}; got {value!r}")
        for field, value, n in (("skin_tone", self.skin_tone, len(SKIN_TONES)), ("lips", self.lips, len(LIP_COLOURS))):
            if not 0 <= value < n:
                raise UsageError(f"FaceParams.{field} must be in 0..{n - 1}; got {value}")

    def skin_rgb(self) -> np.ndarray:
        return SKIN_TONES[self.skin_tone] * self.skin_brightness + np.asarray(self.skin_jitter)

    def hair_rgb(self) -> np.ndarray:
        return HAIR_COLOURS[HAIR_COLOUR_NAMES.index(self.hair_colour)] + np.asarray(self.hair_jitter)


def draw_params(rng: np.random.Generator) -> FaceParams:
    """Every random choice of one face, drawn from `rng` in the order the drawer has always used."""
    # The order of the calls below fixes every face's pixels: never reorder, only append.
    # Colours first, so adding a feature later does not reshuffle every other choice.
    background = rng.uniform(40, 230, 3)
    background2 = np.clip(background + rng.normal(0, 25, 3), 0, 255)
    skin_tone = int(rng.integers(len(SKIN_TONES)))
    skin_brightness = float(rng.uniform(0.92, 1.06))
    skin_jitter = _vec3(rng.normal(0.0, 3.0, 3))
    hair_colour = HAIR_COLOUR_NAMES[rng.integers(len(HAIR_COLOURS))]
    hair_jitter = _vec3(rng.normal(0.0, 10.0, 3))
    iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] + rng.normal(0.0, 10.0, 3)
    shirt = rng.uniform(20, 235, 3)
    lips = int(rng.integers(len(LIP_COLOURS)))
    # Geometry: centred head, small variations around a fixed layout.
    cx = 0.5 + rng.uniform(-0.015, 0.015)
    cy = 0.50 + rng.uniform(-0.015, 0.015)
    face_rx = rng.uniform(0.24, 0.31)
    face_ry = rng.uniform(0.31, 0.37)
    face_shape = FACE_SHAPES[rng.integers(len(FACE_SHAPES))]
    hair_style = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    eye_dx = face_rx * rng.uniform(0.36, 0.46)
    eye_y = cy - face_ry * rng.uniform(0.02, 0.14)
    eye_rx = face_rx * rng.uniform(0.18, 0.24)
    eye_ry = eye_rx * rng.uniform(0.6, 0.85)
    gaze = rng.uniform(-0.3, 0.3, 2)
    brow_lift = rng.uniform(0.9, 1.6)
    brow_tilt = rng.uniform(-0.02, 0.025)
    brow_w = rng.uniform(0.012, 0.024)
    nose_len = face_ry * rng.uniform(0.16, 0.28)
    mouth_y = cy + face_ry * rng.uniform(0.42, 0.55)
    mouth_rx = face_rx * rng.uniform(0.25, 0.45)
    mouth = MOUTHS[rng.integers(len(MOUTHS))]
    glasses = bool(rng.random() < 0.15)
    blush = bool(rng.random() < 0.3)
    floor_top = rng.uniform(0.6, 0.8)
    return FaceParams(
        background=_vec3(background),
        background2=_vec3(background2),
        skin_tone=skin_tone,
        skin_brightness=skin_brightness,
        skin_jitter=skin_jitter,
        hair_colour=hair_colour,
        hair_jitter=hair_jitter,
        iris=_vec3(iris),
        shirt=_vec3(shirt),
        lips=lips,
        cx=float(cx),
        cy=float(cy),
        face_rx=float(face_rx),
        face_ry=float(face_ry),
        face_shape=face_shape,
        hair_style=hair_style,
        eye_dx=float(eye_dx),
        eye_y=float(eye_y),
        eye_rx=float(eye_rx),
        eye_ry=float(eye_ry),
        gaze=(float(gaze[0]), float(gaze[1])),
        brow_lift=float(brow_lift),
        brow_tilt=float(brow_tilt),
        brow_w=float(brow_w),
        nose_len=float(nose_len),
        mouth_y=float(mouth_y),
        mouth_rx=float(mouth_rx),
        mouth=mouth,
        glasses=glasses,
        blush=blush,
        floor_top=float(floor_top),
    )


def face_attributes(params: FaceParams) -> np.ndarray:
    """The labels of one face: a (len(ATTRIBUTES),) uint8 0/1 vector, in the order of ATTRIBUTES."""
    p = params
    hair = p.hair_style != "bald"
    on = (
        p.mouth in ("smile line", "open smile"),
        p.mouth == "open smile",
        p.glasses,
        p.hair_style == "bald",
        p.hair_style == "bangs",
        p.hair_style == "long",
        p.hair_style == "afro",
        p.hair_style == "side",
        hair and p.hair_colour == "black",
        hair and p.hair_colour in ("dark brown", "brown"),
        hair and p.hair_colour == "blond",
        hair and p.hair_colour == "auburn",
        hair and p.hair_colour == "grey",
        p.skin_tone < 2,
        p.skin_tone >= len(SKIN_TONES) - 2,
        p.blush,
    )
    return np.array(on, dtype=np.uint8)


def toy_face_attributes(n: int, seed: int = 0, start: int = 0) -> np.ndarray:
    """Labels of faces `start .. start+n-1` of `seed`, row j matching toy_faces(n, size, seed, start)[j]."""
    out = np.empty((n, len(ATTRIBUTES)), dtype=np.uint8)
    for j in range(n):
        out[j] = face_attributes(draw_params(np.random.default_rng([seed, start + j])))
    return out
