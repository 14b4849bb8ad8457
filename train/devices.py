"""Where training runs: the torch device for a `--device` name, and the step's mixed precision.

    device = pick_device("auto")              # CUDA, then MPS, then the CPU
    with autocast_for(device, cfg.amp): ...   # bf16 autocast with --amp, else nothing
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from facegan.runtime.errors import FaceganError


def pick_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is missing is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FaceganError("--device cuda asked for, but torch sees no CUDA device")
    if name == "mps" and not torch.backends.mps.is_available():
        raise FaceganError("--device mps asked for, but MPS is not available")
    return torch.device(name)


def autocast_for(device: torch.device, amp: bool) -> AbstractContextManager:
    """The mixed-precision context of the step: bf16 autocast on CUDA or CPU with --amp, else none.

    bf16 keeps fp32's exponent range, so GAN losses need no gradient scaler. On a CPU with bf16
    instructions (AVX512-BF16, AMX) oneDNN runs the convolutions in bf16: the dcgan training step
    measured 1.7x eager on the 2-core AMD EPYC (1.9x with channels_last). Elsewhere bf16 is
    emulated and slower: a speed opt-in to measure (benchmarks/bench_train.py) before relying on it.
    """
    if not amp:
        return nullcontext()
    if device.type not in ("cuda", "cpu"):
        raise FaceganError(f"--amp runs on CUDA or the CPU, not on {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


__all__ = ["autocast_for", "pick_device"]
