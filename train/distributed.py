"""Multi-process training through `torchrun`: env:// rendezvous, one process per GPU (or CPU, gloo).

`torchrun --nproc-per-node N -m facegan.train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; without
them everything here is a no-op for a single process. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0  # global rank of this process
    local_rank: int = 0  # rank on this node: picks the GPU
    world_size: int = 1  # number of processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_rank() -> int:
    """This process's global rank as torchrun set it (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def setup(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun; nccl for CUDA, gloo otherwise."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ["WORLD_SIZE"]))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", init_method="env://")
    return info


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def average_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running stats) over ranks.

    DDP runs with broadcast_buffers=False (D sees real and fake batches in separate forward passes,
    which buffer broadcasting breaks), so running statistics drift apart per rank. Averaging them
    before every snapshot makes all ranks hold, and rank 0 save, the same complete model.
    """
    if not info.enabled:
        return
    for buf in module.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(info.world_size)


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
