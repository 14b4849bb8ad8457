"""Artifacts written by facegan 0.1 still load, resume and give the same pixels (tests/fixtures/v0.1).

The fixtures were written once, by the code before the restructure of issue 10; see their README.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from facegan.export import export_onnx  # noqa: E402
from facegan.runtime import NUMPY_RECIPE, PHILOX_RECIPE, FaceGenerator, latents  # noqa: E402
from facegan.train.checkpoint import load_checkpoint  # noqa: E402
from facegan.train.config import ModelConfig, from_dict, resolve  # noqa: E402
from facegan.train.loop import train  # noqa: E402
from facegan.train.resume import resume_from  # noqa: E402
from facegan.train.models import generator_from_state  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "v0.1"
EXPECTED = np.load(FIXTURES / "expected.npz")
# The fixtures' latents: facegan 0.1 drew every latent with numpy's recipe (their exports record it).
OLD_RECIPE = NUMPY_RECIPE


def _faces(path: Path) -> np.ndarray:
    gen = FaceGenerator(path, device="cpu")
    return np.stack([gen.generate(1, seed=s)[0] for s in range(8)])


def test_fixture_faces_have_contrast():
    # Otherwise "the same pixels" below would hold for almost any model.
    faces = EXPECTED["faces"]
    assert faces.max() - faces.min() > 150 and faces.std() > 15


def test_old_onnx_export_gives_the_same_faces():
    assert np.array_equal(_faces(FIXTURES / "generator.onnx"), EXPECTED["faces"])


def test_old_torchscript_export_gives_the_same_outputs():
    module = torch.jit.load(str(FIXTURES / "generator.ts.pt"))
    out = module(torch.from_numpy(latents(3, 8, 16, recipe=OLD_RECIPE))).detach().numpy()
    assert np.abs(out - EXPECTED["eager"]).max() < 1e-5


def test_old_checkpoint_loads_and_exports_the_same_faces(tmp_path):
    ckpt = load_checkpoint(FIXTURES / "run" / "checkpoints" / "last.pt")
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    g = generator_from_state(cfg, ckpt["generator_ema"]).eval()
    eager = g(torch.from_numpy(latents(3, 8, cfg.latent_dim, recipe=OLD_RECIPE))).detach().numpy()
    assert np.abs(eager - EXPECTED["eager"]).max() < 1e-5
    result = export_onnx(FIXTURES / "run", tmp_path / "again.onnx", batch_sizes=(1, 3), seeds=(0,))
    # A new export records the portable recipe, so its seeds are new faces; fed the old seeds'
    # latents it must draw the old faces.
    gen = FaceGenerator(result.path, device="cpu")
    assert gen.metadata.latents == PHILOX_RECIPE
    again = np.concatenate([gen.generate_from_latents(latents(s, 1, cfg.latent_dim, recipe=OLD_RECIPE)) for s in range(8)])
    assert np.abs(again.astype(int) - EXPECTED["faces"].astype(int)).max() <= 1


def test_old_checkpoint_resumes(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURES / "run", run_dir)
    model_cfg, train_cfg, ckpt = resume_from(run_dir, {"steps": 803})
    assert ckpt["step"] == 800
    result = train(model_cfg, train_cfg, run_dir, resume=ckpt, quiet=True, echo=lambda _m: None)
    assert result.step == 803
    after = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert after["step"] == 803 and after["generator_ema"] is not None
    moved = [k for k, v in after["generator"].items() if v.is_floating_point() and not torch.equal(v, ckpt["generator"][k])]
    assert moved, "resuming trained nothing"


def test_seeded_20_step_run_writes_the_same_losses_and_weights(tmp_path):
    """The same losses and weights as facegan 0.1 wrote. Exact on the machine that made the fixture;
    other CPUs round convolutions differently (AVX2 vs AVX-512 kernels), hence the tolerance."""
    record = json.loads((FIXTURES / "run20.json").read_text())
    model_cfg, train_cfg = resolve("dcgan", record["model"], record["train"])
    result = train(model_cfg, train_cfg, tmp_path / "run20", quiet=True, echo=lambda _m: None)
    metrics = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [m["step"] for m in record["metrics"]]
    for got, want in zip(metrics, record["metrics"]):
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert got[key] == pytest.approx(want[key], rel=1e-3, abs=1e-4), (got["step"], key)
    g = load_checkpoint(result.last_checkpoint)["generator"]
    for key, total in record["weights"].items():
        assert float(g[key].double().sum()) == pytest.approx(total, rel=1e-3, abs=1e-3), key
