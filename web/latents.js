// latents.js: seeds -> latents by the portable recipe of README "Portable seeds" (Philox4x32-10 and
// Box-Muller, float32), and the paths between two latents (slerp, lerp), as runtime/latents.py does.
// Seed 7 draws the same latents here as in Python; known-answers.json checks every port.

import { checkCount } from "./checks.js";

export const PHILOX_RECIPE = "philox4x32-10 box-muller float32"; // the portable recipe; drawn here
export const NUMPY_RECIPE = "numpy.default_rng(seed).standard_normal float32"; // facegan 0.1; Python only
export const LATENT_RECIPES = Object.freeze([PHILOX_RECIPE, NUMPY_RECIPE]); // what a model may name
export const INTERPOLATION_METHODS = Object.freeze(["slerp", "lerp"]);

const TWO_POW_32 = 4294967296;
const TWO_POW_MINUS_32 = 2 ** -32;

// ---- Philox4x32-10 (Random123), in 32-bit integer arithmetic: Math.imul for the low word of each
// product, a 16-bit split for the high word, so no BigInt and no precision loss in the hot loop.
// philoxInto is exported for attributes.js (the attribute draw), not re-exported by facegan.js.
const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const TWO_PI = 6.283185307179586; // float64(2 * pi): every port uses this constant

function mulhi(a, b) {
  // High 32 bits of the 64-bit product of uint32 a and b; every partial product is exact in float64.
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const lh = aL * bH, hl = aH * bL;
  const mid = ((aL * bL) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

export function philoxInto(c0, c1, c2, c3, k0, k1, out) {
  for (let r = 0; r < 10; r++) {
    if (r) { // the key is bumped between rounds: nine bumps in all
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0; c1 = lo1; c2 = (hi0 ^ c3 ^ k1) >>> 0; c3 = lo0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/** Philox4x32-10 of a 4-word counter under a 2-word key (uint32 Numbers): Uint32Array(4). */
export function philox4x32(counter, key) {
  const words = (v, len, name) => {
    if (v == null || typeof v !== "object" || v.length !== len) throw new TypeError(`${name} must be ${len} uint32 words`);
    const w = Array.from(v, Number);
    if (!w.every((x) => Number.isInteger(x) && x >= 0 && x < TWO_POW_32)) throw new RangeError(`${name} words must be integers in [0, 2**32)`);
    return w;
  };
  const [c0, c1, c2, c3] = words(counter, 4, "counter");
  const [k0, k1] = words(key, 2, "key");
  const out = new Uint32Array(4);
  philoxInto(c0, c1, c2, c3, k0, k1, out);
  return out;
}

export function split64(value, name) {
  // A seed or face index (safe-integer Number or BigInt in [0, 2^64)) as [low word, high word].
  if (typeof value === "bigint") {
    if (value < 0n || value >= 1n << 64n) throw new RangeError(`${name} must be an integer in [0, 2**64), got ${value}`);
    return [Number(value & 0xffffffffn), Number(value >> 32n)];
  }
  if (typeof value !== "number") throw new TypeError(`${name} must be a non-negative integer (Number or BigInt), got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer (use a BigInt beyond 2**53 - 1), got ${value}`);
  }
  return [value % TWO_POW_32, Math.floor(value / TWO_POW_32)];
}


/**
 * Latents of faces start .. start+n-1 of `seed` by the portable recipe: Float32Array(n * dim), face
 * after face. Face i never depends on n. Seeds and start: Number (safe integer) or BigInt < 2^64.
 */
export function latents(seed, n, dim, { start = 0 } = {}) {
  const [k0, k1] = split64(seed, "seed");
  checkCount(n, "n", 0, Number.MAX_SAFE_INTEGER);
  checkCount(dim, "dim", 1, 1 << 24);
  let [lo, hi] = split64(start, "start");
  // Exact where it matters: the capacity is only rounded when it exceeds 2^53 > n.
  if (n > (0xffffffff - hi) * TWO_POW_32 + (TWO_POW_32 - lo)) throw new RangeError("faces start .. start + n - 1 must be below 2**64");
  const out = new Float32Array(n * dim);
  const words = new Uint32Array(4), normals = new Float64Array(4);
  for (let f = 0; f < n; f++) {
    for (let b = 0, j = 0; j < dim; b++) {
      philoxInto(b, lo, hi, 0, k0, k1, words);
      for (let p = 0; p < 4; p += 2) {
        const u0 = (words[p] + 0.5) * TWO_POW_MINUS_32, u1 = (words[p + 1] + 0.5) * TWO_POW_MINUS_32; // exact, in (0, 1)
        const r = Math.sqrt(-2 * Math.log(u0)), t = TWO_PI * u1;
        normals[p] = r * Math.cos(t);
        normals[p + 1] = r * Math.sin(t);
      }
      for (let q = 0; q < 4 && j < dim; q++, j++) out[f * dim + j] = normals[q]; // rounds to nearest float32
    }
    if (++lo === TWO_POW_32) { lo = 0; hi++; }
  }
  return out;
}

/** Straight-line path a -> b (Float32Array(dim) each), `steps` points inclusive, in float32 as numpy does. */
export function lerp(a, b, steps) {
  const d = a.length, out = new Float32Array(steps * d), step = 1 / (steps - 1);
  for (let k = 0; k < steps; k++) {
    const t = Math.fround(k === steps - 1 ? 1 : k * step), s = Math.fround(1 - t);
    for (let j = 0; j < d; j++) out[k * d + j] = Math.fround(s * a[j]) + Math.fround(t * b[j]);
  }
  return out;
}

/** Spherical path a -> b in float64 (lerp for (anti)parallel ends), as runtime/latents.py slerp. */
export function slerp(a, b, steps) {
  const d = a.length;
  let dot = 0, aa = 0, bb = 0;
  for (let j = 0; j < d; j++) { dot += a[j] * b[j]; aa += a[j] * a[j]; bb += b[j] * b[j]; }
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / (Math.sqrt(aa) * Math.sqrt(bb) + 1e-12))));
  if (omega < 1e-6) return lerp(a, b, steps);
  const so = Math.sin(omega), step = 1 / (steps - 1), out = new Float32Array(steps * d);
  for (let k = 0; k < steps; k++) {
    const t = k === steps - 1 ? 1 : k * step;
    const wa = Math.sin((1 - t) * omega) / so, wb = Math.sin(t * omega) / so;
    for (let j = 0; j < d; j++) out[k * d + j] = wa * a[j] + wb * b[j];
  }
  return out;
}
