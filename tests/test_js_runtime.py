"""The JavaScript runtime (web/facegan.js) under Node draws the Python runtime's faces.

A module fixture exports a tiny checkpoint as float and uint8 ONNX models (with edit directions), a
tiny conditional checkpoint likewise (attributes and directions), copies facegan 0.1's numpy-recipe
model beside them, and writes what Python's FaceGenerator draws from them. Node's own test runner
then runs web/test/ with FACEGAN_JS_FIXTURES naming that folder (web/test/runtime.test.mjs reads it).
Needs `node` and web/node_modules (`npm ci --prefix web`); skipped without them.

Fixture folder: index.json plus raw little-endian .bin files (numpy's .npy is awkward in JS):
    {"models": {name: file}, "metadata": {name: {key: value}},
     "cases": [{"name", "model", "call": "generate" | "interpolate" | "edit" | "generateFromLatents",
                "args": {...}, "pixels": file, "shape": [n, H, W, 3]} ...],
     "conversions": [{"model", "raw": file (float32 NCHW), "count", "pixels": file}],
     "attribute_rows": [{"model", "n", "seed", "start", "requests", "rows": file (float32 (n, k))}],
     "metadata_cases": [{"name", "props": {key: value}, "accepted": bool (by Python's parse_metadata)}]}
Seeds are decimal strings (2**64 - 1 does not fit a JavaScript Number); pixels are uint8 NHWC RGB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import TEST_ATTRIBUTES, write_checkpoint  # noqa: E402
from facegan.export import export_onnx  # noqa: E402
from facegan.runtime import NUMPY_RECIPE, PHILOX_RECIPE, FaceGenerator, MetadataError  # noqa: E402
from facegan.runtime.metadata import parse_metadata  # noqa: E402
from facegan.train.checkpoint import sha256_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
V01_MODEL = ROOT / "tests" / "fixtures" / "v0.1" / "generator.onnx"  # exported by facegan 0.1: numpy recipe
NODE = shutil.which("node")
NODE_TIMEOUT_S = 300  # the whole Node suite takes a few seconds; generous for a loaded machine

pytestmark = pytest.mark.skipif(
    NODE is None or not (WEB / "node_modules" / "onnxruntime-node").is_dir(),
    reason="needs node and web/node_modules: run `npm ci --prefix web`",
)

BIG_SEED = 2**64 - 1  # drawn through the BigInt path in JS


ATTRIBUTE_DRAWS = (  # (n, seed, start, requests) of the rows compared exactly
    (256, 0, 0, None), (64, BIG_SEED, 2**32 + 3, None), (128, 7, 0, {"Smiling": 1}),
    (128, 8, 5, {"Black_Hair": 1, "Eyeglasses": 0.25}), (64, 9, 0, {"Black_Hair": 1, "Blond_Hair": 1}),
    (64, 10, 0, {"Smiling": 0, "Eyeglasses": 0, "Black_Hair": 0, "Blond_Hair": 0}),
)


def _cases() -> list[tuple[str, str, dict]]:
    """(model, call, arguments) drawn in Python and redrawn in JS."""
    cases = []
    for model in ("float", "uint8"):
        cases += [
            (model, "generate", {"n": 3, "seed": 0, "truncation": 1.0}),
            (model, "generate", {"n": 2, "seed": 7, "truncation": 0.6}),
            (model, "generate", {"n": 1, "seed": BIG_SEED, "truncation": 1.0}),
            (model, "interpolate", {"seedA": 1, "seedB": 2, "steps": 5, "method": "slerp", "truncation": 1.0}),
        ]
    cases.append(("float", "interpolate", {"seedA": 3, "seedB": 42, "steps": 4, "method": "lerp", "truncation": 0.8}))
    cases.append(("numpy", "generateFromLatents", {"n": 4, "seed": 5, "truncation": 1.0}))
    edits = {"Smiling": 2.5, "Eyeglasses": -1.0}
    cases.append(("float", "edit", {"seed": 4, "edits": edits, "n": 2, "truncation": 0.7}))
    # Conditional models: drawn attributes, requests (a fractional one, an impossible pair), edits.
    cases += [
        ("cond", "generate", {"n": 3, "seed": 0, "truncation": 1.0}),
        ("cond", "generate", {"n": 2, "seed": 7, "truncation": 0.6, "attributes": {"Smiling": 1, "Blond_Hair": 1}}),
        ("cond", "generate", {"n": 1, "seed": BIG_SEED, "truncation": 1.0, "attributes": {"Eyeglasses": 0.7}}),
        ("cond", "generate", {"n": 2, "seed": 11, "truncation": 1.0, "attributes": {"Black_Hair": 1, "Blond_Hair": 1}}),
        ("cond", "edit", {"seed": 5, "edits": {"Smiling": 2.0, "Eyeglasses": -1.5}, "n": 2, "truncation": 0.8,
                          "attributes": {"Black_Hair": 1}}),
        ("cond", "interpolate", {"seedA": 1, "seedB": 2, "steps": 4, "method": "slerp", "truncation": 1.0,
                                 "attributes": {"Smiling": 0}}),
        ("cond", "generateFromLatents", {"n": 3, "seed": 9, "truncation": 1.0, "attributes": {"Eyeglasses": 1}}),
        ("cond_uint8", "generate", {"n": 2, "seed": 3, "truncation": 1.0, "attributes": {"Smiling": 1}}),
    ]
    return cases


def _write_directions(run: Path, ckpt: Path, seed: int) -> None:
    """A facegan-directions file for `ckpt` (raw weights): random unit directions named like attributes."""
    latent_dim = torch.load(ckpt, weights_only=True)["model_config"]["latent_dim"]
    v = np.random.default_rng(seed).standard_normal((2, latent_dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    directions = {"names": ["Smiling", "Eyeglasses"], "vectors": v.tolist(), "accuracy": [0.9, 0.8],
                  "boundary_accuracy": [0.95, 0.85], "samples": 100, "method": "interfacegan"}
    record = {"checkpoint_sha256": sha256_file(ckpt), "weights": "raw", "directions": directions}
    (run / "directions.json").write_text(json.dumps(record))


def _draw(gen: FaceGenerator, call: str, args: dict, folder: Path, name: str) -> tuple[np.ndarray, dict]:
    """Python's pixels for one case, and the case's arguments as the JS test reads them."""
    psi, requests = args["truncation"], args.get("attributes")
    if call == "generate":
        pixels = gen.generate(args["n"], args["seed"], truncation=psi, attributes=requests)
        return pixels, {**args, "seed": str(args["seed"])}
    if call == "edit":
        pixels = gen.edit(args["seed"], args["edits"], n=args["n"], truncation=psi, attributes=requests)
        return pixels, {**args, "seed": str(args["seed"])}
    if call == "interpolate":
        pixels = gen.interpolate(args["seedA"], args["seedB"], args["steps"], args["method"], truncation=psi,
                                 attributes=requests)
        return pixels, {**args, "seedA": str(args["seedA"]), "seedB": str(args["seedB"])}
    # Latents (and attribute rows) handed over: a numpy-recipe model's seeds only Python draws.
    z = gen.latents(args["n"], args["seed"])
    (folder / f"{name}-z.bin").write_bytes(z.astype("<f4").tobytes())
    js_args = {"latents": f"{name}-z.bin", "truncation": psi}
    rows = None
    if gen.attributes:
        rows = gen.attribute_vectors(args["n"], args["seed"], requests)
        (folder / f"{name}-a.bin").write_bytes(rows.astype("<f4").tobytes())
        js_args["attributeRows"] = f"{name}-a.bin"
    return gen.generate_from_latents(z, truncation=psi, attributes=rows), js_args


def _metadata_cases(cond: dict[str, str]) -> list[dict]:
    """A conditional export's metadata, mutated: Python's verdict on each, which JS must share."""
    attrs, dirs = json.loads(cond["facegan.attributes"]), json.loads(cond["facegan.directions"])
    v = np.array(dirs["vectors"][0])

    def with_attrs(**change):
        return {"facegan.attributes": json.dumps({**attrs, **change})}

    def with_prior(**change):
        return with_attrs(prior={**attrs["prior"], **change})

    def with_dirs(**change):
        return {"facegan.directions": json.dumps({**dirs, **change})}

    first = attrs["names"][0]
    mutations = {
        "as exported": {}, "format 3": {"facegan.format_version": "3"},
        "format 1 with attributes": {"facegan.format_version": "1"},
        "attributes_input z": {"facegan.attributes_input": "z"}, "attributes_input empty": {"facegan.attributes_input": ""},
        "attributes not json": {"facegan.attributes": "{"}, "attributes a list": {"facegan.attributes": "[]"},
        "name with comma": with_attrs(names=["a,b", *attrs["names"][1:]]),
        "name with spaces": with_attrs(names=[f" {first}", *attrs["names"][1:]]),
        "names repeat": with_attrs(names=[first, first, *attrs["names"][2:]]),
        "frequency above 1": with_attrs(frequencies=[1.5, *attrs["frequencies"][1:]]),
        "rows 0": with_attrs(rows=0), "no prior": with_attrs(prior=None),
        "count 0": with_prior(counts=[0, *attrs["prior"]["counts"][1:]]),
        "counts at 2**21": with_prior(counts=[2**21, *attrs["prior"]["counts"][1:]]),
        "counts below 2**21": with_prior(counts=[2**21 - sum(attrs["prior"]["counts"][1:]) - 1, *attrs["prior"]["counts"][1:]]),
        "short vector": with_prior(vectors=["1", *attrs["prior"]["vectors"][1:]]),
        "vectors repeat": with_prior(vectors=[attrs["prior"]["vectors"][1], *attrs["prior"]["vectors"][1:]]),
        "fewer counts": with_prior(counts=attrs["prior"]["counts"][1:]),
        "direction norm 1.001": with_dirs(vectors=[(v * 1.001).tolist(), *dirs["vectors"][1:]]),
        "direction norm 1 + 1e-7": with_dirs(vectors=[(v * (1 + 1e-7)).tolist(), *dirs["vectors"][1:]]),
        "direction too short": with_dirs(vectors=[v[:-1].tolist(), *dirs["vectors"][1:]]),
        "directions without stats": {"facegan.directions": json.dumps({"names": dirs["names"], "vectors": dirs["vectors"]})},
        "direction accuracy 2": with_dirs(accuracy=[2.0, *dirs["accuracy"][1:]]),
        "directions samples -1": with_dirs(samples=-1), "directions samples 0": with_dirs(samples=0),
        "directions method 3": with_dirs(method=3), "directions names repeat": with_dirs(names=[dirs["names"][0]] * 2),
    }
    cases = []
    for name, change in mutations.items():
        props = {**cond, **change}
        try:
            parse_metadata(props, "m.onnx")
            accepted = True
        except MetadataError:
            accepted = False
        cases.append({"name": name, "props": props, "accepted": accepted})
    # Version 1 without attributes, with directions alone: still version 1, accepted.
    plain = {k: v for k, v in cond.items() if k not in ("facegan.attributes", "facegan.attributes_input")}
    cases.append({"name": "format 1 with directions", "props": {**plain, "facegan.format_version": "1"}, "accepted": True})
    return cases


@pytest.fixture(scope="module")
def js_fixtures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("js-fixtures")
    ckpt = write_checkpoint(folder / "ckpt.pt", seed=3)
    (folder / "cond").mkdir()
    cond = write_checkpoint(folder / "cond" / "ckpt.pt", seed=4, attributes=True)
    models = {"float": "float.onnx", "uint8": "uint8.onnx", "numpy": "numpy.onnx",
              "cond": "cond.onnx", "cond_uint8": "cond-uint8.onnx"}
    runs = ((folder, ckpt, ("float", "uint8"), 0), (folder / "cond", cond, ("cond", "cond_uint8"), 1))
    for run, checkpoint, names, seed in runs:
        _write_directions(run, checkpoint, seed)  # facegan-export embeds them (same checkpoint, raw weights)
        for name, output in zip(names, ("float", "uint8")):
            export_onnx(checkpoint, folder / models[name], output=output, verify=False)
    shutil.copyfile(V01_MODEL, folder / models["numpy"])
    gens = {name: FaceGenerator(folder / file, device="cpu") for name, file in models.items()}
    assert gens["float"].metadata.latents == PHILOX_RECIPE and gens["numpy"].metadata.latents == NUMPY_RECIPE
    assert gens["cond"].attributes == TEST_ATTRIBUTES
    assert gens["cond"].directions == gens["float"].directions == ("Smiling", "Eyeglasses")
    index = {
        "models": models,
        "metadata": {name: dict(g.session.get_modelmeta().custom_metadata_map) for name, g in gens.items()},
        "cases": [],
        "conversions": [],
    }
    for k, (model, call, args) in enumerate(_cases()):
        name = f"case-{k:02d}"
        pixels, js_args = _draw(gens[model], call, args, folder, name)
        (folder / f"{name}.bin").write_bytes(np.ascontiguousarray(pixels).tobytes())
        index["cases"].append({
            "name": f"{model} {call} {json.dumps(js_args)}", "model": model, "call": call, "args": js_args,
            "pixels": f"{name}.bin", "shape": list(pixels.shape),
        })
    # The float -> uint8 conversion alone, on the same raw floats: JS must match to_uint8 exactly.
    raw = gens["float"].generate(4, 11, output="float")
    (folder / "raw.bin").write_bytes(raw.astype("<f4").tobytes())
    (folder / "raw-pixels.bin").write_bytes(gens["float"].generate(4, 11).tobytes())
    index["conversions"].append({"model": "float", "raw": "raw.bin", "count": 4, "pixels": "raw-pixels.bin"})
    # The attributes input itself, on the exported prior: JS must draw exactly these rows.
    index["attribute_rows"] = []
    for k, (n, seed, start, requests) in enumerate(ATTRIBUTE_DRAWS):
        rows = gens["cond"].attribute_vectors(n, seed, requests, start=start)
        (folder / f"rows-{k}.bin").write_bytes(rows.astype("<f4").tobytes())
        index["attribute_rows"].append({"model": "cond", "n": n, "seed": str(seed), "start": str(start),
                                        "requests": requests, "rows": f"rows-{k}.bin"})
    index["metadata_cases"] = _metadata_cases(index["metadata"]["cond"])
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return folder


def _node(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NODE, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=NODE_TIMEOUT_S,
    )


def test_fixture_faces_differ_from_seed_to_seed(js_fixtures):
    # Otherwise "the same pixels" in JS would hold for a wrong seed too.
    index = json.loads((js_fixtures / "index.json").read_text())
    first = {c["model"]: c for c in reversed(index["cases"]) if c["call"] == "generate"}
    for case in first.values():
        pixels = np.fromfile(js_fixtures / case["pixels"], dtype=np.uint8).reshape(case["shape"])
        assert pixels.max() - pixels.min() > 150
        assert np.abs(pixels[0].astype(int) - pixels[1].astype(int)).max() > 50


def test_node_runtime_matches_python(js_fixtures):
    tests = sorted(str(p.relative_to(ROOT)) for p in (WEB / "test").glob("*.test.mjs"))
    result = _node("--test", *tests, env={"FACEGAN_JS_FIXTURES": str(js_fixtures)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test failed:\n{output[-6000:]}"
    assert "# fail 0" in output
    assert "# skipped 0" in output, f"a Node test skipped with the fixtures present:\n{output[-3000:]}"


_SEEDED_CALL = """
import ort from "onnxruntime-node";
import { readFileSync } from "node:fs";
import { FaceGenerator } from "./facegan.js";
const gen = await FaceGenerator.create(readFileSync(process.argv[1]), { ort });
try {
  await gen.generate(1, 7);
  console.log("generated");
} catch (e) {
  console.log(`${e.name}: ${e.message}`);
}
"""


def test_numpy_recipe_model_refuses_seeds_in_js():
    result = _node("--input-type=module", "-e", _SEEDED_CALL, str(V01_MODEL), cwd=WEB)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "FaceganError: model was exported with numpy's latent recipe, which only Python reproduces; "
        "re-export it with facegan-export for seeds here (generateFromLatents works)"
    )
