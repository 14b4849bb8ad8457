"""CUDA paths, run only where a GPU is present (skipped on the CPU machines this project usually has)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from facegan.export import export_onnx, load_generator
from facegan.export.generator import eager_reference
from facegan.export.parity import default_atol
from facegan.runtime import FaceGenerator
from facegan.runtime.latents import latents
from facegan.train.checkpoint import load_checkpoint
from facegan.train.cli import app

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def test_train_with_amp_and_channels_last_on_cuda(tmp_path):
    result = CliRunner().invoke(app, [
        "--data", "toy-faces", "--toy-faces", "64", "--image-size", "32", "--ngf", "8", "--ndf", "8",
        "--batch-size", "16", "--steps", "4", "--workers", "0", "--quiet", "--device", "cuda", "--amp",
        "--channels-last", "--out", str(tmp_path), "--name", "gpu",
    ])
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(tmp_path / "gpu")
    assert ckpt["step"] == 4
    assert all(torch.isfinite(v.float()).all() for v in ckpt["generator"].values())


@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(), reason="needs onnxruntime-gpu")
def test_fp16_export_runs_on_the_cuda_provider_with_io_binding(tiny_checkpoint, tmp_path):
    """CUDA draws the faces of the eager fp32 generator, within the fp16 tolerance in uint8 levels.

    The fixture has contrast (conftest.write_checkpoint), and the check proves its signal is far
    above that tolerance: a constant image, or the faces of another seed, would fail it.
    """
    path = export_onnx(tiny_checkpoint, tmp_path / "g16.onnx", dtype="fp16").path
    gen = FaceGenerator(path, device="cuda", strict=True)
    assert gen.providers[0] == "CUDAExecutionProvider" and gen.io_binding
    loaded = load_generator(tiny_checkpoint)
    levels = default_atol("fp16", "uint8", loaded.value_range)  # 4 levels for tanh
    expected = eager_reference(loaded, latents(3, 8, loaded.latent_dim), "uint8").astype(int)
    other_seed = eager_reference(loaded, latents(4, 8, loaded.latent_dim), "uint8").astype(int)
    assert expected.max() - expected.min() > 200  # the signal spans most of the uint8 range ...
    assert np.abs(expected - other_seed).max() > 10 * levels  # ... and differs per seed
    assert np.abs(expected - expected.mean()).max() > 10 * levels  # ... far from any constant
    cpu = FaceGenerator(path, device="cpu").generate(8, seed=3).astype(int)
    cuda = gen.generate(8, seed=3).astype(int)
    assert np.abs(cuda - expected).max() <= levels
    assert np.abs(cpu - cuda).max() <= levels
