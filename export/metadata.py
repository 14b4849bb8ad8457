"""The runtime's contract as export writes it: the `facegan.*` map of one artifact.

The keys, their meaning and their validation belong to `facegan.runtime.metadata`; this module only
fills them from a loaded checkpoint, the export options and the parity summary. Each format stores
the map its own way (ONNX `metadata_props`, TorchScript's `facegan.json` extra file).
"""

from __future__ import annotations

import torch

from facegan.runtime import __version__ as facegan_version
from facegan.runtime.metadata import build_metadata

from .generator import LoadedGenerator
from .options import ExportOptions


def versions(**others: str) -> dict[str, str]:
    """The versions an artifact records (`facegan.<name>_version`): torch, facegan and `others`."""
    return {"torch": torch.__version__.split("+")[0], "facegan": facegan_version, **others}


def artifact_metadata(
    loaded: LoadedGenerator, options: ExportOptions, versions: dict[str, str], parity: dict | None = None
) -> dict[str, str]:
    """The full `facegan.*` key/value map of an artifact (strings only); `parity` is the summary."""
    return build_metadata(
        model_config=loaded.model_config,
        preset=loaded.preset,
        weights=loaded.weights,
        train_step=loaded.train_step,
        train_epoch=loaded.train_epoch,
        checkpoint_sha256=loaded.checkpoint_sha256,
        output_dtype=options.output_dtype,
        dtype=options.dtype,
        versions=versions,
        parity=parity,
        attributes=loaded.attributes,
        directions=loaded.directions,
    )


__all__ = ["artifact_metadata", "versions"]
