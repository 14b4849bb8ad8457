"""FaceGenerator's checks: caller arguments (UsageError) and the graph against its metadata (MetadataError).

Kept apart from runtime/generator.py so the generator reads as what it does; every check is a
small function of plain values, usable by other front ends (the service checks with them too).
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import MetadataError, UsageError
from .metadata import ModelMetadata

MAX_IMAGES = 100_000  # per call: 100k 64x64 RGB images are 1.2 GB of uint8


def check_count(value: object, name: str, minimum: int = 1, maximum: int = MAX_IMAGES) -> int:
    """Return `value` as an int in [minimum, maximum], or raise UsageError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise UsageError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return int(value)


def check_latents(z: object, latent_dim: int) -> np.ndarray:
    """Return `z` as C-contiguous float32 (n, latent_dim), or raise UsageError naming `z`.

    Any real floating dtype is accepted (float64 from `np.random.randn` is common) and cast to
    float32, the input type of every facegan export; integers and anything else are refused.
    """
    if not isinstance(z, np.ndarray):
        raise UsageError(f"z must be a numpy array of shape (n, {latent_dim}), got {type(z).__name__}")
    if not np.issubdtype(z.dtype, np.floating):
        raise UsageError(f"z must be a floating-point array (float32), got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise UsageError(f"z must have shape (n, {latent_dim}), got {z.shape}")
    check_count(z.shape[0], "number of latents (z.shape[0])")
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, as a UsageError
        z32 = np.ascontiguousarray(z, dtype=np.float32)
    if not np.isfinite(z32).all():  # checked after the cast: 1e300 in float64 is inf in float32
        raise UsageError("z contains NaN or infinite values (as float32)")
    return z32


def check_attribute_rows(a: object, n: int, names: tuple[str, ...]) -> np.ndarray:
    """Return a conditional model's attributes input as C-contiguous float32 (n, k) in [0, 1]."""
    k = len(names)
    if not isinstance(a, np.ndarray):
        raise UsageError(
            f"attributes must be a numpy array of shape ({n}, {k}) for this conditional model "
            f"({', '.join(names)}), got {type(a).__name__}; gen.attribute_vectors(n, seed) draws some"
        )
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise UsageError(f"attributes must be a numeric array, got dtype {a.dtype}")
    if a.shape != (n, k):
        raise UsageError(f"attributes must have shape ({n}, {k}) (one row per latent), got {a.shape}")
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    if not ((a32 >= 0) & (a32 <= 1)).all():  # NaN fails too
        raise UsageError("attributes must be in [0, 1]")
    return a32


def check_signature(session, meta: ModelMetadata, source: str) -> None:
    """Raise MetadataError unless the graph's real inputs/outputs agree with the metadata."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    declared = [meta.input_name] + ([meta.attributes_input] if meta.attributes is not None else [])
    names = [i.name for i in inputs]
    if sorted(names) != sorted(declared):
        raise MetadataError(f"{source}: metadata inputs {declared} but the graph takes {names}")
    by_name = {o.name: o for o in outputs}
    if meta.output_name not in by_name:
        raise MetadataError(
            f"{source}: metadata output {meta.output_name!r} but the graph gives {list(by_name)}"
        )
    by_input = {i.name: i for i in inputs}
    y = by_name[meta.output_name]
    for tensor in by_input.values():
        if tensor.type != "tensor(float)":
            raise MetadataError(f"{source}: input {tensor.name!r} is {tensor.type}, facegan exports take tensor(float)")
    want_type = {"float32": "tensor(float)", "uint8": "tensor(uint8)"}[meta.output_dtype]
    if y.type != want_type:
        raise MetadataError(f"{source}: output {y.name!r} is {y.type} but metadata says {meta.output_dtype}")
    s, c = meta.image_size, meta.channels
    want = [(by_input[meta.input_name], [None, meta.latent_dim])]
    want.append((y, [None, c, s, s] if meta.output_layout == "NCHW" else [None, s, s, c]))
    if meta.attributes is not None:
        want.append((by_input[meta.attributes_input], [None, len(meta.attributes.names)]))
    for tensor, shape in want:
        if not _shape_agrees(tensor.shape, shape):
            raise MetadataError(
                f"{source}: {tensor.name!r} has shape {tensor.shape} but metadata implies "
                f"{['batch' if d is None else d for d in shape]}"
            )


def _shape_agrees(actual: list, want: list) -> bool:
    """Symbolic or unknown dims (str/None) agree with anything; the batch dim must not be fixed."""
    if len(actual) != len(want):
        return False
    if isinstance(actual[0], int):  # a fixed batch size: not what facegan exports, refuse it
        return False
    return all(not isinstance(a, int) or a == w for a, w in zip(actual[1:], want[1:]))


__all__ = ["MAX_IMAGES", "check_attribute_rows", "check_count", "check_latents", "check_signature"]
