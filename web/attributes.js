// attributes.js: conditional models and directions, as runtime/attributes.py does for Python.
//   - The attribute space of a conditional model (facegan.attributes): names, and the prior, the most
//     common attribute vectors of the training data with their counts.
//   - The portable draw: for seed s and face i, Philox4x32-10 of the counter (0, i mod 2^32,
//     floor(i / 2^32), 1) under the seed's key (the latents' counter with c3 = 1, so the two streams
//     never overlap) picks prior vector j with probability counts[j] / sum(counts). Bit-identical in
//     every port: known-answers.json "attributes" checks it.
//   - Requests ({Smiling: 1}): the requested values at their positions, the rest from the prior vector
//     nearest (Hamming) to the drawn one among those that agree with the requests, so attributes that
//     never occur together in the data are never combined.
//   - Directions (facegan.directions): edits {name: alpha} move z by alpha * unit vector.

import { FaceganError, checkCount } from "./checks.js";
import { philoxInto, split64 } from "./latents.js";

export const PRIOR_LIMIT = 4096; // prior vectors at most (ATTR.md A)
export const UNIT_TOLERANCE = 1e-6; // |norm - 1| allowed for a direction (float64, as written), as in Python
const COUNT_LIMIT = 2 ** 21; // sum(counts) below it: x0 * total stays exact in float64 (< 2^53)
const TWO_POW_32 = 4294967296;

const isObject = (v) => v !== null && typeof v === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(v)); // plain objects
const describe = (v) => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v);

function names(list, what, fail) {
  // As runtime/attributes.py: usable in NAME=VALUE lists (facegan-generate --attr, serve's attr=).
  if (!Array.isArray(list) || !list.length) fail(`${what} must be a non-empty list of names`);
  const bad = list.find((s) => typeof s !== "string" || !s || s !== s.trim() || s.includes(","));
  if (bad !== undefined) fail(`${what}: ${JSON.stringify(bad)} is not a usable name (non-empty, no ',', no outer spaces)`);
  if (new Set(list).size !== list.length) fail(`${what} repeats a name`);
  return Object.freeze([...list]);
}

function numbers(list, length, what, fail, [lo, hi] = [-Infinity, Infinity]) {
  if (!Array.isArray(list) || list.length !== length) fail(`${what} must be a list of ${length} numbers`);
  if (!list.every((x) => typeof x === "number" && Number.isFinite(x) && x >= lo && x <= hi)) {
    fail(`${what} must be finite numbers${lo > -Infinity ? ` in [${lo}, ${hi}]` : ""}`);
  }
  return Object.freeze([...list]);
}

/**
 * facegan.attributes (parsed JSON) validated: {names, frequencies, rows, vectors (k-char strings),
 * counts, bits: Uint8Array(V * k), cumulative: Float64Array(V), total}. FaceganError naming `source`.
 */
export function parseAttributeSpace(obj, source = "model") {
  const fail = (what) => { throw new FaceganError(`${source} has malformed facegan metadata: facegan.attributes: ${what}`); };
  if (!isObject(obj)) fail(`must be a JSON object, got ${describe(obj)}`);
  const attributeNames = names(obj.names, "names", fail), k = attributeNames.length;
  const frequencies = numbers(obj.frequencies, k, "frequencies", fail, [0, 1]);
  if (!Number.isSafeInteger(obj.rows) || obj.rows < 1) fail(`rows must be an integer >= 1, got ${JSON.stringify(obj.rows)}`);
  const prior = obj.prior;
  if (!isObject(prior)) fail("prior must be an object {vectors, counts}");
  const { vectors, counts } = prior;
  if (!Array.isArray(vectors) || !vectors.length || vectors.length > PRIOR_LIMIT) fail(`prior.vectors must be a list of 1 to ${PRIOR_LIMIT} vectors`);
  const pattern = new RegExp(`^[01]{${k}}$`);
  for (const v of vectors) if (typeof v !== "string" || !pattern.test(v)) fail(`prior.vectors must be ${k}-character strings of 0 and 1, got ${JSON.stringify(v).slice(0, 60)}`);
  if (new Set(vectors).size !== vectors.length) fail("prior.vectors repeats a vector");
  if (!Array.isArray(counts) || counts.length !== vectors.length) fail(`prior.counts must be a list of ${vectors.length} counts, one per vector`);
  if (!counts.every((c) => Number.isSafeInteger(c) && c >= 1)) fail("prior.counts must be positive integers");
  const cumulative = new Float64Array(counts.length);
  let total = 0;
  counts.forEach((c, j) => { total += c; cumulative[j] = total; });
  if (total >= COUNT_LIMIT) fail(`prior.counts sum to ${total}, not below 2**21`);
  const bits = new Uint8Array(vectors.length * k);
  vectors.forEach((v, j) => { for (let q = 0; q < k; q++) bits[j * k + q] = v.charCodeAt(q) - 48; });
  return Object.freeze({
    names: attributeNames, frequencies, rows: obj.rows, vectors: Object.freeze([...vectors]),
    counts: Object.freeze([...counts]), bits, cumulative, total,
  });
}

/**
 * facegan.directions (parsed JSON) validated against latentDim as runtime/directions.py does:
 * {names, vectors: Float32Array(m * latentDim), accuracy, boundaryAccuracy (null when absent),
 * samples (null when absent), method}.
 */
export function parseDirections(obj, latentDim, source = "model") {
  const fail = (what) => { throw new FaceganError(`${source} has malformed facegan metadata: facegan.directions: ${what}`); };
  if (!isObject(obj)) fail(`must be a JSON object, got ${describe(obj)}`);
  const directionNames = names(obj.names, "names", fail), m = directionNames.length;
  if (!Array.isArray(obj.vectors) || obj.vectors.length !== m) fail(`vectors must be a list of ${m} vectors, one per name`);
  const float64 = new Float64Array(m * latentDim);
  obj.vectors.forEach((v, i) => {
    numbers(v, latentDim, `vectors[${i}]`, fail);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    if (!(Math.abs(norm - 1) <= UNIT_TOLERANCE)) fail(`vectors[${i}] must have unit norm, has ${norm}`);
    float64.set(v, i * latentDim);
  });
  const optional = (key) => (obj[key] === undefined || obj[key] === null ? null : numbers(obj[key], m, key, fail, [0, 1]));
  const samples = obj.samples ?? null, method = obj.method ?? "interfacegan";
  if (samples !== null && (!Number.isSafeInteger(samples) || samples < 0)) fail(`samples must be a non-negative integer, got ${JSON.stringify(samples)}`);
  if (typeof method !== "string") fail("method must be a string");
  return Object.freeze({
    names: directionNames, vectors: Float32Array.from(float64),
    accuracy: optional("accuracy"), boundaryAccuracy: optional("boundary_accuracy"), samples, method,
  });
}

function unknown(name, what, known) {
  return new RangeError(`unknown ${what} ${JSON.stringify(name)}; this model has ${known.length ? known.join(", ") : "none"}`);
}

/** Requests {name: value in [0, 1] (a number or a boolean)} as [[position, value], ...] in the names' order. */
export function checkRequests(space, requests) {
  if (requests === undefined || requests === null) return [];
  if (!isObject(requests)) throw new TypeError(`attributes must be an object such as {Smiling: 1}, got ${describe(requests)}`);
  const out = [];
  for (const [name, value] of Object.entries(requests)) {
    const q = space.names.indexOf(name);
    if (q < 0) throw unknown(name, "attribute", space.names);
    if (typeof value !== "number" && typeof value !== "boolean") throw new TypeError(`attribute ${name} must be a number in [0, 1], got ${typeof value}`);
    const v = Number(value);
    if (!(v >= 0 && v <= 1)) throw new RangeError(`attribute ${name} must be a number in [0, 1], got ${value}`);
    out.push([q, v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** The index of the prior vector drawn for face `face` ([lo, hi] words) of the seed key [k0, k1]. */
function drawIndex(space, k0, k1, lo, hi, words) {
  philoxInto(0, lo, hi, 1, k0, k1, words);
  const t = Math.floor((words[0] * space.total) / TWO_POW_32); // exact: x0 * total < 2^53
  let a = 0, b = space.cumulative.length - 1; // smallest j with cumulative[j] > t
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (space.cumulative[mid] > t) b = mid; else a = mid + 1;
  }
  return a;
}

/** For requests: drawn index -> the prior vector used instead (nearest candidate), memoised per index. */
function chooser(space, requested) {
  const k = space.names.length, bits = space.bits, V = space.counts.length;
  if (!requested.length) return (j) => j;
  const isRequested = new Uint8Array(k);
  for (const [q] of requested) isRequested[q] = 1;
  const candidates = [];
  for (let j = 0; j < V; j++) if (requested.every(([q, v]) => bits[j * k + q] === (v >= 0.5 ? 1 : 0))) candidates.push(j);
  if (!candidates.length) return (j) => j; // no prior vector agrees with the requests: keep the drawn one
  const memo = new Map();
  return (j) => {
    let best = memo.get(j);
    if (best !== undefined) return best;
    let bestDistance = Infinity;
    for (const c of candidates) { // ascending: the first of equal distances wins
      let distance = 0;
      for (let q = 0; q < k; q++) if (!isRequested[q] && bits[c * k + q] !== bits[j * k + q]) distance++;
      if (distance < bestDistance) { bestDistance = distance; best = c; }
      if (!distance) break;
    }
    memo.set(j, best);
    return best;
  };
}

/**
 * Attribute rows of faces start .. start+n-1 of `seed`: Float32Array(n * k), the prior's bits with the
 * requested values in place. Checks the requests first (RangeError/TypeError).
 */
export function attributeVectors(space, n, seed, { attributes, start = 0 } = {}) {
  const [k0, k1] = split64(seed, "seed");
  checkCount(n, "n", 0, Number.MAX_SAFE_INTEGER);
  const requested = checkRequests(space, attributes);
  let [lo, hi] = split64(start, "start");
  if (n > (0xffffffff - hi) * TWO_POW_32 + (TWO_POW_32 - lo)) throw new RangeError("faces start .. start + n - 1 must be below 2**64");
  const k = space.names.length, out = new Float32Array(n * k), words = new Uint32Array(4), pick = chooser(space, requested);
  for (let f = 0; f < n; f++) {
    const j = pick(drawIndex(space, k0, k1, lo, hi, words));
    out.set(space.bits.subarray(j * k, (j + 1) * k), f * k);
    for (const [q, v] of requested) out[f * k + q] = v;
    if (++lo === TWO_POW_32) { lo = 0; hi++; }
  }
  return out;
}

/** The prior index drawn for one face, before requests (known-answers.json "index"). */
export function drawnIndex(space, seed, face = 0) {
  const [k0, k1] = split64(seed, "seed"), [lo, hi] = split64(face, "face");
  return drawIndex(space, k0, k1, lo, hi, new Uint32Array(4));
}

/** The prior index that supplies the non-requested attributes for a drawn index (known-answers.json "chosen"). */
export function chosenIndex(space, drawn, requests) {
  return chooser(space, checkRequests(space, requests))(drawn);
}

/** Edits {name: alpha} checked against the directions: [[row, alpha], ...] in the order given. */
export function checkEdits(directions, edits) {
  if (!isObject(edits)) throw new TypeError(`edits must be an object such as {Smiling: 2}, got ${describe(edits)}`);
  return Object.entries(edits).map(([name, alpha]) => {
    const i = directions.names.indexOf(name);
    if (i < 0) throw unknown(name, "direction", directions.names);
    if (typeof alpha !== "number") throw new TypeError(`edit ${name} must be a number (standard deviations along the direction), got ${typeof alpha}`);
    if (!Number.isFinite(alpha)) throw new RangeError(`edit ${name} must be a finite number, got ${alpha}`);
    return [i, alpha];
  });
}

/**
 * z (Float32Array, n faces) moved in place by the edits, as runtime/directions.py apply_edits: the
 * offset sum alpha * vector (float32 vectors) in float64, rounded once to float32, then added in float32.
 */
export function applyEdits(z, directions, edits) {
  const d = directions.vectors.length / directions.names.length, alphas = new Float64Array(directions.names.length);
  for (const [i, alpha] of edits) alphas[i] = alpha; // Python: one alpha per name, the last one given
  const offset = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    let sum = 0;
    for (let i = 0; i < alphas.length; i++) sum += alphas[i] * directions.vectors[i * d + j];
    offset[j] = sum;
  }
  for (let f = 0; f < z.length; f += d) for (let j = 0; j < d; j++) z[f + j] = z[f + j] + offset[j]; // rounded by the store
  return z;
}
