"""FaceGenerator on tiny ONNX models: pixels, seeds, chunks, truncation, morphs, threads, refusals."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from runtime_models import toy_config, toy_metadata, toy_model, toy_reference

from facegan.runtime.errors import MetadataError
from facegan.runtime.generator import MAX_IMAGES, FaceGenerator
from facegan.runtime.images import to_uint8
from facegan.runtime.latents import NUMPY_RECIPE, PHILOX_RECIPE, latents


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {dtype: toy_model(d / f"toy-{dtype}.onnx", output_dtype=dtype) for dtype in ("float32", "uint8")}


@pytest.fixture(scope="module")
def gen(models):
    return FaceGenerator(models["float32"], device="cpu")


def expected_uint8(z: np.ndarray) -> np.ndarray:
    return np.transpose(to_uint8(toy_reference(z), (-1.0, 1.0)), (0, 2, 3, 1))


def assert_within_one_level(a: np.ndarray, b: np.ndarray) -> None:
    # Float rounding in MatMul can move a value across a .5 boundary: one level, rarely.
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def test_reads_shapes_from_metadata(gen):
    assert (gen.latent_dim, gen.image_size, gen.channels, gen.value_range) == (8, 8, 3, (-1.0, 1.0))
    assert gen.providers == ["CPUExecutionProvider"]
    assert "8x8" in repr(gen)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_generate_matches_numpy_reference(models, dtype):
    faces = FaceGenerator(models[dtype], device="cpu").generate(5, seed=3)
    assert faces.dtype == np.uint8 and faces.shape == (5, 8, 8, 3)
    assert_within_one_level(faces, expected_uint8(latents(3, 5, 8)))
    assert faces.min() < 30 and faces.max() > 225  # the toy model uses the whole range


def test_float_output_is_raw_nchw(models, gen):
    raw = gen.generate(4, seed=2, output="float")
    assert raw.dtype == np.float32 and raw.shape == (4, 3, 8, 8)
    np.testing.assert_allclose(raw, toy_reference(latents(2, 4, 8)), atol=1e-5)
    with pytest.raises(ValueError, match="output"):
        FaceGenerator(models["uint8"], device="cpu").generate(2, output="float")
    with pytest.raises(ValueError, match="output"):
        gen.generate(2, output="png")


def test_seeds_are_reproducible_and_distinct(models, gen):
    again = FaceGenerator(models["float32"], device="cpu")
    np.testing.assert_array_equal(gen.generate(3, seed=7), again.generate(3, seed=7))
    assert not np.array_equal(gen.generate(3, seed=7), gen.generate(3, seed=8))
    # The first faces of a larger batch are the faces of a smaller one with the same seed.
    np.testing.assert_array_equal(gen.generate(6, seed=7)[:3], gen.generate(3, seed=7))


def test_latents_follow_the_models_recipe(tmp_path, gen):
    assert gen.metadata.latents == PHILOX_RECIPE  # what build_metadata writes for new exports
    np.testing.assert_array_equal(gen.latents(3, seed=4), latents(4, 3, 8, recipe=PHILOX_RECIPE))
    np.testing.assert_array_equal(gen.latents(2, seed=4, start=1), gen.latents(3, seed=4)[1:])
    old = FaceGenerator(with_props(tmp_path, latents=NUMPY_RECIPE), device="cpu")
    assert old.metadata.latents == NUMPY_RECIPE
    # A model exported with facegan 0.1's recipe keeps its faces: numpy's latents, bit for bit.
    want = np.random.default_rng(4).standard_normal((3, 8), dtype=np.float32)
    np.testing.assert_array_equal(old.latents(3, seed=4), want)
    np.testing.assert_array_equal(old.generate(3, seed=4), gen.generate_from_latents(want))
    frames = old.interpolate(4, 5, steps=3, method="lerp", output="float")
    np.testing.assert_allclose(frames[-1], gen.generate_from_latents(latents(5, 1, 8, recipe=NUMPY_RECIPE), output="float")[0], atol=1e-6)
    assert not np.array_equal(old.generate(3, seed=4), gen.generate(3, seed=4))


def test_generate_and_generate_from_latents_agree(gen):
    z = gen.latents(6, seed=11)
    np.testing.assert_array_equal(z, latents(11, 6, 8))
    np.testing.assert_array_equal(gen.generate(6, seed=11), gen.generate_from_latents(z))
    np.testing.assert_array_equal(gen.generate_from_latents(z.astype(np.float64)), gen.generate_from_latents(z))


def test_chunks_bound_the_batch_and_agree(models):
    gen = FaceGenerator(models["float32"], device="cpu", batch_size=4)
    real_run, batches = gen.session.run, []

    class Recorder:
        def run(self, names, feeds):
            batches.append(len(feeds["z"]))
            return real_run(names, feeds)

    whole = gen.generate(10, seed=1, batch_size=64)
    gen.session = Recorder()
    chunked = gen.generate(10, seed=1)
    assert batches == [4, 4, 2]
    np.testing.assert_array_equal(chunked, whole)
    batches.clear()
    gen.generate(5, seed=1, batch_size=2)
    assert batches == [2, 2, 1]


def test_truncation(gen):
    z = gen.latents(4, seed=5)
    np.testing.assert_array_equal(gen.generate(4, seed=5, truncation=0.5), gen.generate_from_latents(z * 0.5))
    mean_faces = gen.generate(4, seed=5, truncation=0.0)
    assert (mean_faces == mean_faces[0]).all()  # every latent collapses onto the mean
    np.testing.assert_array_equal(gen.generate(4, seed=5, truncation=1.0), gen.generate_from_latents(z))


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolate_ends_on_the_seed_faces(gen, method):
    frames = gen.interpolate(3, 9, steps=6, method=method)
    assert frames.shape == (6, 8, 8, 3) and frames.dtype == np.uint8
    assert_within_one_level(frames[0], gen.generate(1, seed=3)[0])
    assert_within_one_level(frames[-1], gen.generate(1, seed=9)[0])
    assert len({f.tobytes() for f in frames}) == 6  # every frame moves


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolation_latents_are_what_interpolate_generates(gen, tmp_path, method):
    path = gen.interpolation_latents(3, 9, steps=6, method=method)
    assert path.dtype == np.float32 and path.shape == (6, gen.latent_dim)
    np.testing.assert_array_equal(path[[0, -1]], np.concatenate([gen.latents(1, 3), gen.latents(1, 9)]))
    frames = gen.interpolate(3, 9, steps=6, method=method, truncation=0.8)
    np.testing.assert_array_equal(frames, gen.generate_from_latents(path, truncation=0.8))
    np.testing.assert_array_equal(frames[4], gen.generate_from_latents(path[4:5], truncation=0.8)[0])  # one frame
    old = FaceGenerator(with_props(tmp_path, latents=NUMPY_RECIPE), device="cpu")  # drawn with the model's recipe
    ends = old.interpolation_latents(3, 9, 6, method)[[0, -1]]
    np.testing.assert_array_equal(ends, np.concatenate([latents(s, 1, 8, recipe=NUMPY_RECIPE) for s in (3, 9)]))


def test_slerp_and_lerp_differ_midway(gen):
    mid = 4  # of 9 frames, the middle one
    assert not np.array_equal(gen.interpolate(0, 1, 9)[mid], gen.interpolate(0, 1, 9, method="lerp")[mid])


def test_concurrent_calls_match_sequential(models):
    gen = FaceGenerator(models["uint8"], device="cpu", batch_size=5)
    seeds = list(range(12))
    sequential = [gen.generate(23, seed=s) for s in seeds]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(lambda s: gen.generate(23, seed=s), seeds * 2))
    for i, faces in enumerate(concurrent):
        np.testing.assert_array_equal(faces, sequential[i % len(seeds)])


BAD_CALLS = [
    ("n", lambda g: g.generate(0)),
    ("n", lambda g: g.generate(-3)),
    ("n", lambda g: g.generate(MAX_IMAGES + 1)),
    ("n", lambda g: g.generate(2.5)),
    ("n", lambda g: g.generate(True)),
    ("seed", lambda g: g.generate(2, seed=-1)),
    ("seed", lambda g: g.generate(2, seed=1.5)),
    ("seed", lambda g: g.generate(2, seed="7")),
    ("seed", lambda g: g.generate(2, seed=2**64)),
    ("start", lambda g: g.latents(2, seed=0, start=-1)),
    ("truncation", lambda g: g.generate(2, truncation=-0.1)),
    ("truncation", lambda g: g.generate(2, truncation=float("nan"))),
    ("truncation", lambda g: g.generate(2, truncation="0.7")),
    ("batch_size", lambda g: g.generate(2, batch_size=0)),
    ("z", lambda g: g.generate_from_latents(np.zeros((2, 9), np.float32))),
    ("z", lambda g: g.generate_from_latents(np.zeros((8,), np.float32))),
    ("z", lambda g: g.generate_from_latents(np.zeros((2, 8), np.int64))),
    ("z", lambda g: g.generate_from_latents([[0.0] * 8])),
    ("z", lambda g: g.generate_from_latents(np.full((2, 8), np.nan, np.float32))),
    ("z", lambda g: g.generate_from_latents(np.zeros((0, 8), np.float32))),
    ("z", lambda g: g.generate_from_latents(np.full((1, 8), 1e300))),  # finite float64, inf as float32
    ("truncation", lambda g: g.generate(2, truncation=10**400)),  # an int no float can hold
    ("truncation", lambda g: g.generate(2, truncation=1e39)),  # latents overflow float32
    ("seed_b", lambda g: g.interpolate(1, -2)),
    ("steps", lambda g: g.interpolate(1, 2, steps=1)),
    ("method", lambda g: g.interpolate(1, 2, method="cubic")),
    ("seed_a", lambda g: g.interpolation_latents(2**64, 2)),
    ("steps", lambda g: g.interpolation_latents(1, 2, steps=1)),
    ("method", lambda g: g.interpolation_latents(1, 2, method="cubic")),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)])
def test_bad_input_names_the_argument(gen, name, call):
    with pytest.raises(ValueError, match=name):
        call(gen)


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"device": "gpu"}, "device"), ({"batch_size": 0}, "batch_size"), ({"threads": -2}, "threads")]
)
def test_bad_constructor_arguments(models, kwargs, name):
    with pytest.raises(ValueError, match=name):
        FaceGenerator(models["float32"], **kwargs)


def with_props(tmp_path, **changes) -> str:
    """A toy float model whose facegan metadata is edited: None deletes a key."""
    meta = toy_metadata(toy_config())
    for key, value in changes.items():
        if value is None:
            meta.pop(f"facegan.{key}")
        else:
            meta[f"facegan.{key}"] = value
    return toy_model(tmp_path / "edited.onnx", metadata=meta)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": "3"}, "format version '3'; this facegan reads versions 1 and 2"),
        ({"format_version": "2"}, "missing facegan.attributes_input, facegan.attributes"),
        ({"attributes": "{}"}, "facegan.attributes in format version 1"),
        ({"latent_dim": "16"}, "shape"),
        ({"image_size": "16"}, "shape"),
        ({"output_name": "faces"}, "output"),
        ({"input_name": "latent"}, "input"),
        ({"output_dtype": "uint8", "output_layout": "NHWC"}, "tensor\\(float\\)"),
        ({"latent_dim": None}, "missing"),
        ({"value_range": "[1, -1]"}, "value_range"),
        ({"value_range": "[-Infinity, Infinity]"}, "value_range"),
        ({"latents": "torch.randn"}, "latents drawn as 'torch.randn'"),
        ({"weights": "banana"}, "weights"),
    ],
)
def test_refuses_metadata_that_disagrees(tmp_path, changes, message):
    with pytest.raises(MetadataError, match=message):
        FaceGenerator(with_props(tmp_path, **changes), device="cpu")


def test_refuses_model_without_metadata(tmp_path):
    path = toy_model(tmp_path / "plain.onnx", metadata=False)
    assert not onnx.load(str(path)).metadata_props
    with pytest.raises(MetadataError, match="no facegan metadata"):
        FaceGenerator(path, device="cpu")


def test_refuses_fixed_batch_axis(tmp_path):
    with pytest.raises(MetadataError, match="shape"):
        FaceGenerator(toy_model(tmp_path / "fixed.onnx", batch_dim=4), device="cpu")


def test_model_config_travels(gen):
    assert gen.metadata.model_config["latent_dim"] == 8
    assert json.loads(json.dumps(gen.metadata.model_config)) == gen.metadata.model_config
