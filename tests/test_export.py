"""Tests of facegan.export as a library: artifacts, metadata, parity and its failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from conftest import write_checkpoint  # noqa: E402

from facegan.export import ExportError, ParityMismatchError, export_formats, export_onnx, export_torchscript  # noqa: E402
from facegan.export import generator, options, parity, publish  # noqa: E402
from facegan.export.errors import ParityError  # noqa: E402
from facegan.export.onnx import VARIANTS as ORT_VARIANTS  # noqa: E402
from facegan.export.onnx import read_metadata as read_onnx_metadata  # noqa: E402
from facegan.export.onnx import verify_onnx  # noqa: E402
from facegan.export.torchscript import read_metadata as read_ts_metadata  # noqa: E402
from facegan.export.torchscript import verify_torchscript  # noqa: E402
from facegan.runtime.errors import UsageError  # noqa: E402
from facegan.runtime.images import nchw_to_nhwc, to_uint8  # noqa: E402
from facegan.runtime.latents import NUMPY_RECIPE, latents  # noqa: E402
from facegan.runtime.metadata import parse_metadata  # noqa: E402
from facegan.train.checkpoint import load_checkpoint  # noqa: E402
from facegan.train.config import PRESETS  # noqa: E402
from facegan.train.errors import CheckpointError  # noqa: E402

FAST = dict(batch_sizes=(1, 3), seeds=(0, 1))  # parity cases enough for shape tests


def eager(ckpt: Path, z: np.ndarray, weights: str = "auto") -> np.ndarray:
    loaded = generator.load_generator(ckpt, weights)
    return generator.eager_reference(loaded, z, "float")


def run_onnx(path: Path, z: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["images"], {"z": z})[0]


def run_ts(path: Path, z: np.ndarray) -> np.ndarray:
    module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(torch.from_numpy(z)).numpy()


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") and p.suffix in (".tmp", ".probe")]


# --- the export module ----------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["convtranspose", "linear"])
def test_stem_gemm_equals_the_stem_it_replaces(stem):
    """Folding the stem and its BatchNorm into one Gemm changes nothing but float rounding."""
    from facegan.train.config import ModelConfig
    from facegan.train.models import Generator

    torch.manual_seed(0)
    g = Generator(ModelConfig(image_size=32, ngf=8, stem=stem)).eval()
    norm = g.stem[-2]
    with torch.no_grad():  # every BatchNorm parameter and statistic away from its default
        for t in (norm.weight, norm.bias, norm.running_mean):
            t.copy_(torch.randn_like(t))
        norm.running_var.copy_(torch.rand_like(norm.running_var) + 0.5)
        z = torch.randn(5, 100)
        x = z.reshape(5, 100, 1, 1) if stem == "convtranspose" else z
        torch.testing.assert_close(generator.StemGemm(g.stem)(x), g.stem[:-1](x), atol=1e-5, rtol=1e-5)  # before the ReLU
    assert not any(p.requires_grad for p in generator.StemGemm(g.stem).parameters())


# --- every preset, both formats --------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_exports_to_onnx_with_parity_and_metadata(tmp_path, preset):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", preset)
    result = export_onnx(ckpt, tmp_path / "g.onnx")

    assert result.path == tmp_path / "g.onnx" and result.path.is_file()
    assert result.parity["passed"] and result.parity["num_failed"] == 0
    # 2 ORT variants (optimisations ALL and DISABLED) x 3 batch sizes x 3 seeds
    assert result.parity["num_cases"] == 18
    assert {c["variant"] for c in result.parity["cases"]} == set(ORT_VARIANTS)
    assert result.parity["max_abs_diff"] <= parity.ATOL_FP32
    assert options.EXPORT_BATCH_SIZE not in result.parity["batch_sizes"]

    model = onnx.load(str(result.path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert [i.name for i in model.graph.input] == ["z"]
    assert [o.name for o in model.graph.output] == ["images"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")  # symbolic batch axis
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # The stem is one Gemm (BatchNorm folded in); each upsampling block one ConvTranspose.
    compute = [n.op_type for n in model.graph.node if n.op_type in ("Gemm", "MatMul", "ConvTranspose", "BatchNormalization")]
    assert compute == ["Gemm"] + ["ConvTranspose"] * 3  # 32 px: 4x4 -> 8 -> 16 -> 32

    meta = parse_metadata(read_onnx_metadata(result.path))
    cfg = load_checkpoint(ckpt)["model_config"]
    assert meta.preset == preset and meta.weights == "raw"
    assert meta.latent_dim == cfg["latent_dim"] and meta.image_size == 32
    assert meta.model_config["stem"] == cfg["stem"]
    assert meta.value_range == ((-1.0, 1.0) if cfg["activation"] == "tanh" else (0.0, 1.0))
    assert meta.output_dtype == "float32" and meta.output_layout == "NCHW" and meta.dtype == "fp32"
    assert meta.parity["passed"] and meta.parity["num_cases"] == 18 and "cases" not in meta.parity
    assert meta.extra["onnx_version"] == onnx.__version__
    assert meta.checkpoint_sha256 == result.parity["checkpoint_sha256"]
    assert json.loads((tmp_path / "g.onnx.parity.json").read_text())["num_cases"] == 18
    assert result.export_s > 0 and result.verify_s > 0
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_exports_to_torchscript_with_parity_and_metadata(tmp_path, preset):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", preset)
    result = export_torchscript(ckpt, tmp_path / "g.ts.pt")

    assert result.parity["passed"] and result.parity["num_cases"] == 9
    meta = parse_metadata(read_ts_metadata(result.path))
    assert meta.preset == preset and meta.output_dtype == "float32" and meta.parity["passed"]
    assert "onnx_version" not in meta.extra and result.metadata["facegan.torch_version"]
    z = latents(5, 4, meta.latent_dim)
    np.testing.assert_allclose(run_ts(result.path, z), eager(ckpt, z), atol=parity.ATOL_FP32)
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize(
    ("image_size", "preset"), [(64, "dcgan"), (128, "dcgan-linear"), (64, "dcgan-sigmoid")]
)
def test_larger_image_sizes_export_to_both_formats(tmp_path, image_size, preset):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", preset, image_size=image_size)
    onnx_result = export_onnx(ckpt, tmp_path / "g.onnx", **FAST)
    ts_result = export_torchscript(ckpt, tmp_path / "g.ts.pt", **FAST)
    for result in (onnx_result, ts_result):
        assert result.parity["passed"]
        assert result.parity["cases"][0]["shape"] == [1, 3, image_size, image_size]
        assert json.loads(result.metadata["facegan.image_size"]) == image_size


# --- dynamic batch, uint8, fp16, weights -------------------------------------------------------


def test_dynamic_batch_axis_runs_batch_1_and_256(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    onnx_path = export_onnx(ckpt, tmp_path / "g.onnx", verify=False).path
    ts_path = export_torchscript(ckpt, tmp_path / "g.ts.pt", verify=False).path
    for batch_size in (1, 256):
        z = latents(3, batch_size, 100)
        expected = eager(ckpt, z)
        for got in (run_onnx(onnx_path, z), run_ts(ts_path, z)):
            assert got.shape == (batch_size, 3, 32, 32) and got.dtype == np.float32
            assert np.max(np.abs(got - expected)) <= parity.ATOL_FP32


@pytest.mark.parametrize("preset", ["dcgan", "dcgan-sigmoid"])
def test_uint8_output_is_eager_output_denormalised_in_nhwc(tmp_path, preset):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", preset)
    onnx_result = export_onnx(ckpt, tmp_path / "g.onnx", output="uint8", **FAST)
    ts_result = export_torchscript(ckpt, tmp_path / "g.ts.pt", output="uint8", **FAST)
    z = latents(9, 16, 100)  # enough faces that the low-contrast sigmoid fixture spans the range
    loaded = generator.load_generator(ckpt)
    expected = nchw_to_nhwc(to_uint8(eager(ckpt, z), loaded.value_range))
    for result, run in ((onnx_result, run_onnx), (ts_result, run_ts)):
        got = run(result.path, z)
        assert got.dtype == np.uint8 and got.shape == (16, 32, 32, 3)
        assert np.max(np.abs(got.astype(np.int16) - expected.astype(np.int16))) <= 1
        assert got.min() < 32 and got.max() > 223 and len(np.unique(got)) > 150  # most of the range
        meta = parse_metadata(result.metadata)
        assert (meta.output_dtype, meta.output_layout, meta.value_range) == ("uint8", "NHWC", (0.0, 255.0))
        assert result.parity["atol"] == 1 and result.parity["atol_unit"] == "levels"


def test_uint8_tail_rounds_and_clips_exactly_like_to_uint8():
    # Values on and around rounding boundaries, and outside the range.
    values = np.array([-1.5, -1.0, -0.999, 0.0, 1 / 255, 3 / 255, 0.5, 0.999, 1.0, 1.2], dtype=np.float32)
    for value_range in ((-1.0, 1.0), (0.0, 1.0)):
        module = generator.ExportModule(torch.nn.Identity(), value_range, "fp32", "uint8")
        x = np.broadcast_to(values, (1, 2, 1, values.size)).copy()  # NCHW: C=2, H=1, W=10
        got = module(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(got, nchw_to_nhwc(to_uint8(x, value_range)))


def test_fp16_export_keeps_float32_edges_and_records_looser_tolerance(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    result = export_onnx(ckpt, tmp_path / "g.onnx", dtype="fp16", **FAST)
    model = onnx.load(str(result.path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    meta = parse_metadata(read_onnx_metadata(result.path))
    assert meta.dtype == "fp16" and meta.parity["atol"] == parity.ATOL_FP16
    assert 0 < result.parity["max_abs_diff"] <= parity.ATOL_FP16  # fp16 differs, within tolerance

    ts = export_torchscript(ckpt, tmp_path / "g.ts.pt", dtype="fp16", **FAST)
    assert parse_metadata(ts.metadata).dtype == "fp16" and ts.parity["passed"]
    assert run_ts(ts.path, latents(0, 2, 100)).dtype == np.float32


def test_the_fixture_signal_is_far_above_the_fp16_tolerance(tmp_path):
    """fp16 parity can only tell a right artifact from a wrong one if the images differ by more
    than its tolerance: per image, from a constant, from another seed's and from the raw weights'."""
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", ema=True)
    z = latents(0, 8, 100)
    ema, raw, other_seed = eager(ckpt, z, "ema"), eager(ckpt, z, "raw"), eager(ckpt, latents(1, 8, 100), "ema")
    floor = 10 * parity.ATOL_FP16
    for wrong in (np.full_like(ema, ema.mean()), raw, other_seed):
        assert np.abs(ema - wrong).reshape(len(z), -1).max(axis=1).min() > floor
    assert ema.max() - ema.min() > 1.0  # most of tanh's range [-1, 1]


class _Wrong(torch.nn.Module):
    """A generator gone wrong: a constant image, or the image of another latent (a wrong seed)."""

    def __init__(self, g: torch.nn.Module, how: str):
        super().__init__()
        self.g, self.how = g, how

    def forward(self, z):
        return self.g(z) * 0.0 if self.how == "constant" else self.g(-z)


@pytest.mark.parametrize("wrong", ["constant", "other-latents", "raw-weights"])
def test_fp16_parity_fails_for_a_wrong_artifact(tmp_path, monkeypatch, wrong):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", ema=True)
    original = publish.build_export_module

    def wrong_module(loaded, dtype, output):
        if wrong == "raw-weights":  # the metadata will say ema: the artifact holds the raw weights
            return original(generator.load_generator(ckpt, "raw"), dtype, output)
        module = original(loaded, dtype, output)
        module.generator = _Wrong(module.generator, wrong)
        return module

    monkeypatch.setattr(publish, "build_export_module", wrong_module)
    for export, name in ((export_onnx, "g.onnx"), (export_torchscript, "g.ts.pt")):
        with pytest.raises(ParityMismatchError) as info:
            export(ckpt, tmp_path / name, dtype="fp16", weights="ema", **FAST)
        report = info.value.report
        assert report["atol"] == parity.ATOL_FP16 and report["num_failed"] == report["num_cases"]
        assert report["max_abs_diff"] > 10 * parity.ATOL_FP16
        assert not (tmp_path / name).exists()


def test_weights_ema_and_raw_export_different_generators_and_say_which(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", ema=True)
    z = latents(0, 2, 100)
    auto = export_onnx(ckpt, tmp_path / "auto.onnx", **FAST)
    ema = export_onnx(ckpt, tmp_path / "ema.onnx", weights="ema", **FAST)
    raw = export_onnx(ckpt, tmp_path / "raw.onnx", weights="raw", **FAST)
    assert [r.metadata["facegan.weights"] for r in (auto, ema, raw)] == ["ema", "ema", "raw"]
    assert [r.parity["weights"] for r in (auto, ema, raw)] == ["ema", "ema", "raw"]
    np.testing.assert_array_equal(run_onnx(auto.path, z), run_onnx(ema.path, z))
    np.testing.assert_allclose(run_onnx(ema.path, z), eager(ckpt, z, "ema"), atol=parity.ATOL_FP32)
    np.testing.assert_allclose(run_onnx(raw.path, z), eager(ckpt, z, "raw"), atol=parity.ATOL_FP32)
    assert np.max(np.abs(run_onnx(ema.path, z) - run_onnx(raw.path, z))) > 10 * parity.ATOL_FP16
    # verify_* read the weights from the artifact's metadata: both verify against one checkpoint
    assert verify_onnx(raw.path, ckpt, **FAST)["weights"] == "raw"
    assert verify_onnx(ema.path, ckpt, **FAST)["weights"] == "ema"
    with pytest.raises(ParityMismatchError):  # ... and the raw artifact is not the EMA generator
        verify_onnx(raw.path, generator.load_generator(ckpt, "ema"), **FAST)

    no_ema = write_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="no EMA"):
        export_onnx(no_ema, tmp_path / "x.onnx", weights="ema")
    assert not (tmp_path / "x.onnx").exists()


def test_generator_is_exported_in_eval_mode(tmp_path):
    # With training-mode BatchNorm a batch of one latent repeated would not match eval-mode eager.
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    loaded = generator.load_generator(ckpt)
    assert not loaded.generator.training
    assert not generator.build_export_module(loaded, "fp32", "float").training
    path = export_torchscript(ckpt, tmp_path / "g.ts.pt", verify=False).path
    z = np.repeat(latents(0, 1, 100), 4, axis=0)
    np.testing.assert_allclose(run_ts(path, z), eager(ckpt, z), atol=1e-6)


# --- parity failures -----------------------------------------------------------------------------


def test_perturbed_onnx_initializer_fails_parity(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    path = export_onnx(ckpt, tmp_path / "g.onnx", **FAST).path
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    array = onnx.numpy_helper.to_array(init) + np.float32(0.05)
    init.CopyFrom(onnx.numpy_helper.from_array(array, init.name))
    onnx.save(model, str(path))

    with pytest.raises(ParityError) as info:
        verify_onnx(path, ckpt, **FAST)
    report = info.value.report
    assert not report["passed"] and report["num_failed"] == report["num_cases"] == 8
    assert all("max abs diff" in c["problems"][0] for c in report["cases"])


def _perturb_torchscript(path: Path) -> None:
    """Add 0.05 to the largest frozen constant, rewriting the zip archive in place."""
    with zipfile.ZipFile(path) as zin:
        infos = [(i, zin.read(i.filename)) for i in zin.infolist()]
    constants = [i for i, _ in infos if "/constants/" in i.filename and not i.filename.endswith(".pkl")]
    target = max(constants, key=lambda i: i.file_size).filename
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zout:
        for info, data in infos:
            if info.filename == target:
                data = (np.frombuffer(data, dtype=np.float32) + np.float32(0.05)).tobytes()
            zout.writestr(info, data)


def test_perturbed_torchscript_weight_fails_parity(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    path = export_torchscript(ckpt, tmp_path / "g.ts.pt", **FAST).path
    assert verify_torchscript(path, ckpt, **FAST)["passed"]
    _perturb_torchscript(path)
    with pytest.raises(ParityMismatchError) as info:
        verify_torchscript(path, ckpt, **FAST)
    assert info.value.report["num_failed"] == 4


def test_artifact_of_another_checkpoint_fails_parity(tmp_path):
    ckpt0 = write_checkpoint(tmp_path / "a.pt", seed=0)
    ckpt1 = write_checkpoint(tmp_path / "b.pt", seed=1)
    path = export_torchscript(ckpt0, tmp_path / "g.ts.pt", verify=False).path
    with pytest.raises(ParityMismatchError):
        verify_torchscript(path, ckpt1, **FAST)


def test_failed_parity_during_export_leaves_no_artifact(tmp_path, monkeypatch):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    original = parity.eager_reference
    monkeypatch.setattr(parity, "eager_reference", lambda *a: original(*a) + np.float32(1e-3))
    out = tmp_path / "out"
    for export, name in ((export_onnx, "g.onnx"), (export_torchscript, "g.ts.pt")):
        with pytest.raises(ParityMismatchError):
            export(ckpt, out / name, **FAST)
        assert not (out / name).exists()
        report = json.loads((out / f"{name}.parity-failed.json").read_text())  # kept to diagnose
        assert report["passed"] is False and report["artifact"] == name
        assert not (out / f"{name}.parity.json").exists()
    assert no_temp_files(out)


def test_failed_overwrite_keeps_the_existing_artifact_and_its_report(tmp_path, monkeypatch):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    good = export_onnx(ckpt, tmp_path / "g.onnx", **FAST).path
    before = good.read_bytes(), (tmp_path / "g.onnx.parity.json").read_text()
    original = parity.eager_reference
    monkeypatch.setattr(parity, "eager_reference", lambda *a: original(*a) + np.float32(1e-3))
    with pytest.raises(ParityMismatchError) as failure:
        export_onnx(ckpt, good, force=True, **FAST)
    assert "g.onnx" in str(failure.value) and ".tmp" not in str(failure.value)  # names the artifact
    assert (good.read_bytes(), (tmp_path / "g.onnx.parity.json").read_text()) == before
    assert json.loads((tmp_path / "g.onnx.parity-failed.json").read_text())["passed"] is False
    monkeypatch.undo()
    export_onnx(ckpt, good, force=True, **FAST)  # a later success clears the failed report
    assert not (tmp_path / "g.onnx.parity-failed.json").exists()


def test_artifact_names_do_not_depend_on_how_the_checkpoint_path_is_written(tmp_path, monkeypatch):
    run = tmp_path / "myrun"
    write_checkpoint(run / "checkpoints" / "last.pt")
    expected = tmp_path / "myrun-g.onnx"
    assert publish.default_artifact_path(run / "checkpoints" / "last.pt", "onnx") == expected
    monkeypatch.chdir(run / "checkpoints")
    assert publish.default_artifact_path(Path("last.pt"), "onnx") == expected
    assert publish.default_artifact_path(Path(".."), "onnx") == expected


def test_failed_overwrite_keeps_the_existing_artifact(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    path = export_onnx(ckpt, tmp_path / "g.onnx", **FAST).path
    before = path.read_bytes()
    with pytest.raises(ParityError):  # fp16 can never meet a zero tolerance
        export_onnx(ckpt, path, dtype="fp16", atol=0.0, force=True, **FAST)
    assert path.read_bytes() == before


def test_compare_case_flags_names_shapes_dtypes_and_nonfinite():
    expected = np.zeros((2, 3, 4, 4), np.float32)
    ok = parity.compare_case(expected + 1e-6, expected, ["images"], expected_dtype="float32", atol=1e-4)
    assert ok["passed"] and ok["max_abs_diff"] == pytest.approx(1e-6)
    nan = expected.copy()
    nan[0, 0, 0, 0] = np.nan
    bad = parity.compare_case(nan, expected, ["images"], expected_dtype="float32", atol=1e-4)
    assert not bad["passed"] and bad["nonfinite"] == 1
    assert not parity.compare_case(expected, expected, ["out"], expected_dtype="float32", atol=1)["passed"]
    assert not parity.compare_case(expected[:1], expected, ["images"], expected_dtype="float32", atol=1)["passed"]
    assert not parity.compare_case(expected.astype(np.float64), expected, ["images"], expected_dtype="float32", atol=1)["passed"]
    u8 = np.full((1, 2, 2, 3), 255, np.uint8)
    assert parity.max_abs_diff(u8, np.zeros_like(u8)) == 255  # no uint8 wrap-around


def test_default_tolerances_are_named_per_precision():
    assert parity.default_atol("fp32", "float", (-1, 1)) == parity.ATOL_FP32
    assert parity.default_atol("fp16", "float", (-1, 1)) == parity.ATOL_FP16
    assert parity.default_atol("fp32", "uint8", (-1, 1)) == 1
    assert parity.default_atol("fp16", "uint8", (-1, 1)) == 4  # ceil(0.02 * 127.5) + 1
    assert parity.default_atol("fp16", "uint8", (0, 1)) == 7  # ceil(0.02 * 255) + 1


# --- paths, overwrites, bad inputs -----------------------------------------------------------------


def test_default_artifact_paths_follow_the_run(tmp_path):
    run = tmp_path / "runs" / "celeba"
    (run / "checkpoints").mkdir(parents=True)
    assert publish.default_artifact_path(run, "onnx") == tmp_path / "runs" / "celeba-g.onnx"
    assert publish.default_artifact_path(run / "checkpoints" / "last.pt", "torchscript") == tmp_path / "runs" / "celeba-g.ts.pt"
    snap = run / "checkpoints" / "snapshot-000120.pt"
    assert publish.default_artifact_path(snap, "onnx").name == "celeba-snapshot-000120-g.onnx"
    assert publish.default_artifact_path(tmp_path / "x.pt", "onnx", tmp_path / "o") == tmp_path / "o" / "x-g.onnx"


def test_existing_output_needs_force(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "g.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="--force"):
        export_onnx(ckpt, out, verify=False)
    assert out.read_bytes() == b"keep me"
    export_onnx(ckpt, out, verify=False, force=True)
    assert parse_metadata(read_onnx_metadata(out)).parity is None
    assert not (tmp_path / "g.onnx.parity.json").exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04truncated"])
def test_foreign_files_raise_checkpoint_error(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError):
        export_onnx(bad, tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_truncated_checkpoint_raises_checkpoint_error(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        export_torchscript(ckpt, tmp_path / "g.ts.pt")
    assert list(tmp_path.iterdir()) == [ckpt]


TORCHSCRIPT_WITHOUT_FACEGAN = r"""
import json, sys, warnings
sys.modules["facegan"] = None  # any `import facegan...` now raises ImportError
warnings.simplefilter("ignore")
import numpy as np, torch
try:
    import facegan.runtime
except ImportError:
    pass
else:
    raise SystemExit("facegan was importable")
extra = {"facegan.json": ""}
module = torch.jit.load(sys.argv[1], _extra_files=extra)
meta = json.loads(extra["facegan.json"])
dim = int(meta["facegan.latent_dim"])
z = np.random.default_rng(0).standard_normal((7, dim), dtype=np.float32)
out = module(torch.from_numpy(z))
np.save(sys.argv[2], out.detach().numpy())
print(meta["facegan.output_name"], tuple(out.shape))
"""


def test_torchscript_loads_with_torch_alone(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", "dcgan-linear")
    path = export_torchscript(ckpt, tmp_path / "g.ts.pt", verify=False).path
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", TORCHSCRIPT_WITHOUT_FACEGAN, str(path), str(tmp_path / "out.npy")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "images (7, 3, 32, 32)"
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), eager(ckpt, latents(0, 7, 100, recipe=NUMPY_RECIPE)), atol=1e-5)  # the script draws numpy's latents


def test_opset_is_pinned_or_refused(tmp_path):
    """The opset asked for is the opset written; one torch.onnx cannot produce is an error, not 18."""
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    result = export_onnx(ckpt, tmp_path / "g20.onnx", opset=20, **FAST)
    assert [o.version for o in onnx.load(str(result.path)).opset_import if o.domain in ("", "ai.onnx")] == [20]
    for bad in (17, onnx.defs.onnx_opset_version() + 1, "18"):
        with pytest.raises(UsageError, match="opset"):  # a ValueError too
            export_onnx(ckpt, tmp_path / "bad.onnx", opset=bad)
    assert not (tmp_path / "bad.onnx").exists()


def test_a_silent_opset_fallback_of_the_exporter_is_an_error(tmp_path, monkeypatch):
    """torch.onnx only warns when it cannot convert to the opset asked for; facegan refuses."""
    real_export = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: real_export(*a, **{**k, "opset_version": 18}))
    with pytest.raises(ExportError, match="wrote opset 18, not the requested 20"):
        export_onnx(write_checkpoint(tmp_path / "ckpt.pt"), tmp_path / "g.onnx", opset=20)
    assert not (tmp_path / "g.onnx").exists()


def test_export_formats_needs_force_for_existing_artifacts(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    paths = {"onnx": tmp_path / "ckpt-g.onnx", "torchscript": tmp_path / "ckpt-g.ts.pt"}
    paths["onnx"].write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists"):
        export_formats(ckpt, ("onnx", "torchscript"), verify=False)
    assert paths["onnx"].read_bytes() == b"precious" and not paths["torchscript"].exists()
    results = export_formats(ckpt, ("onnx", "torchscript"), verify=False, force=True)
    assert {fmt: r.path for fmt, r in results.items()} == paths and paths["onnx"].read_bytes() != b"precious"
    assert no_temp_files(tmp_path)


def test_a_failed_export_creates_no_output_folder(tmp_path):
    """The destination's folder is made only to publish: a failure before that leaves none."""
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    failures = [
        (CheckpointError, lambda out: export_onnx(bad, out / "g.onnx")),
        (CheckpointError, lambda out: export_formats(bad, ("onnx", "torchscript"), out)),
        (UsageError, lambda out: export_onnx(ckpt, out / "g.onnx", opset=17)),
        (UsageError, lambda out: export_torchscript(ckpt, out / "g.ts.pt", seeds=(-1,))),
        (CheckpointError, lambda out: export_torchscript(ckpt, out / "g.ts.pt", weights="ema")),
    ]
    for error, export in failures:
        out = tmp_path / "new" / "deeper"
        with pytest.raises(error):
            export(out)
        assert not (tmp_path / "new").exists()
    # ... and a success makes the folders it needs.
    assert export_torchscript(ckpt, tmp_path / "new" / "deeper" / "g.ts.pt", verify=False).path.is_file()


@pytest.mark.parametrize(
    "bad",
    [dict(batch_sizes=()), dict(batch_sizes=(0, 3)), dict(seeds=(-1,)), dict(seeds=()), dict(atol=-1.0),
     dict(atol=float("nan")), dict(dtype="int8"), dict(output="rgb")],
)
def test_bad_options_are_usage_errors_and_value_errors(bad):
    with pytest.raises(UsageError) as info:
        options.ExportOptions(**bad)
    assert isinstance(info.value, ValueError)


def test_bad_weights_and_format_are_usage_errors(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(UsageError, match="weights"):
        generator.load_generator(ckpt, "best")
    with pytest.raises(UsageError, match="format"):
        publish.default_artifact_path(ckpt, "tflite")
