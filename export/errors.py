"""The errors only export raises (the CLI maps them to exit 1, as every `FaceganError`)."""

from __future__ import annotations

from facegan.runtime.errors import FaceganError


class ExportError(FaceganError):
    """An export cannot be written: existing output without force, unwritable folder, bad model."""


class ParityError(FaceganError):
    """An exported artifact does not compute what the eager generator computes."""


class ParityMismatchError(ParityError):
    """A parity check failed; `report` holds every case, passing and failing."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report


__all__ = ["ExportError", "ParityError", "ParityMismatchError"]
