"""CUDA paths, run only where a GPU is present (skipped on the CPU machines this project usually has)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from facegan.export import export_onnx
from facegan.runtime import FaceGenerator
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
    path = export_onnx(tiny_checkpoint, tmp_path / "g16.onnx", dtype="fp16").path
    gen = FaceGenerator(path, device="cuda", strict=True)
    assert gen.providers[0] == "CUDAExecutionProvider" and gen.io_binding
    cpu = FaceGenerator(path, device="cpu").generate(8, seed=3)
    cuda = gen.generate(8, seed=3)
    assert np.abs(cpu.astype(int) - cuda.astype(int)).max() <= 4  # fp16 tolerance in uint8 levels
