"""The errors only training raises (the CLIs map them to exit 1, as every `FaceganError`)."""

from __future__ import annotations

from facegan.runtime.errors import FaceganError


class DataError(FaceganError):
    """The training data is missing, empty or unreadable."""


class CheckpointError(FaceganError):
    """A checkpoint is missing, truncated, foreign or unsafe to load."""


class MissingExtraError(FaceganError):
    """A feature needs an optional extra (`facegan[metrics]`, FID weights) that is not installed."""


class Interrupted(FaceganError):
    """Training was stopped by Ctrl-C after saving a checkpoint (the CLI exits 130)."""


__all__ = ["CheckpointError", "DataError", "Interrupted", "MissingExtraError"]
