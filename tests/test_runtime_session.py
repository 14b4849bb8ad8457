"""Provider selection, strict mode, threads and the CUDA I/O-binding path, all without a GPU.

A GPU is faked by monkeypatching `onnxruntime.get_available_providers` (what is offered) and by
wrapping real CPU sessions so `get_providers()` reports CUDA (what was applied).
"""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest
from runtime_models import conditional_model, toy_model

from facegan.runtime.errors import FaceganError, MetadataError, ProviderError
from facegan.runtime.generator import FaceGenerator
from facegan.runtime.session import CPU, CUDA, check_threads, make_session, run_bound, select_providers

AZURE = "AzureExecutionProvider"
REAL_SESSION = ort.InferenceSession
# onnxruntime warns when asked for a provider its build lacks; here that is the point of the test.
pytestmark = pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {dtype: toy_model(d / f"toy-{dtype}.onnx", output_dtype=dtype) for dtype in ("float32", "uint8")}


class FakeCudaSession:
    """A real CPU session that claims CUDA was applied, as onnxruntime-gpu on a GPU would."""

    requested: list = []

    def __init__(self, path, sess_options=None, providers=None):
        FakeCudaSession.requested = list(providers)
        self._session = REAL_SESSION(path, sess_options=sess_options, providers=[CPU])
        self.io_bindings = 0

    def get_providers(self):
        return [CUDA, CPU]

    def io_binding(self):
        self.io_bindings += 1
        return self._session.io_binding()

    def run(self, *args, **kwargs):
        raise AssertionError("a CUDA session should run through I/O binding")

    def __getattr__(self, name):
        return getattr(self._session, name)


def offer(monkeypatch, providers: list[str]) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(providers))


def record_sessions(monkeypatch) -> list[dict]:
    """Real CPU sessions, recording what make_session asked onnxruntime for."""
    calls = []

    def record(path, sess_options=None, providers=None):
        calls.append({"sess_options": sess_options, "providers": providers})
        return REAL_SESSION(path, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(ort, "InferenceSession", record)
    return calls


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("auto", [AZURE, CUDA, CPU], [CUDA, CPU]),
        ("auto", [AZURE, CPU], [CPU]),
        ("cuda", [AZURE, CUDA, CPU], [CUDA, CPU]),
        ("CUDA", [CUDA, CPU], [CUDA, CPU]),
        ("cuda", [AZURE, CPU], [CPU]),
        ("cpu", [AZURE, CUDA, CPU], [CPU]),
    ],
)
def test_providers_requested_for_each_device(models, monkeypatch, device, available, expected):
    offer(monkeypatch, available)
    calls = record_sessions(monkeypatch)
    make_session(models["float32"], device)
    assert [c["providers"] for c in calls] == [expected]
    assert select_providers(device.lower(), available) == expected


@pytest.mark.parametrize("device", ["gpu", "", None, 0, "cuda:0"])
def test_a_bad_device_is_refused_before_anything_is_opened(tmp_path, device):
    with pytest.raises(ValueError, match="device"):
        make_session(tmp_path / "not-there.onnx", device)


def test_session_defaults_are_the_documented_ones(models, monkeypatch):
    """README "Threads": threads=None is one thread per core, spinning on, all graph optimisations;
    providers are passed explicitly, and the default is not strict (a CUDA fallback only warns)."""
    offer(monkeypatch, [AZURE, CUDA, CPU])  # CUDA offered, but the recorded sessions apply only the CPU
    calls = record_sessions(monkeypatch)
    gen = FaceGenerator(models["float32"])  # every default: device "auto", not strict, threads None
    assert gen.providers == [CPU]
    (call,) = calls
    assert call["providers"] == [CUDA, CPU]  # explicit, never onnxruntime's own list (Azure first)
    opts = call["sess_options"]
    assert opts.intra_op_num_threads == 0  # 0: onnxruntime starts one thread per physical core
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        spinning = opts.get_session_config_entry("session.intra_op.allow_spinning")
    except Exception:  # not set: onnxruntime's default, spinning on
        spinning = "1"
    assert spinning == "1"
    applied = gen.session.get_session_options()
    assert applied.intra_op_num_threads == 0 and applied.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


@pytest.mark.parametrize("threads", [-1, 1.5, "2", True])
def test_bad_threads(threads):
    with pytest.raises(ValueError, match="threads"):
        check_threads(threads)


def test_cpu_session_applies_threads_and_cpu(models):
    session = make_session(models["float32"], "cpu", threads=1)
    assert session.get_providers() == [CPU]
    assert session.get_session_options().intra_op_num_threads == 1


def test_auto_requests_cuda_when_listed(models, monkeypatch, caplog):
    offer(monkeypatch, [AZURE, CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", FakeCudaSession)
    with caplog.at_level(logging.INFO, logger="facegan.runtime"):
        gen = FaceGenerator(models["float32"], device="auto", strict=True)
    assert FakeCudaSession.requested == [CUDA, CPU]
    assert gen.providers == [CUDA, CPU]
    assert gen.io_binding
    assert any(CUDA in r.getMessage() and r.name == "facegan.runtime" for r in caplog.records)


def test_strict_raises_when_cuda_listed_but_not_applied(models, monkeypatch):
    # onnxruntime lists CUDA, but the provider fails to load (no GPU / no cuDNN): it silently
    # applies the CPU only; strict mode must refuse that.
    offer(monkeypatch, [AZURE, CUDA, CPU])
    with pytest.raises(ProviderError, match="CUDAExecutionProvider"):
        FaceGenerator(models["float32"], device="cuda", strict=True)
    with pytest.raises(ProviderError):
        make_session(models["float32"], "auto", strict=True)


def test_non_strict_falls_back_to_cpu_with_a_warning(models, monkeypatch, caplog):
    offer(monkeypatch, [AZURE, CUDA, CPU])
    with caplog.at_level(logging.WARNING, logger="facegan.runtime"):
        gen = FaceGenerator(models["float32"], device="cuda")
    assert gen.providers == [CPU]
    assert not gen.io_binding
    assert any(r.levelno == logging.WARNING and "CPU" in r.getMessage() for r in caplog.records)


def test_cuda_without_onnxruntime_gpu(models, monkeypatch, caplog):
    offer(monkeypatch, [AZURE, CPU])
    with pytest.raises(ProviderError, match="onnxruntime-gpu"):
        make_session(models["float32"], "cuda", strict=True)
    with caplog.at_level(logging.WARNING, logger="facegan.runtime"):
        assert make_session(models["float32"], "cuda").get_providers() == [CPU]
    assert "onnxruntime-gpu" in caplog.text
    # auto without CUDA is not a failure, even when strict.
    assert make_session(models["float32"], "auto", strict=True).get_providers() == [CPU]


def test_azure_is_never_requested(models, monkeypatch):
    offer(monkeypatch, [AZURE, CPU])
    requested = []

    def record(path, sess_options=None, providers=None):
        requested.extend(providers)
        return REAL_SESSION(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", record)
    make_session(models["float32"], "auto")
    assert requested == [CPU]


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_io_binding_path_gives_the_same_pixels(models, monkeypatch, dtype):
    plain = FaceGenerator(models[dtype], device="cpu")
    offer(monkeypatch, [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", FakeCudaSession)
    bound = FaceGenerator(models[dtype], device="cuda", strict=True, batch_size=3)
    np.testing.assert_array_equal(bound.generate(7, seed=5), plain.generate(7, seed=5))
    assert bound.session.io_bindings == 3  # chunks of 3, 3, 1
    if dtype == "float32":
        np.testing.assert_array_equal(bound.generate(4, seed=1, output="float"), plain.generate(4, seed=1, output="float"))


def test_run_bound_writes_into_the_buffer(models):
    session = make_session(models["float32"], "cpu")
    z = np.random.default_rng(0).standard_normal((4, 8), dtype=np.float32)
    out = np.full((4, 3, 8, 8), np.nan, dtype=np.float32)
    run_bound(session, {"z": z}, "images", out)
    np.testing.assert_array_equal(out, session.run(None, {"z": z})[0])
    with pytest.raises(ValueError, match="contiguous"):
        run_bound(session, {"z": z}, "images", np.empty((4, 8, 8, 3), np.float32).transpose(0, 3, 1, 2))


def test_run_bound_binds_every_input_of_a_conditional_model(tmp_path):
    session = make_session(conditional_model(tmp_path / "c.onnx"), "cpu")
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random(tuple(2 if isinstance(d, str) else d for d in i.shape), dtype=np.float32)
             for i in session.get_inputs()}
    assert list(feeds) == ["z", "attributes"]
    out = np.full((2, 3, 8, 8), np.nan, dtype=np.float32)
    run_bound(session, feeds, "images", out)
    np.testing.assert_array_equal(out, session.run(None, feeds)[0])


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FaceganError, match="not found"):
        make_session(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx model" * 8)
    with pytest.raises(MetadataError, match="not a loadable ONNX model"):
        make_session(bad, "cpu")
