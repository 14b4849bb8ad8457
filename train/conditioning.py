"""What a conditional run conditions on: the chosen attributes of every training image, and their prior.

    cond = conditioning(train_cfg.condition, load_labels(spec, data))   # None for an unconditional run
    cond.batch(indices)            # float (B, k) attributes of those images: the reals' and the fakes'
    cond.draw(n, seed)             # float (n, k) drawn as the runtime draws them for face 0..n-1 of a seed
    cond.frequencies               # float (k,) share of images with each attribute (the balanced loss's weights)
    cond.undecided                 # float (k,) D's target on G's faces: 0.5, or 1/m for a class column's m classes
    cond.summary                   # the checkpoint's "attributes" key, copied into the exported model

Fakes are trained with the attribute vectors of the real batch, so G sees exactly the joint
distribution of the data (hair colours never together) and D compares like with like. Pictures,
FID and BatchNorm recalibration draw from the recorded prior with runtime.attributes, so a run's
sample grid is what `FaceGenerator.generate(64, seed)` gives for the exported model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np
import torch

from facegan.runtime.attributes import AttributeSpace, attribute_vectors, summarize
from facegan.runtime.errors import UsageError

from .data.labels import CLASS_PREFIX, Labels

ALL = "all"  # --condition all: every attribute the labels have


@dataclass(frozen=True, eq=False)
class Conditioning:
    names: tuple[str, ...]  # the attributes G and D take, in input order
    values: torch.Tensor  # uint8 (N, k): row i is image i of the training data
    summary: dict  # runtime.attributes.summarize(names, values): names, frequencies, rows, prior

    @cached_property
    def space(self) -> AttributeSpace:
        return AttributeSpace.from_json(self.summary, "the training labels")

    @cached_property
    def frequencies(self) -> torch.Tensor:
        """float32 (k,): the share of training images with each attribute on."""
        return self.values.float().mean(dim=0)

    @cached_property
    def undecided(self) -> torch.Tensor:
        """float32 (k,): the reading of "no evidence either way", D's target for G's faces. A binary
        attribute: 0.5. The classes of a class column (label=0 .. label=9, one on per image): 1/m,
        the uniform over its m outcomes (its classes here, and "none" if some images have none of
        them), where 0.5 each would read a fake as five digits at once."""
        target = torch.full((len(self.names),), 0.5)
        classes = [j for j, name in enumerate(self.names) if name.startswith(CLASS_PREFIX)]
        if classes:
            on = self.values[:, classes].sum(dim=1)
            if int(on.max()) <= 1:  # mutually exclusive, as a class column's one-hot attributes are
                target[classes] = 1.0 / (len(classes) + int(bool((on == 0).any())))
        return target

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """float32 (B, k) attributes of the images `indices` of the data."""
        return self.values[torch.as_tensor(indices, dtype=torch.long)].to(device, torch.float32)

    def draw(self, n: int, seed: int, device: torch.device | str = "cpu", start: int = 0) -> torch.Tensor:
        """float32 (n, k) attributes of faces start..start+n-1 of `seed`, as the runtime draws them."""
        return torch.from_numpy(attribute_vectors(self.space, n, seed, start=start)).to(device)


def conditioning(condition: str, labels: Labels | None) -> Conditioning | None:
    """The attributes `--condition` names (or all of them), read from `labels`; None for ""."""
    if not condition:
        return None
    if labels is None:
        raise UsageError("--condition needs labelled data")
    wanted = list(labels.names) if condition == ALL else condition.split(",")
    unknown = [n for n in wanted if n not in labels.names]
    if unknown:
        raise UsageError(f"--condition: no attribute {', '.join(unknown)} in {labels.source}; "
                         f"it has {', '.join(labels.names)} (or use all)")
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"--condition names an attribute twice: {condition}")
    columns = [labels.names.index(n) for n in wanted]
    values = np.ascontiguousarray(labels.values[:, columns])
    return Conditioning(tuple(wanted), torch.from_numpy(values), summarize(wanted, values))


def check_resumed(cond: Conditioning | None, ckpt: dict) -> None:
    """A resumed run must condition on the same attributes, in the same order, as it began with."""
    had = tuple((ckpt.get("attributes") or {}).get("names", ()))
    now = cond.names if cond is not None else ()
    if had != now:
        raise UsageError(f"the checkpoint was trained on attributes ({', '.join(had) or 'none'}), "
                         f"this run on ({', '.join(now) or 'none'}); resume needs the same --condition")


__all__ = ["ALL", "Conditioning", "check_resumed", "conditioning"]
