"""Directions: latent edits of `facegan.directions` ("more smile", "glasses on"), and applying them.

facegan-directions fits a linear boundary per attribute in z (InterFaceGAN) and records its unit
normal; an edit {name: alpha} moves z by alpha * normal, alpha in units of z's standard deviation
(+2 = two sd toward the attribute). Any model may carry directions, conditional or not.

    directions = Directions.from_json(json.loads(props["facegan.directions"]), latent_dim, "m.onnx")
    z2 = apply_edits(z, directions, {"Smiling": 2.0})
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import MetadataError, UsageError

UNIT_TOLERANCE = 1e-6  # |norm - 1| allowed for a direction (float64, as written)


@dataclass(frozen=True, eq=False)
class Directions:
    """Named unit directions in latent space, validated (see `from_json`)."""

    names: tuple[str, ...]  # m direction names (usually attribute names)
    vectors: np.ndarray  # float32 (m, latent_dim), unit L2 norm
    accuracy: tuple[float, ...] | None = None  # judge accuracy on held-out real images, per direction
    boundary_accuracy: tuple[float, ...] | None = None  # linear boundary accuracy on held-out generated z
    samples: int | None = None  # generated faces the boundaries were fitted on
    method: str = "interfacegan"

    @classmethod
    def from_json(cls, obj: object, latent_dim: int, source: str = "model") -> Directions:
        """Validate a parsed `facegan.directions` object; MetadataError names what is wrong."""
        where = f"{source} metadata facegan.directions"
        if not isinstance(obj, Mapping):
            raise MetadataError(f"{where} must be an object with names and vectors")
        names, vectors = obj.get("names"), obj.get("vectors")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise MetadataError(f"{where}: names must be a non-empty list of names")
        if len(set(names)) != len(names):
            raise MetadataError(f"{where}: names repeat")
        m = len(names)
        if not isinstance(vectors, list) or len(vectors) != m or not all(
            isinstance(v, list) and len(v) == latent_dim and all(_is_real(x) for x in v) for v in vectors
        ):
            raise MetadataError(f"{where}: vectors must be {m} lists of {latent_dim} numbers")
        v64 = np.array(vectors, dtype=np.float64)
        norms = np.linalg.norm(v64, axis=1)
        if not np.isfinite(v64).all() or (np.abs(norms - 1.0) > UNIT_TOLERANCE).any():
            raise MetadataError(f"{where}: vectors must be finite with unit length, got norms {norms.round(6).tolist()}")
        stats = {}
        for key in ("accuracy", "boundary_accuracy"):
            value = obj.get(key)
            if value is not None and (
                not isinstance(value, list) or len(value) != m or not all(_is_real(a) and 0 <= a <= 1 for a in value)
            ):
                raise MetadataError(f"{where}: {key} must be {m} numbers in [0, 1]")
            stats[key] = None if value is None else tuple(float(a) for a in value)
        samples, method = obj.get("samples"), obj.get("method", "interfacegan")
        if samples is not None and (not isinstance(samples, numbers.Integral) or isinstance(samples, bool) or samples < 0):
            raise MetadataError(f"{where}: samples must be a non-negative integer, got {samples!r}")
        if not isinstance(method, str):
            raise MetadataError(f"{where}: method must be a string, got {method!r}")
        return cls(tuple(names), v64.astype(np.float32), samples=samples, method=method, **stats)


def edit_offset(directions: Directions | None, edits: Mapping | None) -> np.ndarray | None:
    """float32 (latent_dim,): sum of alpha * vector over `edits`, or None for no edits (checked)."""
    if not edits:
        return None
    if not isinstance(edits, Mapping):
        raise UsageError(f"edits must be a mapping {{name: alpha}}, got {type(edits).__name__}")
    if directions is None:
        raise UsageError("this model has no directions; run facegan-directions on its run and re-export it")
    alphas = np.zeros(len(directions.names), dtype=np.float64)
    for name, alpha in edits.items():
        if name not in directions.names:
            raise UsageError(f"unknown direction {name!r}; this model has {', '.join(directions.names)}")
        if not _is_real(alpha) or not math.isfinite(float(alpha)):
            raise UsageError(f"edit {name} must be a finite number, got {alpha!r}")
        alphas[directions.names.index(name)] = float(alpha)
    # Summed in float64 and rounded once: one edit is float32(alpha * d), what numpy's z + alpha * d adds.
    return (alphas @ directions.vectors.astype(np.float64)).astype(np.float32)


def apply_edits(z: np.ndarray, directions: Directions | None, edits: Mapping | None) -> np.ndarray:
    """z + sum alpha * vector, float32 (n, latent_dim); no edits leave z as it is."""
    offset = edit_offset(directions, edits)
    z = np.asarray(z, dtype=np.float32)
    if offset is None:
        return z
    with np.errstate(over="ignore"):
        out = (z + offset[None, :]).astype(np.float32)
    if not np.isfinite(out).all():
        raise UsageError("the edits move the latents beyond float32")
    return out


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


__all__ = ["UNIT_TOLERANCE", "Directions", "apply_edits", "edit_offset"]
