"""The errors every part of facegan shares, and the one-line form the CLIs print.

Libraries raise `FaceganError` subclasses; only the CLIs catch them (`facegan.runtime.console`):
one line on stderr and exit 1, or exit 2 for a `UsageError`. Each package owns the errors only it
raises (training: `facegan.train.errors`, export: `facegan.export.errors`); the runtime holds the
base class, the usage error, and what the runtime itself raises.
"""

from __future__ import annotations


class FaceganError(Exception):
    """Base class of every error facegan raises on purpose (never a bug)."""


class UsageError(FaceganError, ValueError):
    """A bad argument or flag: the caller's mistake, named in the message (CLIs exit 2).

    Also a `ValueError`, so library callers can catch the usual type for a bad argument.
    """


class MetadataError(FaceganError):
    """An exported model lacks facegan metadata, or carries metadata this version cannot read."""


class ProviderError(FaceganError):
    """onnxruntime did not apply the execution provider that was asked for (strict mode)."""


def one_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (at most `limit` characters), or its type's name."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__
