"""The latent recipes: Philox4x32-10 + Box-Muller against Random123 and a by-the-text reference,
web/known-answers.json against the runtime, face i independent of n, seeds checked, metadata.

FACEGAN_WRITE_KNOWN_ANSWERS=1 rewrites web/known-answers.json from the runtime instead of failing.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from facegan.runtime.errors import MetadataError, UsageError
from facegan.runtime.known_answers import dumps, known_answers
from facegan.runtime.latents import (
    DEFAULT_RECIPE, LATENT_RECIPES, NUMPY_RECIPE, PHILOX_RECIPE, check_seed, latents, truncate,
)
from facegan.runtime.metadata import FORMAT_VERSION, build_metadata, parse_metadata
from facegan.runtime.philox import philox4x32, philox_words

KNOWN_ANSWERS = Path(__file__).resolve().parents[1] / "web" / "known-answers.json"
MASK = 0xFFFFFFFF


def philox_by_the_text(ctr: tuple, key: tuple) -> tuple:
    """Philox4x32-10 in plain Python integers, written from EMBED.md / README, not from philox.py."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def face_by_the_text(seed: int, face: int, dim: int) -> tuple[list[int], np.ndarray]:
    """Words and float32 latents of one face, scalar Python with the math module's libm."""
    words, normals = [], []
    for block in range(-(-dim // 4)):
        x = philox_by_the_text((block, face & MASK, face >> 32, 0), (seed & MASK, seed >> 32))
        words += x
        u = [(w + 0.5) * 2.0**-32 for w in x]
        for a, b in ((u[0], u[1]), (u[2], u[3])):
            r, t = math.sqrt(-2.0 * math.log(a)), 6.283185307179586 * b
            normals += [r * math.cos(t), r * math.sin(t)]
    return words, np.array(normals[:dim], dtype=np.float32)


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (adjacent floats are 1 apart, across 0 too)."""
    def ordered(x):
        i = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)

    return np.abs(ordered(a) - ordered(b))


# Random123 kat_vectors, copied here by hand so the test does not trust the module's own copy.
@pytest.mark.parametrize(
    ("ctr", "key", "want"),
    [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((MASK,) * 4, (MASK,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ],
)
def test_philox_matches_random123(ctr, key, want):
    assert tuple(int(w) for w in philox4x32(ctr, key)) == want
    assert philox_by_the_text(ctr, key) == want
    assert philox4x32(ctr, key).dtype == np.uint32


@pytest.mark.parametrize("seed", [0, 3, 2**32 - 1, 2**32 + 5, 2**64 - 1])
@pytest.mark.parametrize("face", [0, 5, 2**32 - 1, 2**32 + 3, 2**64 - 1])
def test_vectorised_recipe_matches_the_text(seed, face):
    dim = 10  # not a multiple of 4: the last block's extra normals are dropped
    words, want = face_by_the_text(seed, face, dim)
    assert philox_words(seed, np.array([face], np.uint64), 3)[0].tolist() == words
    got = latents(seed, 1, dim, start=face)[0]
    # Within 1 ulp, not equal: numpy's SIMD log/cos/sin and libm's may differ by a float64 ulp,
    # which can move a value across a float32 rounding boundary (the cross-language tolerance too).
    assert ulps(got, want).max() <= 1, (got, want)


def test_known_answers_file_matches_the_runtime():
    derived = known_answers()
    if os.environ.get("FACEGAN_WRITE_KNOWN_ANSWERS") == "1":
        KNOWN_ANSWERS.write_text(dumps(derived))
    stored = json.loads(KNOWN_ANSWERS.read_text())
    assert stored["recipe"] == PHILOX_RECIPE and "Portable seeds" in stored["spec"]
    assert stored["philox4x32_10"] == derived["philox4x32_10"]
    assert stored["latent_dim"] == 100
    for key in ("faces", "truncation"):
        assert [(e["seed"], e["face"]) for e in stored[key]] == [(e["seed"], e["face"]) for e in derived[key]]
        for have, want in zip(stored[key], derived[key]):
            assert have.get("words") == want.get("words"), have  # the integer stream: bit-exact
            bits = np.array([int(h, 16) for h in have["latents_bits"]], np.uint32).view(np.float32)
            mine = np.array([int(h, 16) for h in want["latents_bits"]], np.uint32).view(np.float32)
            # Latents within 1 ulp: this CPU's numpy log/cos may round a float64 ulp differently
            # from the one that wrote the file, which can flip the float32 rounding.
            assert ulps(bits, mine).max() <= 1, have
            # The decimals name the same float32s as the bit patterns.
            np.testing.assert_array_equal(np.array([float(s) for s in have["latents"]], np.float32), bits)
    seeds = {int(e["seed"]) for e in stored["faces"]}
    assert seeds == {0, 1, 7, 42, 2**32 + 5, 2**53 - 1, 2**64 - 1}
    assert {int(e["face"]) for e in stored["faces"]} == {0, 1, 2**32 + 3}
    assert all(isinstance(e["seed"], str) and isinstance(e["face"], str) for e in stored["faces"])


def test_known_answers_agree_with_an_independent_derivation():
    for entry in json.loads(KNOWN_ANSWERS.read_text())["faces"]:
        words, z = face_by_the_text(int(entry["seed"]), int(entry["face"]), 8)
        assert [f"{w:08x}" for w in words] == entry["words"]
        stored = np.array([int(h, 16) for h in entry["latents_bits"]], np.uint32).view(np.float32)
        assert ulps(stored, z).max() <= 1


def test_truncation_known_answers_are_float32_products():
    for entry in json.loads(KNOWN_ANSWERS.read_text())["truncation"]:
        z = latents(int(entry["seed"]), 1, 100, start=int(entry["face"]))[:, :8]
        stored = np.array([int(h, 16) for h in entry["latents_bits"]], np.uint32).view(np.float32)
        assert ulps(truncate(z, entry["psi"])[0], stored).max() <= 1


@pytest.mark.parametrize("recipe", LATENT_RECIPES)
def test_face_i_does_not_depend_on_n(recipe):
    many = latents(42, 9, 13, recipe=recipe)
    assert many.dtype == np.float32 and many.shape == (9, 13)
    np.testing.assert_array_equal(latents(42, 4, 13, recipe=recipe), many[:4])
    for i in (0, 3, 8):
        np.testing.assert_array_equal(latents(42, 1, 13, recipe=recipe, start=i)[0], many[i])
    np.testing.assert_array_equal(latents(42, 5, 13, recipe=recipe, start=4), many[4:])
    assert latents(42, 0, 13, recipe=recipe).shape == (0, 13)
    assert not np.array_equal(latents(43, 1, 13, recipe=recipe), many[:1])


def test_latents_do_not_depend_on_the_chunking():
    # Many faces run in several chunks of Philox blocks; each row is still its face alone.
    many = latents(5, 3000, 100)
    for i in (0, 1310, 1311, 2999):
        np.testing.assert_array_equal(latents(5, 1, 100, start=i)[0], many[i])


def test_the_numpy_recipe_is_facegan_0_1s():
    want = np.random.default_rng(7).standard_normal((5, 16), dtype=np.float32)
    np.testing.assert_array_equal(latents(7, 5, 16, recipe=NUMPY_RECIPE), want)
    # Its skip to `start` runs in chunks and lands where one big draw would.
    big = np.random.default_rng(7).standard_normal((9000, 3), dtype=np.float32)
    np.testing.assert_array_equal(latents(7, 2, 3, recipe=NUMPY_RECIPE, start=8997), big[8997:8999])
    with pytest.raises(UsageError, match="start must be at most"):
        latents(7, 1, 3, recipe=NUMPY_RECIPE, start=10**7 + 1)


def test_philox_is_the_default_and_looks_normal():
    assert DEFAULT_RECIPE == PHILOX_RECIPE == "philox4x32-10 box-muller float32"
    z = latents(0, 10_000, 100).astype(np.float64)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs((np.abs(z) > 1.96).mean() - 0.05) < 0.002
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.05  # the two normals of a Box-Muller pair


def test_100k_faces_take_well_under_a_second():
    latents(0, 1000, 100)
    t0 = time.perf_counter()
    latents(1, 100_000, 100)
    # ~0.3 s measured on one core; the bound only catches a fall back to per-face Python.
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize("seed", [-1, 2**64, True, 1.0, 1.5, "7", None])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(UsageError, match="seed"):
        latents(seed, 1, 8)
    with pytest.raises(UsageError, match="seed"):
        check_seed(seed)


def test_seeds_up_to_2_64_and_numpy_integers_are_fine():
    assert latents(2**64 - 1, 1, 8).shape == (1, 8)
    np.testing.assert_array_equal(latents(np.uint64(7), 2, 8), latents(7, 2, 8))
    np.testing.assert_array_equal(latents(2**64 - 1, 1, 8, recipe=NUMPY_RECIPE),
                                  np.random.default_rng(2**64 - 1).standard_normal((1, 8), dtype=np.float32))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": -1}, "n"), ({"n": 1.0}, "n"), ({"dim": 0}, "dim"), ({"start": -1}, "start"),
        ({"start": 2**64 - 1, "n": 2}, "below 2\\*\\*64"), ({"recipe": "torch.randn"}, "recipe"),
    ],
)
def test_bad_arguments_are_refused(kwargs, name):
    args = {"seed": 0, "n": 1, "dim": 8, **kwargs}
    with pytest.raises(UsageError, match=name):
        latents(args.pop("seed"), args.pop("n"), args.pop("dim"), **args)


def _metadata(**changes) -> dict[str, str]:
    config = {"latent_dim": 8, "image_size": 8, "channels": 3, "value_range": [-1.0, 1.0]}
    meta = build_metadata(model_config=config, preset="test", weights="raw", train_step=1, train_epoch=1,
                          checkpoint_sha256="0" * 64, output_dtype="float32", dtype="fp32",
                          versions={"torch": "test", "facegan": "test"})
    meta.update({f"facegan.{k}": v for k, v in changes.items()})
    return meta


def test_metadata_records_and_reads_the_recipe():
    meta = _metadata()
    assert meta["facegan.latents"] == PHILOX_RECIPE and meta["facegan.format_version"] == str(FORMAT_VERSION) == "1"
    assert parse_metadata(meta).latents == PHILOX_RECIPE
    assert parse_metadata(_metadata(latents=NUMPY_RECIPE)).latents == NUMPY_RECIPE
    with pytest.raises(MetadataError, match="expects latents drawn as 'torch.randn'") as info:
        parse_metadata(_metadata(latents="torch.randn"), source="m.onnx")
    assert "\n" not in str(info.value) and "m.onnx" in str(info.value)
