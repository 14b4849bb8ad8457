"""The JavaScript runtime (web/facegan.js) under Node draws the Python runtime's faces.

A module fixture exports a tiny checkpoint as float and uint8 ONNX models, copies facegan 0.1's
numpy-recipe model beside them, and writes what Python's FaceGenerator draws from them. Node's own
test runner then runs web/test/ with FACEGAN_JS_FIXTURES naming that folder (web/test/runtime.test.mjs
reads it). Needs `node` and web/node_modules (`npm ci --prefix web`); skipped without them.

Fixture folder: index.json plus raw little-endian .bin files (numpy's .npy is awkward in JS):
    {"models": {name: file}, "metadata": {name: {key: value}},
     "cases": [{"name", "model", "call": "generate" | "interpolate" | "generateFromLatents",
                "args": {...}, "pixels": file, "shape": [n, H, W, 3]} ...],
     "conversions": [{"model", "raw": file (float32 NCHW), "count", "pixels": file}]}
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

pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import write_checkpoint  # noqa: E402
from facegan.export import export_onnx  # noqa: E402
from facegan.runtime import NUMPY_RECIPE, PHILOX_RECIPE, FaceGenerator  # noqa: E402

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
    return cases


def _draw(gen: FaceGenerator, call: str, args: dict, folder: Path, name: str) -> tuple[np.ndarray, dict]:
    """Python's pixels for one case, and the case's arguments as the JS test reads them."""
    psi = args["truncation"]
    if call == "generate":
        return gen.generate(args["n"], args["seed"], truncation=psi), {**args, "seed": str(args["seed"])}
    if call == "interpolate":
        pixels = gen.interpolate(args["seedA"], args["seedB"], args["steps"], args["method"], truncation=psi)
        return pixels, {**args, "seedA": str(args["seedA"]), "seedB": str(args["seedB"])}
    # A numpy-recipe model: JS cannot draw its seeds, so it is handed Python's latents.
    z = gen.latents(args["n"], args["seed"])
    (folder / f"{name}-z.bin").write_bytes(z.astype("<f4").tobytes())
    return gen.generate_from_latents(z, truncation=psi), {"latents": f"{name}-z.bin", "truncation": psi}


@pytest.fixture(scope="module")
def js_fixtures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("js-fixtures")
    ckpt = write_checkpoint(folder / "ckpt.pt", seed=3)
    models = {"float": "float.onnx", "uint8": "uint8.onnx", "numpy": "numpy.onnx"}
    for output in ("float", "uint8"):
        export_onnx(ckpt, folder / models[output], output=output, verify=False)
    shutil.copyfile(V01_MODEL, folder / models["numpy"])
    gens = {name: FaceGenerator(folder / file, device="cpu") for name, file in models.items()}
    assert gens["float"].metadata.latents == PHILOX_RECIPE and gens["numpy"].metadata.latents == NUMPY_RECIPE
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
