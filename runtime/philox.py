"""Philox4x32-10 and Box-Muller: the portable latent recipe, in vectorised numpy.

The recipe (README "Portable seeds") draws latent j of face i of seed s from one Philox block:

    key     = (s mod 2^32, s div 2^32)
    counter = (j div 4, i mod 2^32, i div 2^32, 0)
    words   = philox4x32(counter, key)                  # 4 uint32, Random123's Philox4x32-10
    u       = (word + 0.5) * 2^-32                      # float64 in (0, 1), exact
    normals = Box-Muller on (u0, u1) and (u2, u3)       # float64, then rounded to float32

A counter-based generator has no state: any face of any seed is one function call away, face i
never depends on how many faces were asked for, and anything with 32-bit integer multiplies (C#,
Java, Swift, JavaScript's Math.imul or BigInt) reproduces the integer stream bit for bit. Written
here by hand, not taken from numpy.random.Philox: numpy's Philox is Philox4x64 with its own seeding
and its normals are ziggurat draws, neither of which another language reproduces from a short text.

Arithmetic: uint32 values held in uint64 arrays, so the 32x32 -> 64-bit products are exact and
the high and low words are a shift and a mask. Work runs in chunks of CHUNK_BLOCKS blocks so the
temporaries stay in the CPU cache (100k faces x 100 dims take ~0.3 s on one core).
"""

from __future__ import annotations

import numpy as np

# Random123's constants for Philox4x32 (philox.h: PHILOX_M4x32_0/1, PHILOX_W32_0/1).
M0 = 0xD2511F53  # multiplier of counter word 0
M1 = 0xCD9E8D57  # multiplier of counter word 2
W0 = 0x9E3779B9  # key schedule bump of key word 0 (golden ratio)
W1 = 0xBB67AE85  # key schedule bump of key word 1 (sqrt(3) - 1)
ROUNDS = 10
TWO_PI = 6.283185307179586  # float64(2 * pi), the constant every port must use
CHUNK_BLOCKS = 1 << 15  # Philox blocks per chunk: ~256 kB per uint64 temporary

_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_U64 = {name: np.uint64(value) for name, value in (("M0", M0), ("M1", M1), ("W0", W0), ("W1", W1))}


def philox4x32(counter: object, key: object) -> np.ndarray:
    """Philox4x32-10 of `counter` (..., 4) under `key` (..., 2), both uint32-valued; (..., 4) uint32.

    Shapes broadcast: one key for many counters is the common case.
    """
    ctr = np.asarray(counter, dtype=np.uint64)
    k = np.asarray(key, dtype=np.uint64)
    if ctr.shape[-1:] != (4,) or k.shape[-1:] != (2,):
        raise ValueError(f"counter must have shape (..., 4) and key (..., 2), got {ctr.shape} and {k.shape}")
    if (ctr > _MASK).any() or (k > _MASK).any():
        raise ValueError("counter and key words must be 32-bit unsigned integers")
    words = _rounds(ctr[..., 0], ctr[..., 1], ctr[..., 2], ctr[..., 3], k[..., 0], k[..., 1])
    return np.stack(np.broadcast_arrays(*words), axis=-1).astype(np.uint32)


def _rounds(c0, c1, c2, c3, k0, k1) -> tuple:
    """The ten Philox rounds on uint64 arrays (or scalars) holding uint32 values."""
    for r in range(ROUNDS):
        if r:  # the key is bumped between rounds: nine bumps in all
            k0 = (k0 + _U64["W0"]) & _MASK
            k1 = (k1 + _U64["W1"]) & _MASK
        p0 = c0 * _U64["M0"]  # exact: both factors are below 2^32
        p1 = c2 * _U64["M1"]
        c0, c1, c2, c3 = (p1 >> _SHIFT) ^ c1 ^ k0, p1 & _MASK, (p0 >> _SHIFT) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


def philox_words(seed: int, faces: np.ndarray, num_blocks: int) -> np.ndarray:
    """The uint32 words of faces `faces` (uint64 indices) of `seed`: (len(faces), 4 * num_blocks)."""
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    faces = np.asarray(faces, dtype=np.uint64)
    c0 = np.arange(num_blocks, dtype=np.uint64)[None, :]
    c1 = (faces & _MASK)[:, None]
    c2 = (faces >> _SHIFT)[:, None]
    words = _rounds(c0, c1, c2, np.uint64(0), k0, k1)
    shape = (len(faces), num_blocks)
    return np.stack([np.broadcast_to(w, shape) for w in words], axis=-1).astype(np.uint32).reshape(len(faces), -1)


def box_muller(words: np.ndarray) -> np.ndarray:
    """Standard normals (float64, same shape) from uint32 words taken as pairs (x0, x1), (x2, x3)."""
    u = (words.astype(np.float64) + 0.5) * 2.0**-32  # exact, never 0 or 1
    u0, u1 = u[..., 0::2], u[..., 1::2]
    r = np.sqrt(-2.0 * np.log(u0))
    t = TWO_PI * u1
    out = np.empty_like(u)
    np.multiply(r, np.cos(t), out=out[..., 0::2])
    np.multiply(r, np.sin(t), out=out[..., 1::2])
    return out


def philox_latents(seed: int, start: int, n: int, dim: int) -> np.ndarray:
    """float32 (n, dim) latents of faces start .. start+n-1 of `seed` (all checked by the caller)."""
    num_blocks = -(-dim // 4)
    out = np.empty((n, dim), dtype=np.float32)
    faces_per_chunk = max(1, CHUNK_BLOCKS // num_blocks)
    for first in range(0, n, faces_per_chunk):
        count = min(faces_per_chunk, n - first)
        faces = np.uint64(start + first) + np.arange(count, dtype=np.uint64)
        normals = box_muller(philox_words(seed, faces, num_blocks))
        out[first : first + count] = normals[:, :dim]  # rounded to nearest float32; extras dropped
    return out


__all__ = ["M0", "M1", "ROUNDS", "TWO_PI", "W0", "W1", "box_muller", "philox4x32", "philox_latents", "philox_words"]
