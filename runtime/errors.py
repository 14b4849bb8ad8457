"""Domain errors shared by every part of facegan.

Libraries raise these; only the CLIs catch them and turn them into one line on stderr and an exit
code (1 for runtime failures). They live in the runtime because it is the base every part imports.
"""


class FaceganError(Exception):
    """Base class of every error facegan raises on purpose (never a bug)."""


class DataError(FaceganError):
    """The training data is missing, empty or unreadable."""


class CheckpointError(FaceganError):
    """A checkpoint is missing, truncated, foreign or unsafe to load."""


class MetadataError(FaceganError):
    """An exported model lacks facegan metadata, or carries metadata this version cannot read."""


class ParityError(FaceganError):
    """An exported artifact does not compute what the eager generator computes."""


class ProviderError(FaceganError):
    """onnxruntime did not apply the execution provider that was asked for (strict mode)."""


class MissingExtraError(FaceganError):
    """A command needs an optional extra (`facegan[train]`, ...) that is not installed."""
