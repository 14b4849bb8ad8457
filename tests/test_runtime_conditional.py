"""FaceGenerator with attributes (metadata version 2) and directions (edits), on toy ONNX models.

Also: the metadata contract of both (build, parse, refusals), and facegan 0.1's ONNX export still
giving its faces with this runtime (torch-free; tests/test_compat.py covers the rest with torch).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runtime_models import (
    TOY_ATTRIBUTES, conditional_model, conditional_reference, toy_config, toy_directions, toy_metadata, toy_model,
)

from facegan.runtime.attributes import AttributeSpace, attribute_vectors
from facegan.runtime.directions import Directions
from facegan.runtime.errors import MetadataError, UsageError
from facegan.runtime.generator import FaceGenerator
from facegan.runtime.latents import latents, lerp, truncate
from facegan.runtime.metadata import CONDITIONAL_FORMAT_VERSION, FORMAT_VERSIONS, parse_metadata

FIXTURES = Path(__file__).parent / "fixtures" / "v0.1"
SPACE = AttributeSpace.from_json(TOY_ATTRIBUTES, "test")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("conditional")
    return {
        "cond": conditional_model(d / "cond.onnx"),
        "cond-dirs": conditional_model(d / "cond-dirs.onnx", output_dtype="uint8", directions=toy_directions(8)),
        "plain-dirs": toy_model(d / "plain-dirs.onnx", directions=toy_directions(8)),
        "plain": toy_model(d / "plain.onnx"),
    }


@pytest.fixture(scope="module")
def cond(paths):
    return FaceGenerator(paths["cond"], device="cpu")


def test_metadata_version_2_round_trips():
    meta = toy_metadata({**toy_config(), "num_attributes": 5}, attributes=TOY_ATTRIBUTES)
    assert meta["facegan.format_version"] == str(CONDITIONAL_FORMAT_VERSION) == "2" and FORMAT_VERSIONS == (1, 2)
    assert meta["facegan.attributes_input"] == "attributes"
    assert meta["facegan.attributes"] == json.dumps(TOY_ATTRIBUTES, sort_keys=True)
    parsed = parse_metadata(meta, "m.onnx")
    assert parsed.format_version == 2 and parsed.conditional and parsed.attributes_input == "attributes"
    assert parsed.attributes.to_json() == TOY_ATTRIBUTES and parsed.directions is None
    plain = parse_metadata(toy_metadata(toy_config()))
    assert plain.format_version == 1 and plain.attributes is None and plain.attributes_input is None


def test_directions_do_not_bump_the_version():
    meta = toy_metadata(toy_config(), directions=toy_directions(8))
    assert meta["facegan.format_version"] == "1"
    parsed = parse_metadata(meta)
    assert isinstance(parsed.directions, Directions) and parsed.directions.names == ("Smiling", "Eyeglasses")
    assert parsed.directions.vectors.shape == (2, 8) and parsed.directions.vectors.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attributes": TOY_ATTRIBUTES}, "num_attributes=0 but the attributes name 5"),
        ({"config": {"num_attributes": 5}}, "num_attributes=5 but the attributes name 0"),
        ({"attributes": {**TOY_ATTRIBUTES, "rows": 0}, "config": {"num_attributes": 5}}, "rows"),
        ({"directions": toy_directions(7)}, "lists of 8"),
    ],
)
def test_build_metadata_refuses_what_a_runtime_could_not_read(kwargs, message):
    config = {**toy_config(), **kwargs.pop("config", {})}
    with pytest.raises(UsageError, match=message):
        toy_metadata(config, **kwargs)


def _v2(**changes) -> dict[str, str]:
    meta = toy_metadata({**toy_config(), "num_attributes": 5}, attributes=TOY_ATTRIBUTES)
    for key, value in changes.items():
        if value is None:
            meta.pop(f"facegan.{key}")
        else:
            meta[f"facegan.{key}"] = value
    return meta


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attributes": None}, "missing facegan.attributes"),
        ({"attributes_input": None}, "missing facegan.attributes_input"),
        ({"attributes": "{not json"}, "facegan.attributes is not JSON"),
        ({"attributes": json.dumps({**TOY_ATTRIBUTES, "names": ["A"] * 5})}, "repeat"),
        ({"attributes_input": "z"}, "attributes_input"),
        ({"directions": json.dumps(toy_directions(4))}, "facegan.directions: vectors must be 2 lists of 8"),
        ({"directions": "[1"}, "facegan.directions is not JSON"),
        ({"format_version": "3"}, "version '3'"),
    ],
)
def test_parse_refuses_malformed_conditional_metadata(changes, message):
    with pytest.raises(MetadataError, match=message) as info:
        parse_metadata(_v2(**changes), "m.onnx")
    assert "\n" not in str(info.value) and "m.onnx" in str(info.value)


def test_old_onnx_export_still_gives_its_faces():
    gen = FaceGenerator(FIXTURES / "generator.onnx", device="cpu")
    assert gen.metadata.format_version == 1 and gen.attributes == () and gen.directions == ()
    faces = np.stack([gen.generate(1, seed=s)[0] for s in range(8)])
    np.testing.assert_array_equal(faces, np.load(FIXTURES / "expected.npz")["faces"])


def test_names(paths, cond):
    assert cond.attributes == tuple(TOY_ATTRIBUTES["names"]) and cond.directions == ()
    assert FaceGenerator(paths["cond-dirs"], device="cpu").directions == ("Smiling", "Eyeglasses")
    assert FaceGenerator(paths["plain"], device="cpu").attributes == ()


def test_generate_feeds_the_drawn_attributes(cond):
    raw = cond.generate(6, seed=3, output="float")
    a = cond.attribute_vectors(6, seed=3)
    np.testing.assert_array_equal(a, attribute_vectors(SPACE, 6, 3))
    np.testing.assert_allclose(raw, conditional_reference(latents(3, 6, 8), a), atol=1e-5)
    np.testing.assert_array_equal(cond.generate(6, seed=3), cond.generate_from_latents(cond.latents(6, 3), attributes=a))
    np.testing.assert_array_equal(cond.attribute_vectors(2, seed=3, start=4), a[4:])


def test_requests_change_the_faces_and_only_the_asked_attributes(cond):
    a = cond.attribute_vectors(40, seed=1)
    pinned = cond.attribute_vectors(40, seed=1, attributes={"Eyeglasses": 1})
    assert (pinned[:, 1] == 1).all()
    faces = cond.generate(40, seed=1, attributes={"Eyeglasses": 1}, output="float")
    np.testing.assert_allclose(faces, conditional_reference(latents(1, 40, 8), pinned), atol=1e-5)
    assert not np.array_equal(pinned, a)
    half = cond.generate(2, seed=1, attributes={"Smiling": 0.5}, output="float")
    np.testing.assert_allclose(half, conditional_reference(latents(1, 2, 8), cond.attribute_vectors(2, 1, {"Smiling": 0.5})), atol=1e-5)


def test_chunks_carry_their_attributes(paths):
    gen = FaceGenerator(paths["cond"], device="cpu", batch_size=3)
    np.testing.assert_array_equal(gen.generate(7, seed=2), gen.generate(7, seed=2, batch_size=64))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g: g.generate_from_latents(np.zeros((2, 8), np.float32)), "attributes must be a numpy array of shape \\(2, 5\\)"),
        (lambda g: g.generate_from_latents(np.zeros((2, 8), np.float32), attributes=np.zeros((2, 4))), "shape \\(2, 5\\)"),
        (lambda g: g.generate_from_latents(np.zeros((2, 8), np.float32), attributes=np.full((2, 5), 1.5)), "\\[0, 1\\]"),
        (lambda g: g.generate_from_latents(np.zeros((1, 8), np.float32), attributes=np.full((1, 5), np.nan)), "\\[0, 1\\]"),
        (lambda g: g.generate(2, attributes={"Grinning": 1}), "unknown attribute 'Grinning'; this model has Smiling"),
        (lambda g: g.generate(2, attributes={"Smiling": 2}), "\\[0, 1\\]"),
        (lambda g: g.interpolate(1, 2, attributes={"Smiling": -1}), "\\[0, 1\\]"),
        (lambda g: g.edit(1, {"Smiling": 1}), "no directions; run facegan-directions"),
    ],
)
def test_conditional_usage_errors(cond, call, message):
    with pytest.raises(UsageError, match=message):
        call(cond)


def test_unconditional_models_refuse_attributes(paths):
    plain = FaceGenerator(paths["plain-dirs"], device="cpu")
    with pytest.raises(UsageError, match="unconditional .*use edit\\(\\)"):
        plain.generate(2, attributes={"Smiling": 1})
    with pytest.raises(UsageError, match="unconditional"):
        plain.generate_from_latents(np.zeros((1, 8), np.float32), attributes=np.zeros((1, 5)))
    with pytest.raises(UsageError, match="unconditional"):
        plain.interpolate(1, 2, steps=3, attributes={"Smiling": 1})
    with pytest.raises(UsageError, match="unconditional"):
        plain.attribute_vectors(2)
    np.testing.assert_array_equal(plain.generate(2, attributes={}), plain.generate(2))


@pytest.mark.parametrize("name", ["plain-dirs", "cond-dirs"])
def test_edit_moves_z_by_alpha_times_the_direction(paths, name):
    gen = FaceGenerator(paths[name], device="cpu")
    d = gen.metadata.directions.vectors
    z = truncate(gen.latents(3, seed=5), 0.7)
    given = {"attributes": gen.attribute_vectors(3, 5, {"Male": 1})} if gen.attributes else {}
    want = gen.generate_from_latents(z + 1.5 * d[0], **given)
    got = gen.edit(5, {"Smiling": 1.5}, n=3, truncation=0.7, attributes={"Male": 1} if gen.attributes else None)
    np.testing.assert_array_equal(got, want)
    both = gen.edit(5, {"Smiling": 1.0, "Eyeglasses": -2.0}, n=3, truncation=0.7,
                    attributes={"Male": 1} if gen.attributes else None)
    within = np.abs(both.astype(int) - gen.generate_from_latents(z + d[0] - 2 * d[1], **given).astype(int))
    assert within.max() <= 1
    np.testing.assert_array_equal(gen.edit(5, {}, n=3, truncation=0.7, **({"attributes": {"Male": 1}} if gen.attributes else {})),
                                  gen.generate_from_latents(z, **given))
    assert not np.array_equal(got, gen.generate_from_latents(z, **given))
    with pytest.raises(UsageError, match="unknown direction 'Bald'; this model has Smiling, Eyeglasses"):
        gen.edit(5, {"Bald": 1})
    with pytest.raises(UsageError, match="edits must be a mapping"):
        gen.edit(5, [("Smiling", 1)])


def test_interpolate_interpolates_the_attribute_rows(cond):
    path = cond.interpolation_latents(3, 9, steps=5)
    a = lerp(cond.attribute_vectors(1, 3, {"Smiling": 1})[0], cond.attribute_vectors(1, 9, {"Smiling": 1})[0], 5)
    frames = cond.interpolate(3, 9, steps=5, attributes={"Smiling": 1}, truncation=0.8)
    np.testing.assert_array_equal(frames, cond.generate_from_latents(path, attributes=a, truncation=0.8))
    np.testing.assert_array_equal(frames[0], cond.generate(1, seed=3, attributes={"Smiling": 1}, truncation=0.8)[0])
    np.testing.assert_array_equal(frames[-1], cond.generate(1, seed=9, attributes={"Smiling": 1}, truncation=0.8)[0])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # A graph with a second input its metadata does not declare (version 1).
        (lambda p: conditional_model(p, metadata=toy_metadata(toy_config())), "inputs \\['z'\\] but the graph takes"),
        (lambda p: conditional_model(p, attributes_name="labels"), "the graph takes \\['z', 'labels'\\]"),
        (lambda p: conditional_model(p, attributes_dim=4), "'attributes' has shape"),
        # Version 2 metadata on a graph with one input.
        (lambda p: toy_model(p, metadata=toy_metadata({**toy_config(), "num_attributes": 5}, attributes=TOY_ATTRIBUTES)),
         "inputs \\['z', 'attributes'\\]"),
    ],
)
def test_refuses_graphs_that_disagree_with_the_metadata(tmp_path, build, message):
    with pytest.raises(MetadataError, match=message):
        FaceGenerator(build(tmp_path / "m.onnx"), device="cpu")
