"""The whole path on a tiny model: train a few steps, export, generate; same seed, same face.

These tests pin the two contracts between the parts: the checkpoint (train -> export) and the
artifact metadata (export -> runtime). The tiny run trains with a learning rate high enough that
its faces have contrast and its EMA weights differ from the raw ones: an untrained tiny model
draws an almost constant grey that a wrong seed, the wrong weights or a constant model would
match within the one-level tolerance, so the tests also check that those are told apart.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from facegan.export import export_onnx, export_torchscript
from facegan.runtime import FaceGenerator
from facegan.runtime.cli import app as generate_app
from facegan.runtime.images import nchw_to_nhwc, to_uint8
from facegan.runtime.latents import latents
from facegan.runtime.metadata import parse_metadata
from facegan.train.checkpoint import load_checkpoint, sha256_file
from facegan.train.cli import app as train_app
from facegan.train.config import ModelConfig, from_dict
from facegan.train.models import generator_from_state

runner = CliRunner()


# Pixel levels by which two pictures that should differ (another seed, the raw weights) must at
# least differ somewhere: far above the one-level tolerance of "the same face". The tiny run below
# measured 64 (seed 7 vs 8) and 35 (EMA vs raw); an untrained tiny model gives 1.
DIFFERENT = 8


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A dcgan-stable run (EMA 0.8) of 6 steps on toy faces, exported to ONNX: EMA float and uint8, raw float.

    lr 0.02 without warm-up moves the weights enough in 6 steps to give the faces contrast, and
    EMA 0.8 keeps the averaged weights visibly behind the raw ones.
    """
    out = tmp_path_factory.mktemp("e2e")
    result = runner.invoke(
        train_app,
        ["--data", "toy-faces", "--toy-faces", "32", "--image-size", "32", "--ngf", "8", "--ndf", "8",
         "--batch-size", "8", "--steps", "6", "--workers", "0", "--quiet", "--preset", "dcgan-stable",
         "--lr", "0.02", "--warmup-steps", "0", "--lr-schedule", "constant", "--ema", "0.8",
         "--out", str(out), "--name", "tiny"],
    )
    assert result.exit_code == 0, result.output
    run = out / "tiny"
    float_onnx = export_onnx(run, out / "tiny-g.onnx", batch_sizes=(1, 5), seeds=(0, 1))
    uint8_onnx = export_onnx(run, out / "tiny-u8.onnx", output="uint8", batch_sizes=(1, 5), seeds=(0,))
    raw_onnx = export_onnx(run, out / "tiny-raw.onnx", weights="raw", batch_sizes=(1,), seeds=(0,))
    return run, float_onnx.path, uint8_onnx.path, raw_onnx.path


def eager_uint8(run, seed: int, n: int, weights: str = "generator_ema") -> np.ndarray:
    """The export's eager reference: the checkpoint's EMA (or raw) generator, eval mode, seeded latents."""
    ckpt = load_checkpoint(run)
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    g = generator_from_state(cfg, ckpt[weights])
    with torch.no_grad():
        x = g(torch.from_numpy(latents(seed, n, cfg.latent_dim))).numpy()
    return to_uint8(nchw_to_nhwc(x), cfg.value_range)


def levels_apart(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_metadata_describes_the_checkpoint(trained_run):
    run, float_path, _, raw_path = trained_run
    ckpt = load_checkpoint(run)
    props = {p.key: p.value for p in onnx.load(float_path).metadata_props}
    meta = parse_metadata(props)
    model_config = dict(meta.model_config)
    assert model_config.pop("value_range") == [-1.0, 1.0]  # derived from the activation, for readers
    assert model_config == ckpt["model_config"]
    assert (meta.latent_dim, meta.image_size, meta.channels) == (100, 32, 3)
    assert meta.preset == "dcgan-stable" and meta.weights == "ema"
    assert meta.train_step == 6 and meta.checkpoint_sha256 == sha256_file(run / "checkpoints" / "last.pt")
    assert meta.parity and meta.parity["passed"] is True
    raw_props = {p.key: p.value for p in onnx.load(raw_path).metadata_props}
    assert parse_metadata(raw_props).weights == "raw"


def test_the_fixture_can_tell_faces_apart(trained_run):
    """What makes "the same face" mean something: contrast, seeds and weights that show."""
    run = trained_run[0]
    reference = eager_uint8(run, seed=7, n=5)
    assert int(reference.max()) - int(reference.min()) > 100 and reference.std() > 10  # not a constant grey
    assert all(levels_apart(face, reference[0]) > DIFFERENT for face in reference[1:])  # faces of one seed differ
    assert levels_apart(eager_uint8(run, seed=8, n=5), reference) > DIFFERENT  # another seed, other faces
    assert levels_apart(eager_uint8(run, seed=7, n=5, weights="generator"), reference) > DIFFERENT  # raw != EMA


def test_same_seed_same_face_everywhere(trained_run, tmp_path):
    run, float_path, uint8_path, _ = trained_run
    reference = eager_uint8(run, seed=7, n=5)
    for path in (float_path, uint8_path):
        faces = FaceGenerator(path, device="cpu").generate(5, seed=7)
        assert faces.shape == (5, 32, 32, 3) and faces.dtype == np.uint8
        assert levels_apart(faces, reference) <= 1
        assert levels_apart(FaceGenerator(path, device="cpu").generate(5, seed=8), reference) > DIFFERENT
    # ... and through the CLI, written as separate PNGs
    result = runner.invoke(generate_app, [str(float_path), "--n", "5", "--seed", "7", "--dir", str(tmp_path / "faces")])
    assert result.exit_code == 0, result.output
    from PIL import Image

    files = sorted((tmp_path / "faces").glob("*.png"))
    assert len(files) == 5
    cli_faces = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    assert levels_apart(cli_faces, reference) <= 1


def test_the_ema_export_is_not_the_raw_export(trained_run):
    run, float_path, _, raw_path = trained_run
    ema_faces = FaceGenerator(float_path, device="cpu").generate(5, seed=7)
    raw_faces = FaceGenerator(raw_path, device="cpu").generate(5, seed=7)
    assert levels_apart(raw_faces, eager_uint8(run, seed=7, n=5, weights="generator")) <= 1
    assert levels_apart(ema_faces, raw_faces) > DIFFERENT


def test_torchscript_matches_onnx(trained_run, tmp_path):
    run, float_path, _, _ = trained_run
    ts = export_torchscript(run, tmp_path / "tiny.ts.pt", batch_sizes=(1, 3), seeds=(0,))
    module = torch.jit.load(str(ts.path))
    z = latents(3, 4, 100)
    ts_out = module(torch.from_numpy(z)).detach().numpy()
    onnx_out = FaceGenerator(float_path, device="cpu").generate_from_latents(z, output="float")
    assert np.abs(ts_out - onnx_out).max() < 1e-4


@pytest.mark.slow
def test_console_scripts_chain(tmp_path):
    """The quickstart's chain as subprocesses: facegan-train, facegan-export, facegan-generate."""
    bin_dir = __import__("pathlib").Path(sys.executable).parent
    train = [str(bin_dir / "facegan-train"), "--data", "toy-faces", "--toy-faces", "16", "--image-size", "32",
             "--ngf", "8", "--ndf", "8", "--batch-size", "8", "--steps", "2", "--workers", "0", "--quiet",
             "--out", str(tmp_path), "--name", "chain"]
    subprocess.run(train, check=True, capture_output=True, text=True, timeout=300)
    exp = subprocess.run([str(bin_dir / "facegan-export"), str(tmp_path / "chain"), "--format", "all", "--json"],
                         check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(exp.stdout)
    assert set(report) == {"onnx", "torchscript"}
    gen = subprocess.run([str(bin_dir / "facegan-generate"), str(tmp_path / "chain-g.onnx"), "--n", "4",
                          "--out", str(tmp_path / "faces.png")], check=True, capture_output=True, text=True, timeout=120)
    assert (tmp_path / "faces.png").stat().st_size > 0 and "CPUExecutionProvider" in gen.stdout + gen.stderr
