"""Known answers of the portable latent recipe: the file every port checks itself against.

`known_answers()` computes them with this runtime; web/known-answers.json holds them for the
JavaScript tests and for ports to C#, Java or Swift. tests/test_latents.py re-derives the file and
compares (FACEGAN_WRITE_KNOWN_ANSWERS=1 rewrites it), so the file and the runtime cannot drift:

    python -m facegan.runtime.known_answers web/known-answers.json   # (re)write the file
    python -m facegan.runtime.known_answers                          # print it

Layout: seeds and face indices are decimal strings (2^64 - 1 is no JSON number a JavaScript or
double-based parser keeps exact; read them with BigInt, ulong.Parse, Long.parseUnsignedLong);
uint32 words and float32 bit patterns are 8 lowercase hex digits; latents are also given as
9-significant-digit decimals, enough to identify a float32 (float32(parse(s)) is the pattern).
"attributes" holds the attribute draw of conditional models (runtime/attributes.py) on a small
synthetic prior: per case the drawn prior `index`, the `chosen` one after the requests, and the
float32 attributes row (`vector`, exact as JSON numbers); tests/test_runtime_attributes.py checks it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from .attributes import AttributeSpace, attribute_vectors, choose, drawn_indices
from .latents import PHILOX_RECIPE, latents
from .philox import philox4x32, philox_words

# Random123's kat_vectors for philox4x32_10: (counter, key, words), as published.
RANDOM123_VECTORS = (
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
)
SEEDS = (0, 1, 7, 42, 2**32 + 5, 2**53 - 1, 2**64 - 1)  # both key words, the largest safe JS Number, the top
FACES = (0, 1, 2**32 + 3)  # face 2^32 + 3 sets both counter words of the face index
LATENT_DIM = 100
NUM_WORDS = 8  # blocks 0 and 1 of a face
NUM_LATENTS = 8
TRUNCATIONS = ((7, 0, 0.7), (2**64 - 1, 2**32 + 3, 0.5))  # (seed, face, psi)
SPEC = 'README.md, section "Portable seeds"'
# A small synthetic attribute prior (runtime/attributes.py): Black_Hair and Blond_Hair never together.
ATTRIBUTE_PRIOR = {
    "names": ["Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair", "Male"],
    "vectors": ["00100", "10010", "10101", "00011", "01001", "11100"],
    "counts": [12, 10, 8, 6, 4, 2],
}
ATTRIBUTE_SEEDS = (0, 1, 7, 2**32 + 5, 2**64 - 1)
ATTRIBUTE_REQUESTS = (  # (seed, face, requests): pinned bits, a fractional value, an impossible pair
    (0, 0, {"Smiling": 1}),
    (1, 1, {"Black_Hair": 1}),  # a tie between prior vectors 0 and 2: the smaller index wins
    (2**64 - 1, 1, {"Eyeglasses": 0.6}),  # 0.6 >= 0.5 picks a vector with glasses; the row keeps 0.6
    (7, 2**32 + 3, {"Eyeglasses": 0.25}),
    (0, 1, {"Black_Hair": 1, "Blond_Hair": 1}),
    (1, 0, {"Male": 0, "Smiling": 0.75}),
)


def _hex(words: np.ndarray) -> list[str]:
    return [f"{int(w):08x}" for w in words]


def _floats(z: np.ndarray) -> dict[str, list[str]]:
    z = np.asarray(z, dtype=np.float32)
    return {"latents": [format(float(v), ".9g") for v in z], "latents_bits": _hex(z.view(np.uint32))}


def known_answers() -> dict:
    """The known-answer document (JSON-ready) for the recipe PHILOX_RECIPE."""
    philox = []
    for counter, key, words in RANDOM123_VECTORS:
        assert tuple(philox4x32(counter, key)) == words, "philox4x32 disagrees with Random123"
        philox.append({"counter": _hex(counter), "key": _hex(key), "words": _hex(words)})
    faces = []
    for seed in SEEDS:
        for face in FACES:
            words = philox_words(seed, np.array([face], dtype=np.uint64), NUM_WORDS // 4)[0]
            z = latents(seed, 1, LATENT_DIM, recipe=PHILOX_RECIPE, start=face)[0, :NUM_LATENTS]
            faces.append({"seed": str(seed), "face": str(face), "words": _hex(words), **_floats(z)})
    truncation = []
    for seed, face, psi in TRUNCATIONS:
        z = latents(seed, 1, LATENT_DIM, recipe=PHILOX_RECIPE, start=face)[0, :NUM_LATENTS]
        truncation.append({"seed": str(seed), "face": str(face), "psi": psi, **_floats(z * np.float32(psi))})
    return {
        "recipe": PHILOX_RECIPE,
        "spec": SPEC,
        "written_by": "python -m facegan.runtime.known_answers web/known-answers.json",
        "tolerance": {
            "words": "bit-exact",
            "latents": "within 1 float32 ulp (log, cos and sin are not correctly rounded everywhere)",
        },
        "philox4x32_10": philox,
        "latent_dim": LATENT_DIM,
        "faces": faces,
        "truncation": truncation,
        "attributes": attribute_answers(),
    }


def attribute_answers() -> dict:
    """Known answers of the attribute draw: `index` is the drawn prior index, `chosen` the one that
    supplies the non-requested attributes, `vector` the float32 attributes row (exact in JSON)."""
    p = ATTRIBUTE_PRIOR
    space = AttributeSpace.from_json(
        {"names": p["names"], "frequencies": [0.0] * len(p["names"]), "rows": sum(p["counts"]),
         "prior": {"vectors": p["vectors"], "counts": p["counts"]}}, "known answers")
    plain = [(seed, face, {}) for seed in ATTRIBUTE_SEEDS for face in FACES]
    cases = []
    for seed, face, requests in plain + list(ATTRIBUTE_REQUESTS):
        drawn = drawn_indices(space, 1, seed, face)
        chosen = choose(space, drawn, space.check_requests(requests))
        row = attribute_vectors(space, 1, seed, requests, start=face)[0]
        cases.append({"seed": str(seed), "face": str(face), "requests": requests, "index": int(drawn[0]),
                      "chosen": int(chosen[0]), "vector": [float(v) for v in row]})
    return {
        "spec": "runtime/attributes.py: Philox4x32-10 counter (0, i mod 2^32, i div 2^32, 1), key as the latents'",
        "prior": p,
        "cases": cases,
    }


def dumps(doc: dict) -> str:
    """`doc` as JSON with one line per list of scalars: readable, and diffs stay small."""
    text = json.dumps(doc, indent=2)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def write_known_answers(path: str | Path) -> Path:
    """Write the known-answer file to `path` and return it."""
    path = Path(path)
    path.write_text(dumps(known_answers()))
    return path


def main(argv: list[str] | None = None) -> None:
    # A developer's tool with one optional argument: sys.argv is enough, no CLI framework.
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(f"wrote {write_known_answers(args[0])}")
    else:
        sys.stdout.write(dumps(known_answers()))


__all__ = ["ATTRIBUTE_PRIOR", "RANDOM123_VECTORS", "attribute_answers", "known_answers", "write_known_answers"]

if __name__ == "__main__":
    main()
