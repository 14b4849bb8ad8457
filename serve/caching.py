"""HTTP caching for images that never change: a seed always gives the same picture.

    tag = etag(model_sha256, "faces?format=png&n=4&nrow=8&seed=7&truncation=1.0")
    if not_modified(request.headers.get("if-none-match"), tag): -> 304

The ETag is strong (the same bytes, not just the same pixels): it hashes the model file's sha256,
the canonical query (parsed values, so `seed=07` and `seed=7` share it) and the versions of the
code that turns them into bytes (facegan, pillow). Image responses may be cached for a year.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import PIL

from facegan.runtime import __version__

CACHE_FOREVER = "public, max-age=31536000, immutable"  # a year: RFC 9111's customary "never expires"
NO_CACHE = "no-cache"  # may be stored, but revalidated: the page files change with facegan's version
NO_STORE = "no-store"  # health and errors: never reuse
CODER = f"facegan {__version__}; pillow {PIL.__version__}"  # what turns pixels into bytes (read once)


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_query(route: str, params: dict[str, object]) -> str:
    """`route?k=v&...` with the parsed values, keys sorted: one spelling per distinct response."""
    return route + "?" + "&".join(f"{k}={_canonical(v)}" for k, v in sorted(params.items()))


def _canonical(value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: 0.70 and 0.7 are both "0.7"
    return str(getattr(value, "value", value))  # str Enums by their value


def etag(model_sha256: str, query: str) -> str:
    """A strong ETag (quoted) for the response to `query` from the model with `model_sha256`."""
    digest = hashlib.sha256(f"{model_sha256}\n{CODER}\n{query}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header matches `tag` (RFC 9110: weak comparison, lists, "*")."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in if_none_match.split(","))


__all__ = ["CACHE_FOREVER", "NO_CACHE", "NO_STORE", "canonical_query", "etag", "file_sha256", "not_modified"]
