"""runtime/attributes.py and runtime/directions.py: the prior, the portable draw, requests, parsing, edits.

The draw is checked against web/known-answers.json and against a by-the-text derivation in plain
Python (written from ATTR.md, not from attributes.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from facegan.runtime.attributes import (
    COUNT_SCALE, PRIOR_LIMIT, AttributeSpace, attribute_vectors, drawn_indices, format_assignments,
    parse_assignments, summarize,
)
from facegan.runtime.directions import Directions, apply_edits
from facegan.runtime.errors import MetadataError, UsageError
from facegan.runtime.known_answers import attribute_answers
from test_latents import philox_by_the_text  # the reference written from the text, not from philox.py

KNOWN_ANSWERS = Path(__file__).resolve().parents[1] / "web" / "known-answers.json"
MASK = 0xFFFFFFFF
NAMES = ["Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair", "Male"]


def row_by_the_text(vectors: list[str], counts: list[int], names: list[str], seed: int, face: int, requests: dict):
    """(drawn index, attributes row) for one face, scalar Python straight from ATTR.md B."""
    x0 = philox_by_the_text((0, face & MASK, face >> 32, 1), (seed & MASK, seed >> 32))[0]
    t = math.floor(x0 * sum(counts) / 2**32)
    drawn = next(j for j in range(len(counts)) if sum(counts[: j + 1]) > t)
    v = vectors[drawn]
    req = {names.index(n): float(x) for n, x in requests.items()}
    rest = [j for j in range(len(names)) if j not in req]
    cands = [c for c in vectors if all((c[j] == "1") == (x >= 0.5) for j, x in req.items())]
    if cands:
        v = min(cands, key=lambda c: sum(c[j] != v[j] for j in rest))  # min keeps the first of ties
    return drawn, [req[j] if j in req else float(v[j]) for j in range(len(names))]


def space_of(vectors, counts, names=NAMES) -> AttributeSpace:
    obj = {"names": list(names), "frequencies": [0.5] * len(names), "rows": sum(counts),
           "prior": {"vectors": list(vectors), "counts": list(counts)}}
    return AttributeSpace.from_json(obj, "test")


def test_known_answers_file_matches_the_runtime_and_the_text():
    stored = json.loads(KNOWN_ANSWERS.read_text())["attributes"]
    assert stored == json.loads(json.dumps(attribute_answers()))
    prior = stored["prior"]
    space = space_of(prior["vectors"], prior["counts"], prior["names"])
    seeds = {int(c["seed"]) for c in stored["cases"]}
    faces = {int(c["face"]) for c in stored["cases"]}
    assert {0, 1, 2**64 - 1} <= seeds and faces == {0, 1, 2**32 + 3}
    assert len({c["index"] for c in stored["cases"]}) >= 4  # the draw reaches several vectors
    kinds = {"none": 0, "fraction": 0, "impossible": 0}
    for case in stored["cases"]:
        seed, face, requests = int(case["seed"]), int(case["face"]), case["requests"]
        drawn, row = row_by_the_text(prior["vectors"], prior["counts"], prior["names"], seed, face, requests)
        assert case["index"] == drawn == int(drawn_indices(space, 1, seed, face)[0]), case
        np.testing.assert_array_equal(np.array(case["vector"], np.float32), np.array(row, np.float32))
        np.testing.assert_array_equal(attribute_vectors(space, 1, seed, requests, start=face)[0], np.float32(row))
        kinds["none"] += not requests
        kinds["fraction"] += any(v not in (0, 1) for v in requests.values())
        kinds["impossible"] += requests == {"Black_Hair": 1, "Blond_Hair": 1}
    assert all(kinds.values()), kinds


def test_summarize_builds_the_prior():
    values = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [0, 1], [1, 0]], np.uint8)
    got = summarize(["A", "B"], values)
    assert got == {"names": ["A", "B"], "frequencies": [0.5, 0.333333], "rows": 6,
                   "prior": {"vectors": ["10", "01", "00"], "counts": [3, 2, 1]}}
    assert json.loads(json.dumps(got, sort_keys=True)) == got
    space = AttributeSpace.from_json(got, "m")
    assert space.names == ("A", "B") and space.vectors.dtype == np.uint8 and space.counts.dtype == np.int64
    assert space.to_json() == got


def test_summarize_ties_keep_vector_order_and_the_limit_holds():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2, (20_000, 14), dtype=np.uint8)  # ~16k distinct vectors
    got = summarize([f"a{j}" for j in range(14)], values)
    vectors, counts = got["prior"]["vectors"], got["prior"]["counts"]
    assert len(vectors) == PRIOR_LIMIT
    assert all((-a, va) < (-b, vb) for (a, va), (b, vb) in zip(zip(counts, vectors), zip(counts[1:], vectors[1:])))


def test_large_counts_are_scaled_below_2_21():
    rows = [800_000, 300_000, 1]  # 1_100_001 >= 2**20
    values = np.repeat(np.array([[1, 0], [0, 1], [1, 1]], np.uint8), rows, axis=0)
    got = summarize(["A", "B"], values)
    assert got["rows"] == sum(rows)
    assert got["prior"]["counts"] == [800_000 * 2**20 // sum(rows), 300_000 * 2**20 // sum(rows), 1]
    assert sum(got["prior"]["counts"]) < 2 * COUNT_SCALE


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        (["A"], np.zeros((0, 1), np.uint8), "no labelled rows"),
        (["A", "B"], np.zeros((3, 1), np.uint8), "shape"),
        (["A"], np.full((3, 1), 2, np.uint8), "0 or 1"),
        (["A", "A"], np.zeros((3, 2), np.uint8), "repeat"),
        (["A,B"], np.zeros((3, 1), np.uint8), "usable name"),
    ],
)
def test_summarize_refuses(names, values, message):
    with pytest.raises(UsageError, match=message):
        summarize(names, values)


PRIOR = (["00100", "10010", "10101", "00011", "01001", "11100"], [12, 10, 8, 6, 4, 2])


def test_draw_follows_the_counts_and_is_addressable():
    space = space_of(*PRIOR)
    rows = attribute_vectors(space, 42_000, seed=3)
    assert rows.dtype == np.float32 and rows.shape == (42_000, 5)
    idx = drawn_indices(space, 42_000, 3)
    share = np.bincount(idx, minlength=6) / len(idx)
    np.testing.assert_allclose(share, np.array(PRIOR[1]) / 42, atol=0.01)
    np.testing.assert_array_equal(attribute_vectors(space, 3, 3, start=100), rows[100:103])
    assert not np.array_equal(attribute_vectors(space, 50, 4), rows[:50])
    # Never a combination the prior lacks: no face with two hair colours.
    assert not ((rows[:, 2] == 1) & (rows[:, 3] == 1)).any()


def test_one_changed_attribute_keeps_the_others_the_prior_allows():
    # Eyeglasses is free: every vector exists with and without it, so toggling it changes nothing else.
    base = ["00100", "10010", "10101", "00011"]
    vectors = base + [v[0] + "1" + v[2:] for v in base]
    space = space_of(vectors, [8, 7, 6, 5, 4, 3, 2, 1])
    drawn = attribute_vectors(space, 500, seed=9)
    for value in (0, 1):
        pinned = attribute_vectors(space, 500, seed=9, requests={"Eyeglasses": value})
        assert (pinned[:, 1] == value).all()
        np.testing.assert_array_equal(np.delete(pinned, 1, axis=1), np.delete(drawn, 1, axis=1))


def test_exclusive_attributes_are_never_combined_by_the_draw():
    space = space_of(*PRIOR)
    for requests in ({"Black_Hair": 1}, {"Blond_Hair": 1}, {"Smiling": 1}, {"Male": 0.9}):
        rows = attribute_vectors(space, 400, seed=5, requests=requests)
        assert not ((rows[:, 2] >= 0.5) & (rows[:, 3] >= 0.5)).any(), requests
        name, value = next(iter(requests.items()))
        assert (rows[:, NAMES.index(name)] == np.float32(value)).all()
    # Asked for both anyway: no prior vector has both, so the drawn one is kept with both set.
    both = attribute_vectors(space, 50, seed=5, requests={"Black_Hair": 1, "Blond_Hair": True})
    plain = attribute_vectors(space, 50, seed=5)
    assert (both[:, 2:4] == 1).all()
    np.testing.assert_array_equal(both[:, [0, 1, 4]], plain[:, [0, 1, 4]])


def test_fractional_values_pass_through_and_pick_by_half():
    space = space_of(*PRIOR)
    low = attribute_vectors(space, 200, seed=1, requests={"Eyeglasses": 0.25})
    high = attribute_vectors(space, 200, seed=1, requests={"Eyeglasses": 0.75})
    assert (low[:, 1] == 0.25).all() and (high[:, 1] == 0.75).all()
    # 0.75 counts as "on": the other attributes come from a vector with glasses (01001 or 11100).
    assert {tuple(r) for r in high[:, [0, 2, 3, 4]].tolist()} <= {(0, 0, 0, 1), (1, 1, 0, 0)}


@pytest.mark.parametrize(
    ("requests", "message"),
    [({"Grinning": 1}, "unknown attribute 'Grinning'; this model has Smiling, Eyeglasses"),
     ({"Smiling": 1.5}, "Smiling must be a number in \\[0, 1\\]"), ({"Smiling": -0.1}, "\\[0, 1\\]"),
     ({"Smiling": math.nan}, "\\[0, 1\\]"), ({"Smiling": "1"}, "\\[0, 1\\]"), ([("Smiling", 1)], "mapping")],
)
def test_bad_requests(requests, message):
    with pytest.raises(UsageError, match=message):
        attribute_vectors(space_of(*PRIOR), 2, seed=0, requests=requests)


@pytest.mark.parametrize(("kwargs", "message"), [({"seed": -1}, "seed"), ({"start": 2**64}, "start"),
                                                 ({"n": -1}, "n must"), ({"start": 2**64 - 1, "n": 2}, "2\\*\\*64")])
def test_bad_draw_arguments(kwargs, message):
    args = {"n": 1, "seed": 0, **kwargs}
    with pytest.raises(UsageError, match=message):
        attribute_vectors(space_of(*PRIOR), **args)


def good_attributes(**changes) -> dict:
    obj = summarize(["A", "B"], np.array([[1, 0], [0, 1], [0, 0]], np.uint8))
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be an object"),
        (good_attributes(names=[]), "names"),
        (good_attributes(names=["A", "A"]), "repeat"),
        (good_attributes(frequencies=[0.5]), "frequencies"),
        (good_attributes(frequencies=[0.5, 1.5]), "frequencies"),
        (good_attributes(rows=0), "rows"),
        (good_attributes(prior={"vectors": ["10"], "counts": [1, 2]}), "equally long"),
        (good_attributes(prior={"vectors": ["1"], "counts": [1]}), "0/1"),
        (good_attributes(prior={"vectors": ["12"], "counts": [1]}), "0/1"),
        (good_attributes(prior={"vectors": ["10", "10"], "counts": [1, 1]}), "repeat"),
        (good_attributes(prior={"vectors": ["10"], "counts": [0]}), "positive"),
        (good_attributes(prior={"vectors": ["10"], "counts": [1.5]}), "positive"),
        (good_attributes(prior={"vectors": ["10"], "counts": [2**21]}), "below"),
    ],
)
def test_attribute_space_refuses_malformed_metadata(obj, message):
    with pytest.raises(MetadataError, match=message) as info:
        AttributeSpace.from_json(obj, "m.onnx")
    assert "m.onnx" in str(info.value) and "\n" not in str(info.value)


def test_parse_assignments():
    assert parse_assignments("Smiling=1,Eyeglasses=0", "--attr") == {"Smiling": 1.0, "Eyeglasses": 0.0}
    assert parse_assignments(["Smiling=1", "Eyeglasses=+1.5, Bald=-2"], "--edit") == {
        "Smiling": 1.0, "Eyeglasses": 1.5, "Bald": -2.0}
    assert parse_assignments("label=3=1", "attr") == {"label=3": 1.0}  # one-hot class names hold '='
    assert parse_assignments("", "attr") == {} and parse_assignments(None, "attr") == {}
    assert parse_assignments(["A=1", "A=1.0"], "attr") == {"A": 1.0}
    assert format_assignments({"b": 1.0, "a": 0.25, "c": -0.0}) == "a=0.25,b=1,c=0"
    assert parse_assignments(format_assignments({"x": 0.1, "y": 2}), "a") == {"x": 0.1, "y": 2.0}


@pytest.mark.parametrize("text", ["Smiling", "Smiling=", "=1", "Smiling=yes", "Smiling=nan", "Smiling=inf", "A=1,A=0"])
def test_parse_assignments_refuses(text):
    with pytest.raises(UsageError, match="--attr") as info:
        parse_assignments(text, "--attr")
    assert "\n" not in str(info.value)


def unit_directions(m=2, d=8, seed=0) -> dict:
    v = np.random.default_rng(seed).standard_normal((m, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return {"names": ["Smiling", "Eyeglasses"][:m], "vectors": v.tolist(), "accuracy": [0.9] * m,
            "boundary_accuracy": [0.95] * m, "samples": 1000, "method": "interfacegan"}


def test_directions_and_edits():
    obj = unit_directions()
    directions = Directions.from_json(obj, 8, "m")
    assert directions.names == ("Smiling", "Eyeglasses") and directions.vectors.dtype == np.float32
    z = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(apply_edits(z, directions, {"Smiling": 1.5}), z + 1.5 * directions.vectors[0])
    both = apply_edits(z, directions, {"Smiling": 1.0, "Eyeglasses": -2.0})
    np.testing.assert_allclose(both, z + directions.vectors[0] - 2 * directions.vectors[1], atol=1e-6)
    assert apply_edits(z, directions, {}) is z
    with pytest.raises(UsageError, match="unknown direction 'Bald'; this model has Smiling, Eyeglasses"):
        apply_edits(z, directions, {"Bald": 1})
    with pytest.raises(UsageError, match="finite"):
        apply_edits(z, directions, {"Smiling": math.inf})
    with pytest.raises(UsageError, match="facegan-directions"):
        apply_edits(z, None, {"Smiling": 1})


@pytest.mark.parametrize(
    ("change", "message"),
    [({"names": []}, "names"), ({"names": ["A", "A"]}, "repeat"), ({"vectors": [[1.0] * 8] * 2}, "unit length"),
     ({"vectors": [[0.0] * 7] * 2}, "2 lists of 8"), ({"accuracy": [0.9]}, "accuracy"),
     ({"samples": -1}, "samples"), ({"method": 3}, "method")],
)
def test_directions_refuse_malformed_metadata(change, message):
    with pytest.raises(MetadataError, match=message):
        Directions.from_json({**unit_directions(), **change}, 8, "m.onnx")
