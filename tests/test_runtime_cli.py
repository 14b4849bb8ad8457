"""facegan-generate through typer's CliRunner, plus the console script and `python -m` once each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
import cli_output
from runtime_models import conditional_model, toy_directions, toy_model
from typer.testing import CliRunner

from facegan.runtime.cli import app
from facegan.runtime.generator import FaceGenerator

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return toy_model(tmp_path_factory.mktemp("models") / "toy.onnx", output_dtype="uint8")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    return cli_output.one_error_line(result, "facegan-generate")


def test_grid(model, tmp_path):
    out = tmp_path / "faces.png"
    result = invoke(model, "--n", 5, "--seed", 3, "--out", out, "--nrow", 5)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout and "5 faces" in result.stdout
    assert "provider: CPUExecutionProvider" in result.stdout
    assert Image.open(out).size == (5 * 8 + 6 * 2, 8 + 2 * 2)


def test_dir_gives_the_library_pixels(model, tmp_path):
    result = invoke(model, "--n", 6, "--seed", 7, "--dir", tmp_path / "faces", "--batch-size", 4, "--threads", 1)
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "faces").glob("*.png"))
    assert [f.name for f in files] == [f"face-{i:04d}.png" for i in range(6)]
    from_cli = np.stack([np.asarray(Image.open(f)) for f in files])
    np.testing.assert_array_equal(from_cli, FaceGenerator(model, device="cpu").generate(6, seed=7))


def test_truncation_flag(model, tmp_path):
    result = invoke(model, "--n", 3, "--truncation", 0.5, "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    got = np.stack([np.asarray(Image.open(f)) for f in sorted(tmp_path.glob("*.png"))])
    np.testing.assert_array_equal(got, FaceGenerator(model, device="cpu").generate(3, truncation=0.5))


def test_interpolate_gif(model, tmp_path):
    gif = tmp_path / "morph.gif"
    result = invoke(model, "--interpolate", 1, 2, "--steps", 5, "--gif", gif, "--method", "lerp")
    assert result.exit_code == 0, result.output
    assert "5 frames" in result.stdout and "lerp" in result.stdout
    with Image.open(gif) as im:
        assert im.n_frames == 5
    assert not (tmp_path / "faces.png").exists()


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("facegan ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.onnx"], "not found"),
        (["not-facegan"], "no facegan metadata"),
        (["corrupt"], "not a loadable ONNX model"),
        (["model", "--device", "cuda", "--strict"], "CUDAExecutionProvider"),
    ],
)
def test_failures_exit_1_with_one_line(model, tmp_path, args, message):
    plain = toy_model(tmp_path / "plain.onnx", metadata=False)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"junk" * 10)
    paths = {"model": model, "not-facegan": plain, "corrupt": corrupt, "missing.onnx": tmp_path / "missing.onnx"}
    result = invoke(*[paths.get(a, a) for a in args], "--out", tmp_path / "x.png")
    assert result.exit_code == 1, result.output
    assert message in one_error_line(result)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--n", 0],
        ["--n", 100_001],
        ["--device", "gpu"],
        ["--grid", "--dir", "d"],
        ["--interpolate", 1, 2, "--n", 4],
        ["--interpolate", 1],
        ["--seed", -1],
        ["--seed", 2**64],
        ["--interpolate", 1, 2**64],
        ["--no-such-flag"],
    ],
)
def test_usage_errors_exit_2(model, tmp_path, args):
    result = invoke(model, *args, "--out", tmp_path / "x.png")
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).with_name("facegan-generate")), "--help"], [sys.executable, "-m", "facegan.runtime", "-h"]],
    ids=["console-script", "python-m"],
)
def test_help_in_a_subprocess(command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--interpolate" in result.stdout and "facegan-generate" in result.stdout


def test_cuda_fallback_warns_and_runs(model, tmp_path):
    result = invoke(model, "--device", "cuda", "--n", 2, "--out", tmp_path / "x.png")
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.stderr and "falling back to the CPU" in result.stderr
    assert "provider: CPUExecutionProvider" in result.stdout
    verbose = invoke(model, "-v", "--n", 2, "--out", tmp_path / "y.png")
    assert "applied ['CPUExecutionProvider']" in verbose.stderr


def test_interpolate_with_grid_also_writes_the_frames_grid(model, tmp_path):
    result = invoke(model, "--interpolate", 3, 4, "--steps", 4, "--gif", tmp_path / "m.gif", "--grid",
                    "--out", tmp_path / "frames.png", "--nrow", 4)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "frames.png").size == (4 * 8 + 5 * 2, 8 + 2 * 2)
    assert (tmp_path / "m.gif").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--out", "faces"], "cannot tell which image format"),
        (["--out", "."], "is a folder"),
        (["--interpolate", "1", "2", "--gif", "morph"], "cannot tell which image format"),
    ],
)
def test_unusable_picture_paths_are_usage_errors_named_before_generating(model, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [str(model), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and ".tmp" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("conditional")
    return conditional_model(d / "cond.onnx", output_dtype="uint8", directions=toy_directions(8))


def faces_in(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f)) for f in sorted(folder.glob("*.png"))])


def test_attr_gives_the_library_faces(conditional, tmp_path):
    result = invoke(conditional, "--n", 4, "--seed", 2, "--attr", "Smiling=1", "--attr", "Eyeglasses=0,Male=0.5",
                    "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "attributes Eyeglasses=0,Male=0.5,Smiling=1" in result.stdout
    want = FaceGenerator(conditional, device="cpu").generate(
        4, seed=2, attributes={"Smiling": 1, "Eyeglasses": 0, "Male": 0.5})
    np.testing.assert_array_equal(faces_in(tmp_path), want)


def test_edit_gives_the_library_faces(conditional, tmp_path):
    result = invoke(conditional, "--n", 3, "--seed", 5, "--edit", "Eyeglasses=+1.5", "--truncation", 0.7,
                    "--attr", "Male=1", "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "edit Eyeglasses=1.5" in result.stdout
    want = FaceGenerator(conditional, device="cpu").edit(5, {"Eyeglasses": 1.5}, n=3, truncation=0.7,
                                                         attributes={"Male": 1})
    np.testing.assert_array_equal(faces_in(tmp_path), want)


def test_attr_with_interpolate(conditional, tmp_path):
    result = invoke(conditional, "--interpolate", 1, 2, "--steps", 3, "--attr", "Smiling=1", "--gif", tmp_path / "m.gif")
    assert result.exit_code == 0, result.output
    assert "attributes Smiling=1" in result.stdout


@pytest.mark.parametrize(
    ("which", "args", "message"),
    [
        ("conditional", ["--attr", "Grinning=1"], "--attr: unknown name Grinning; cond.onnx has Smiling, Eyeglasses, "
                                                  "Black_Hair, Blond_Hair, Male"),
        ("conditional", ["--edit", "Bald=1"], "--edit: unknown name Bald; cond.onnx has Smiling, Eyeglasses"),
        ("conditional", ["--attr", "Smiling=2"], "Smiling must be a number in [0, 1]"),
        ("conditional", ["--attr", "Smiling"], "--attr expects NAME=VALUE"),
        ("conditional", ["--edit", "Smiling=lots"], "--edit expects NAME=VALUE"),
        ("conditional", ["--interpolate", 1, 2, "--edit", "Smiling=1"], "--edit does not apply to --interpolate"),
        ("plain", ["--attr", "Smiling=1"], "--attr: toy.onnx is an unconditional model (it has no attributes)"),
        ("plain", ["--edit", "Smiling=1"], "--edit: toy.onnx has no directions; run facegan-directions"),
    ],
)
def test_attr_and_edit_usage_errors_exit_2_with_one_line(model, conditional, tmp_path, which, args, message):
    result = invoke({"conditional": conditional, "plain": model}[which], *args, "--out", tmp_path / "x.png")
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result)
    assert not (tmp_path / "x.png").exists()
