"""onnxruntime sessions made explicitly: providers from a `device` argument, threads, strict mode.

onnxruntime silently falls back to the CPU when the CUDA provider cannot load, and its
`get_available_providers()` lists `AzureExecutionProvider` first on some installs, so facegan never
relies on defaults: providers are always passed, the applied ones are read back from the session
and logged, and `strict=True` turns a CUDA fallback into a ProviderError.

    session = make_session("celeba-g.onnx", device="auto", threads=None, strict=False)
    session.get_providers()   # what onnxruntime really applied, e.g. ["CPUExecutionProvider"]

`make_session` is the entry point and checks `device` once (FaceGenerator relies on it);
`select_providers` takes a checked device, `session_options` checks `threads`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import FaceganError, MetadataError, ProviderError, UsageError, one_line

log = logging.getLogger("facegan.runtime")

DEVICES = ("auto", "cpu", "cuda")  # the `device` argument: "auto" is CUDA when onnxruntime offers it
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# Intra-op threads when the caller gives none. 0 lets onnxruntime use one thread per physical
# core: on an idle 2-core machine it was fastest for the 64x64 DCGAN generator (~1,400 images/s
# at batch 1-256; intra 2 the same, intra 1 0.6-0.7x). Beside a busy neighbour its spinning
# threads lose: with one core kept busy, threads=1 measured 1.2-1.7x faster at batch 16-256, so
# apps that run beside other work, or several generators side by side, should pass threads=1
# (README "Threads"; benchmarks/bench_generate.py measures both).
DEFAULT_THREADS = 0


def check_device(device: object) -> str:
    """Return `device` lower-cased, or raise UsageError naming the argument."""
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return device.lower()


def check_threads(threads: object) -> int:
    """None -> DEFAULT_THREADS; otherwise an int >= 0 (0 = onnxruntime's choice)."""
    if threads is None:
        return DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise UsageError(f"threads must be an integer >= 0 (0 = onnxruntime default), got {threads!r}")
    return int(threads)


def select_providers(device: str, available: list[str]) -> list[str]:
    """Providers to request for a checked `device`, given onnxruntime's available list.

    "cpu" -> CPU only; "cuda" and "auto" -> CUDA then CPU when CUDA is available, else CPU only.
    CPU always comes last so onnxruntime can place nodes CUDA lacks kernels for. Requesting CUDA
    when it is not available only earns a warning from onnxruntime, so it is left out here and
    the caller decides (strict mode) whether that is an error.
    """
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options: intra-op threads as given (checked here), sequential, all graph optimisations.

    Sequential mode and ORT_ENABLE_ALL are onnxruntime's defaults, set here on purpose: a
    generator is a chain of layers, so the parallel executor has nothing to overlap (measured no
    faster), and disabling optimisations keeps BatchNorm unfused (measured slower).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = check_threads(threads)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


def make_session(
    path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    strict: bool = False,
) -> ort.InferenceSession:
    """Open `path` with providers for `device`; log what was applied; raise if strict and no CUDA.

    Raises FaceganError when the file is missing, MetadataError when it is not a loadable ONNX
    model, ProviderError when `strict` and CUDA was asked for (device "cuda", or "auto" with CUDA
    available) but the session did not apply it.
    """
    device = check_device(device)
    opts = session_options(threads)
    path = Path(path)
    if not path.is_file():
        raise FaceganError(f"model file not found: {path}")
    available = list(ort.get_available_providers())
    providers = select_providers(device, available)
    if device == "cuda" and CUDA not in providers:
        message = (
            f"device 'cuda' asked for but onnxruntime offers no {CUDA} "
            f"(available: {', '.join(available)}); install onnxruntime-gpu"
        )
        if strict:
            raise ProviderError(message)
        log.warning("%s; falling back to the CPU", message)
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types from pybind
        raise MetadataError(f"{path} is not a loadable ONNX model: {one_line(e)}") from e
    applied = list(session.get_providers())
    log.info("onnxruntime session for %s: requested %s, applied %s", path.name, providers, applied)
    if CUDA in providers and CUDA not in applied:
        message = f"{CUDA} was requested for {path.name} but onnxruntime applied only {', '.join(applied)}"
        if strict:
            raise ProviderError(message + " (CUDA/cuDNN libraries missing or no GPU?)")
        log.warning("%s; running on the CPU", message)
    return session


def uses_cuda(session: ort.InferenceSession) -> bool:
    """Whether the session really runs on the CUDA provider (I/O binding is worth it only then)."""
    return CUDA in session.get_providers()


def run_bound(session: ort.InferenceSession, feeds: dict[str, np.ndarray], output_name: str, out: np.ndarray) -> None:
    """Run with I/O binding, writing the model output straight into the host buffer `out`.

    On CUDA, `session.run` copies the output from the device into a fresh array that the caller
    then copies again; binding `out` (a C-contiguous slice of the preallocated result) lets
    onnxruntime copy the device buffer once, into its final place. It works on the CPU provider
    too (where it saves nothing). A new binding per call keeps this thread-safe.
    """
    if not out.flags.c_contiguous:
        raise UsageError("out must be C-contiguous to be bound as an output buffer")
    binding = session.io_binding()
    for name, value in feeds.items():  # z, and a conditional model's attributes
        binding.bind_cpu_input(name, np.ascontiguousarray(value, dtype=np.float32))
    binding.bind_output(
        output_name,
        device_type="cpu",
        device_id=0,
        element_type=out.dtype.type,
        shape=tuple(out.shape),
        buffer_ptr=out.ctypes.data,
    )
    session.run_with_iobinding(binding)
