"""The data sets: N square uint8 images served in deterministic, resumable, rank-disjoint batches.

Two kinds share one interface (`ImageData`): `ArrayImages` holds the decoded images as one
(N, 3, H, W) uint8 array (the memory-mapped cache), `DecodedImages` decodes (or draws) its items
again every epoch through DataLoader workers. Batch order is `DistributedSampler`'s (shuffled per
epoch, disjoint across ranks); a resumed epoch starts at any batch and never decodes the ones before.

    for real in data.batches(epoch, batch_size=128, seed=0, start_batch=resume_batch):
        x = normalize(real.to(device), model_cfg.value_range)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..errors import DataError
from .decode import DecodeDataset, Load


class ImageData(ABC):
    """What training, the pictures and FID use of a data set; subclasses say where pixels come from."""

    def __init__(self, image_size: int, description: str, fingerprint: str, skipped: Sequence[tuple[str, str]] = ()):
        self.image_size = image_size  # side of the square images in pixels
        self.description = description  # e.g. "toy-faces (seed 0) (10000 images, 64 px)"
        self.fingerprint = fingerprint  # cache_key of the source: which pixels these are
        self.skipped: list[tuple[str, str]] = list(skipped)  # (path, reason) of unreadable files
        self.cache_path: Path | None = None  # the memory-mapped cache in use, if any

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def take(self, indices: Sequence[int]) -> torch.Tensor:
        """The images at `indices`, in that order, as uint8 (n, 3, H, W)."""

    @abstractmethod
    def _serve(self, batches: list[list[int]], seed: int) -> Iterator[torch.Tensor]:
        """The batches of image indices as uint8 tensors; `seed` seeds any worker processes."""

    def sample(self, n: int) -> torch.Tensor:
        """The first min(n, len) images as uint8 (n, 3, H, W): for the real-image grid."""
        return self.take(range(min(n, len(self))))

    def _sampler(self, batch_size: int, seed: int, rank: int, world_size: int) -> DistributedSampler:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        sampler = DistributedSampler(
            range(len(self)), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        if len(sampler) < batch_size:
            raise DataError(
                f"{len(self)} images give no full batch of {batch_size} per process on {world_size} "
                f"process(es); use a smaller batch size or more images"
            )
        return sampler

    def batches_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        """Full batches of `batch_size` each process gets per epoch."""
        return len(self._sampler(batch_size, 0, 0, world_size)) // batch_size

    def epoch_indices(
        self, epoch: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> list[list[int]]:
        """The image indices of every full batch of this rank in this epoch."""
        sampler = self._sampler(batch_size, seed, rank, world_size)
        sampler.set_epoch(epoch)
        order = list(sampler)
        return [order[b * batch_size : (b + 1) * batch_size] for b in range(len(order) // batch_size)]

    def batches(
        self, epoch: int, batch_size: int, seed: int, start_batch: int = 0, rank: int = 0, world_size: int = 1
    ) -> Iterator[torch.Tensor]:
        """uint8 (B, C, H, W) batches of this rank's share of `epoch`, from batch `start_batch` on.

        Order: DistributedSampler(shuffle=True, seed=seed, drop_last=True).set_epoch(epoch); the
        incomplete last batch is dropped; skipped batches are never decoded.
        """
        return self.serve(self.epoch_indices(epoch, batch_size, seed, rank, world_size)[start_batch:], seed)

    def serve(self, batches: list[list[int]], seed: int) -> Iterator[torch.Tensor]:
        """The images of each list of indices in `batches` (from epoch_indices), as uint8 batches."""
        return self._serve(batches, seed)


class ArrayImages(ImageData):
    """Images already decoded: an (N, 3, H, W) uint8 array in memory or memory-mapped from the cache."""

    def __init__(self, images: np.ndarray, description: str, fingerprint: str,
                 skipped: Sequence[tuple[str, str]] = (), cache_path: Path | None = None):
        super().__init__(images.shape[-1], description, fingerprint, skipped)
        self.images = images
        self.cache_path = cache_path

    def __len__(self) -> int:
        return len(self.images)

    def take(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.from_numpy(np.array(self.images[np.asarray(indices, dtype=np.int64)]))

    def _serve(self, batches: list[list[int]], seed: int) -> Iterator[torch.Tensor]:
        return (self.take(idx) for idx in batches)


class DecodedImages(ImageData):
    """Items decoded (or drawn) again every epoch by `workers` DataLoader processes; nothing kept."""

    def __init__(self, items: Sequence, load: Load, image_size: int, workers: int, description: str,
                 fingerprint: str, skipped: Sequence[tuple[str, str]] = ()):
        super().__init__(image_size, description, fingerprint, skipped)
        self._dataset = DecodeDataset(items, load, strict=True)
        self._workers = workers

    def __len__(self) -> int:
        return len(self._dataset)

    def take(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([self._dataset[int(i)] for i in indices])

    def _serve(self, batches: list[list[int]], seed: int) -> Iterator[torch.Tensor]:
        loader = DataLoader(
            self._dataset,
            batch_sampler=batches,
            num_workers=self._workers,
            # Starting a DataLoader draws its workers' base seed from the global torch RNG, which
            # the training noise also comes from: an epoch started mid-way on resume would shift
            # every later draw. A generator of its own keeps the global stream untouched.
            generator=torch.Generator().manual_seed(seed),
        )
        return iter(loader)


def normalize(batch_uint8: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 images to float32 in `value_range`: the inverse of facegan.runtime.images.to_uint8."""
    if batch_uint8.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 batch, got {batch_uint8.dtype}")
    lo, hi = float(value_range[0]), float(value_range[1])
    return batch_uint8.to(torch.float32) * ((hi - lo) / 255.0) + lo


__all__ = ["ArrayImages", "DecodedImages", "ImageData", "normalize"]
