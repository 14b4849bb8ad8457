"""Tests of the facegan-export CLI: exit codes, one-line errors, tables, --json, no leftovers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

import cli_output  # noqa: E402
from conftest import write_checkpoint  # noqa: E402

from facegan.export.cli import app  # noqa: E402
from facegan.runtime.metadata import parse_metadata  # noqa: E402

runner = CliRunner()
FAST = ["--batch-sizes", "1,3", "--seeds", "0"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    return cli_output.one_error_line(result, "facegan-export")


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "runs" / "tiny"
    write_checkpoint(run / "checkpoints" / "last.pt")
    return run


def test_run_dir_exports_all_formats_next_to_the_run(run_dir):
    result = invoke(run_dir, "--format", "all", *FAST)
    assert result.exit_code == 0, result.output
    runs = run_dir.parent
    assert sorted(p.name for p in runs.iterdir()) == [
        "tiny", "tiny-g.onnx", "tiny-g.onnx.parity.json", "tiny-g.ts.pt", "tiny-g.ts.pt.parity.json",
    ]
    assert "parity tiny-g.onnx (onnx, fp32, float): passed" in result.stdout
    assert "ort-cpu-opt-disabled" in result.stdout and "wrote " in result.stdout
    assert result.stderr == ""


def test_json_prints_only_json(run_dir, tmp_path):
    out = tmp_path / "artifacts"
    result = invoke(run_dir, "-f", "all", "--out", out, "--json", *FAST)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # nothing but JSON on stdout, exporter chatter included
    assert set(data) == {"onnx", "torchscript"}
    assert data["onnx"]["path"] == str(out / "tiny-g.onnx")
    assert data["onnx"]["parity"]["passed"] and len(data["onnx"]["parity"]["cases"]) == 4
    assert data["torchscript"]["export_s"] > 0
    saved = json.loads((out / "tiny-g.ts.pt.parity.json").read_text())
    assert saved["cases"] == data["torchscript"]["parity"]["cases"]


def test_options_reach_the_artifact(run_dir, tmp_path):
    result = invoke(run_dir, "--out", tmp_path, "--output", "uint8", "--dtype", "fp16", "--opset", "20", "--json", *FAST)
    assert result.exit_code == 0, result.output
    import onnx

    model = onnx.load(str(tmp_path / "tiny-g.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [20]
    meta = parse_metadata({p.key: p.value for p in model.metadata_props})
    assert (meta.dtype, meta.output_dtype, meta.output_layout) == ("fp16", "uint8", "NHWC")
    assert meta.parity["atol"] == 4


def test_parity_failure_exits_1_with_a_table_and_no_artifact(run_dir, tmp_path):
    # fp16 always differs from the fp32 reference, so a zero tolerance must fail every case.
    result = invoke(run_dir, "--out", tmp_path, "--dtype", "fp16", "--atol", "0", *FAST)
    assert result.exit_code == 1
    assert "parity failed" in one_error_line(result)
    assert "FAILED" in result.stdout and result.stdout.count("max abs diff") >= 4  # every case listed
    assert not (tmp_path / "tiny-g.onnx").exists()
    assert json.loads((tmp_path / "tiny-g.onnx.parity-failed.json").read_text())["passed"] is False


def test_format_all_is_all_or_nothing(run_dir, tmp_path, monkeypatch):
    """ONNX passes, TorchScript fails parity: no new .onnx is published, the old files stay."""
    invoke(run_dir, "--format", "all", "--out", tmp_path, *FAST)
    (tmp_path / "tiny-g.onnx").write_bytes(b"the earlier artifact")  # told apart from a new export
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    from facegan.export import parity, torchscript

    original, reference = torchscript.check, parity.eager_reference

    def failing_torchscript(*args, **kwargs):  # the TorchScript check sees a shifted reference
        with monkeypatch.context() as m:
            m.setattr(parity, "eager_reference", lambda *a: reference(*a) + np.float32(1e-3))
            return original(*args, **kwargs)

    monkeypatch.setattr(torchscript, "check", failing_torchscript)
    result = invoke(run_dir, "--format", "all", "--out", tmp_path, "--force", *FAST)
    assert result.exit_code == 1 and "parity failed for tiny-g.ts.pt" in one_error_line(result)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and not p.name.endswith("parity-failed.json")}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert after == before  # neither artifact nor report replaced, no temporary file left
    assert json.loads((tmp_path / "tiny-g.ts.pt.parity-failed.json").read_text())["passed"] is False


def test_parity_failure_with_json_prints_the_failed_report(run_dir, tmp_path):
    result = invoke(run_dir, "-f", "torchscript", "--out", tmp_path, "--dtype", "fp16", "--atol", "0", "--json", *FAST)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["torchscript"]["path"] is None and data["torchscript"]["parity"]["num_failed"] == 2
    assert not (tmp_path / "tiny-g.ts.pt").exists()


@pytest.mark.parametrize(("dtype", "wrong"), [("fp32", "perturbed"), ("fp16", "constant")])
def test_wrong_artifact_fails_cli_parity(run_dir, tmp_path, monkeypatch, dtype, wrong):
    """The artifact computes something else than the checkpoint: a G with other weights, or one
    that draws a constant image (which the fp16 tolerance must not let through)."""
    from facegan.export import publish

    original = publish.build_export_module

    def wrong_module(loaded, dtype, output):
        module = original(loaded, dtype, output)
        if wrong == "perturbed":
            with torch.no_grad():
                next(module.parameters()).add_(0.05)
        else:
            module.generator = Constant(module.generator)
        return module

    monkeypatch.setattr(publish, "build_export_module", wrong_module)
    result = invoke(run_dir, "--out", tmp_path, "--dtype", dtype, *FAST)
    assert result.exit_code == 1
    assert "parity failed" in one_error_line(result)
    assert not (tmp_path / "tiny-g.onnx").exists()


class Constant(torch.nn.Module):
    def __init__(self, g: torch.nn.Module):
        super().__init__()
        self.g = g

    def forward(self, z):
        return self.g(z) * 0.0


def test_weights_ema_and_raw_give_different_artifacts_that_say_which(tmp_path):
    import onnxruntime as ort

    run = tmp_path / "runs" / "ema"
    write_checkpoint(run / "checkpoints" / "last.pt", ema=True)
    z = np.random.default_rng(0).standard_normal((4, 100), dtype=np.float32)
    images = {}
    for weights in ("ema", "raw"):
        out = tmp_path / weights
        result = invoke(run, "--out", out, "--weights", weights, *FAST)
        assert result.exit_code == 0, result.output
        session = ort.InferenceSession(str(out / "ema-g.onnx"), providers=["CPUExecutionProvider"])
        assert session.get_modelmeta().custom_metadata_map["facegan.weights"] == weights
        images[weights] = session.run(None, {"z": z})[0]
    assert np.max(np.abs(images["ema"] - images["raw"])) > 0.2  # ten times the fp16 tolerance


def test_missing_checkpoint_exits_1(tmp_path):
    result = invoke(tmp_path / "nope.pt", "--out", tmp_path)
    assert result.exit_code == 1
    assert "not found" in one_error_line(result)


def test_run_dir_without_checkpoint_exits_1(tmp_path):
    result = invoke(tmp_path)
    assert result.exit_code == 1
    assert "checkpoints/last.pt" in one_error_line(result)


def test_foreign_file_exits_1(tmp_path):
    foreign = tmp_path / "photo.pt"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(256))
    result = invoke(foreign, "--out", tmp_path)
    assert result.exit_code == 1
    one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.pt"]


def test_foreign_torch_file_exits_1(tmp_path):
    plain = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, plain)  # loads safely, but is not a facegan checkpoint
    result = invoke(plain, "--out", tmp_path)
    assert result.exit_code == 1
    assert "not a facegan checkpoint" in one_error_line(result)


class Payload:
    """A class the checkpoint would need to import to unpickle: what weights_only refuses."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_unsafe_pickle_exits_1_without_running_it(tmp_path):
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "facegan.checkpoint", "payload": Payload()}, unsafe)
    result = invoke(unsafe, "--out", tmp_path)
    assert result.exit_code == 1
    assert "not a safe facegan checkpoint" in one_error_line(result)
    assert "unpickled code ran" not in result.output


def test_truncated_checkpoint_exits_1(run_dir, tmp_path):
    ckpt = run_dir / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    result = invoke(run_dir, "--out", tmp_path / "o")
    assert result.exit_code == 1
    one_error_line(result)
    assert not (tmp_path / "o").exists()  # a failed export leaves no empty --out folder


def test_existing_output_without_force_exits_1(run_dir, tmp_path):
    (tmp_path / "tiny-g.ts.pt").write_bytes(b"older export")
    result = invoke(run_dir, "-f", "all", "--out", tmp_path, *FAST)
    assert result.exit_code == 1
    assert "--force" in one_error_line(result)
    # Checked before anything was written: the .onnx of --format all was not exported either.
    assert not (tmp_path / "tiny-g.onnx").exists()
    assert (tmp_path / "tiny-g.ts.pt").read_bytes() == b"older export"

    result = invoke(run_dir, "-f", "torchscript", "--out", tmp_path, "--force", "--no-verify")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny-g.ts.pt").read_bytes() != b"older export"


def test_unwritable_output_dir_exits_1(run_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = invoke(run_dir, "--out", blocker / "sub", *FAST)
    assert result.exit_code == 1
    assert "cannot write" in one_error_line(result)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_dir_exits_1(run_dir, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        result = invoke(run_dir, "--out", ro, *FAST)
    finally:
        ro.chmod(0o700)
    assert result.exit_code == 1
    assert "cannot write" in one_error_line(result)


@pytest.mark.parametrize(
    "args",
    [["--format", "tflite"], ["--dtype", "int8"], ["--batch-sizes", "0,3"], ["--batch-sizes", ","], ["--seeds", "a"],
     ["--seeds", "-1"], ["--atol", "-1"], ["--opset", "11"], ["--opset", "999"], ["--weights", "best"]],
)
def test_usage_errors_exit_2(run_dir, tmp_path, args):
    result = invoke(run_dir, "--out", tmp_path / "new", *args)
    assert result.exit_code == 2, result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "runs"]  # no --out folder either


def test_weights_ema_on_checkpoint_without_ema_exits_1(run_dir, tmp_path):
    result = invoke(run_dir, "--out", tmp_path, "--weights", "ema")
    assert result.exit_code == 1
    assert "--weights raw" in one_error_line(result)


def test_help_and_version_in_a_subprocess():
    exe = shutil.which("facegan-export", path=str(Path(sys.executable).parent))
    assert exe, "facegan-export console script is not installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--format", "--out", "--opset", "--dtype", "--output", "--atol", "--batch-sizes", "--seeds",
                 "--no-verify", "--json", "--weights", "--force", "--version"):
        assert flag in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "facegan.export", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("facegan ")
