// facegan.js: faces from an exported facegan ONNX generator, in browsers (onnxruntime-web) and Node
// (onnxruntime-node). What runtime/generator.py's FaceGenerator does for Python, for JavaScript:
//
//   import * as ort from "onnxruntime-web";            // or: import ort from "onnxruntime-node"
//   import { FaceGenerator } from "./facegan.js";
//   const gen = await FaceGenerator.create("model.onnx", { ort });   // URL, Uint8Array or ArrayBuffer
//   const faces = await gen.generate(16, 7, { truncation: 0.7 });      // RGBA, ready for a canvas
//   ctx.putImageData(new ImageData(faces.face(0), faces.width, faces.height), 0, 0);
//
// No imports: onnxruntime is injected (`ort`), so one file serves a page, a bundler and Node. Everything
// about the model comes from its facegan.* metadata, checked against the session's real inputs and
// outputs. Seeds draw latents by the portable recipe of README "Portable seeds" (Philox4x32-10 and
// Box-Muller), so seed 7 is the same face here as in Python, within one uint8 level.

export const FORMAT_VERSION = "1";
export const PHILOX_RECIPE = "philox4x32-10 box-muller float32"; // the portable recipe; drawn here
export const NUMPY_RECIPE = "numpy.default_rng(seed).standard_normal float32"; // facegan 0.1; Python only
export const LATENT_RECIPES = Object.freeze([PHILOX_RECIPE, NUMPY_RECIPE]); // what a model may name
export const INTERPOLATION_METHODS = Object.freeze(["slerp", "lerp"]);
export const MAX_IMAGES = 100000; // per call, as in Python: 100k 64x64 RGBA faces are 1.6 GB
export const DEFAULT_BATCH_SIZE = 16; // faces per session.run: small chunks keep a tab's memory low (Python: 64)

const PREFIX = "facegan.";
const REQUIRED_KEYS = [
  "format_version", "input_name", "output_name", "latent_dim", "image_size", "channels", "output_layout",
  "output_dtype", "value_range", "latents", "dtype", "model_config", "preset", "weights", "train_step",
  "train_epoch", "checkpoint_sha256", "torch_version", "facegan_version",
];
const LAYOUTS = { float32: "NCHW", uint8: "NHWC" }; // the output dtype/layout pairs facegan writes
const TWO_POW_32 = 4294967296;
const TWO_POW_MINUS_32 = 2 ** -32;

/** A model this runtime cannot honour (metadata, signature, recipe) or that onnxruntime cannot run. */
export class FaceganError extends Error {
  constructor(message) {
    super(message);
    this.name = "FaceganError";
  }
}

// ---- Philox4x32-10 (Random123), in 32-bit integer arithmetic: Math.imul for the low word of each
// product, a 16-bit split for the high word, so no BigInt and no precision loss in the hot loop.
const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const TWO_PI = 6.283185307179586; // float64(2 * pi): every port uses this constant

function mulhi(a, b) {
  // High 32 bits of the 64-bit product of uint32 a and b; every partial product is exact in float64.
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const lh = aL * bH, hl = aH * bL;
  const mid = ((aL * bL) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

function philoxInto(c0, c1, c2, c3, k0, k1, out) {
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

function split64(value, name) {
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

function checkCount(value, name, minimum = 1, maximum = MAX_IMAGES) {
  if (typeof value !== "number") throw new TypeError(`${name} must be an integer, got ${typeof value}`);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new RangeError(`${name} must be an integer between ${minimum} and ${maximum}, got ${value}`);
  }
  return value;
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

// ---- Metadata. Hand-written protobuf reader: onnxruntime-web does not expose a model's
// metadata_props (onnxruntime#16547), and a protobuf library would be ~100 KB for these 30 lines.
// ModelProto.metadata_props is field 14, StringStringEntryProto {key = 1, value = 2}; every other
// field (the graph included) is skipped by its wire type without being decoded.

/** The metadata_props of an ONNX model's bytes as {key: value} (all keys, facegan.* or not). */
export function readOnnxMetadata(bytes) {
  const buf = asBytes(bytes, "bytes");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const bad = (what, at) => new FaceganError(`not an ONNX model: ${what} at byte ${at}`);
  let pos = 0;
  const varint = () => {
    let value = 0, scale = 1;
    for (let i = 0; i < 10; i++, scale *= 128) {
      if (pos >= buf.length) throw bad("truncated varint", pos);
      const byte = buf[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
    throw bad("overlong varint", pos);
  };
  const fields = function* (end) { // [field number, wire type, start, stop] of each field up to `end`
    while (pos < end) {
      const at = pos, tag = varint(), wire = tag % 8;
      let start = pos;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) { const len = varint(); start = pos; pos += len; }
      else throw bad(`unsupported wire type ${wire}`, at);
      if (pos > end) throw bad("field runs past its end", at);
      yield [Math.floor(tag / 8), wire, start, pos];
    }
  };
  const entries = [];
  for (const [field, wire, start, stop] of fields(buf.length)) {
    if (field !== 14 || wire !== 2) continue;
    const resume = pos, entry = ["", ""];
    pos = start;
    for (const [f, w, s, e] of fields(stop)) if ((f === 1 || f === 2) && w === 2) entry[f - 1] = utf8.decode(buf.subarray(s, e));
    entries.push(entry);
    pos = resume;
  }
  return Object.fromEntries(entries);
}

/** Validate a facegan.* map as runtime/metadata.py parse_metadata does; refuse what it refuses. */
export function parseMetadata(props, source = "model") {
  const ours = {};
  for (const [k, v] of Object.entries(props)) if (k.startsWith(PREFIX)) ours[k.slice(PREFIX.length)] = v;
  const fail = (message) => new FaceganError(`${source} ${message}`);
  if (!Object.keys(ours).length) throw fail("has no facegan metadata; export it with facegan-export");
  if (ours.format_version !== FORMAT_VERSION) {
    throw fail(`has facegan metadata format version ${JSON.stringify(ours.format_version ?? null)}; this facegan reads version ${FORMAT_VERSION}`);
  }
  const missing = REQUIRED_KEYS.filter((k) => !(k in ours));
  if (missing.length) throw fail(`metadata is missing ${missing.map((k) => PREFIX + k).join(", ")}`);
  const int = (key, minimum = -Infinity) => {
    if (!/^\s*[+-]?\d+\s*$/.test(ours[key]) || !(Number(ours[key]) >= minimum)) {
      throw fail(`has malformed facegan metadata: ${PREFIX}${key} must be an integer${minimum > 0 ? " >= 1" : ""}, got ${JSON.stringify(ours[key])}`);
    }
    return Number(ours[key]);
  };
  const json = (key) => {
    try { return JSON.parse(ours[key]); } catch (e) { throw fail(`has malformed facegan metadata: ${PREFIX}${key}: ${e.message}`); }
  };
  const valueRange = json("value_range");
  const meta = {
    latentDim: int("latent_dim", 1), imageSize: int("image_size", 1), channels: int("channels", 1),
    outputLayout: ours.output_layout, outputDtype: ours.output_dtype,
    valueRange: Array.isArray(valueRange) ? valueRange : [], latents: ours.latents,
    inputName: ours.input_name, outputName: ours.output_name, dtype: ours.dtype, preset: ours.preset,
    weights: ours.weights, trainStep: int("train_step"), trainEpoch: int("train_epoch"),
    checkpointSha256: ours.checkpoint_sha256, modelConfig: json("model_config"),
    parity: "parity" in ours ? json("parity") : null,
    extra: Object.fromEntries(Object.entries(ours).filter(([k]) => !REQUIRED_KEYS.includes(k))),
    raw: { ...props },
  };
  if (LAYOUTS[meta.outputDtype] !== meta.outputLayout) {
    throw fail(`metadata: output_dtype ${JSON.stringify(meta.outputDtype)} with layout ${JSON.stringify(meta.outputLayout)} is not a combination facegan writes`);
  }
  const [lo, hi] = meta.valueRange;
  if (meta.valueRange.length !== 2 || !(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw fail(`metadata: bad value_range ${ours.value_range}`);
  }
  if (!["fp32", "fp16"].includes(meta.dtype)) throw fail(`metadata: unknown dtype ${JSON.stringify(meta.dtype)}`);
  if (!["raw", "ema"].includes(meta.weights)) throw fail(`metadata: unknown weights ${JSON.stringify(meta.weights)} (raw or ema)`);
  if (!LATENT_RECIPES.includes(meta.latents)) {
    throw fail(`expects latents drawn as ${JSON.stringify(meta.latents)}; this facegan draws ${LATENT_RECIPES.map((r) => JSON.stringify(r)).join(" or ")}`);
  }
  if (![1, 3, 4].includes(meta.channels)) throw fail(`metadata: ${meta.channels} channels cannot be drawn as RGBA (1, 3 or 4)`);
  return meta;
}

function asBytes(source, name) {
  if (Object.prototype.toString.call(source) === "[object ArrayBuffer]") return new Uint8Array(source); // any realm
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new TypeError(`${name} must be a Uint8Array or an ArrayBuffer, got ${source === null ? "null" : typeof source}`);
}

// ---- Pixels.

/** count faces in rows of RGBA bytes (alpha 255 unless the model has 4 channels). */
export class Faces {
  constructor(count, width, height, data) {
    this.count = count; this.width = width; this.height = height; this.data = data;
  }
  /** Face i as a view (no copy), ready for `new ImageData(face, width, height)`. */
  face(i) {
    checkCount(i, "face index", 0, this.count - 1);
    const size = this.width * this.height * 4;
    return this.data.subarray(i * size, (i + 1) * size);
  }
}

/**
 * A model's raw output (NCHW float in meta.valueRange, or NHWC uint8) as RGBA into `out` at face
 * `first`. Floats are mapped as runtime/images.py to_uint8: (x - lo) * (255 / (hi - lo)) in float32,
 * then rounded half to even and clipped, which is what a Uint8ClampedArray store does.
 */
export function toRGBA(raw, count, meta, out = new Uint8ClampedArray(count * meta.imageSize ** 2 * 4), first = 0) {
  const c = meta.channels, plane = meta.imageSize ** 2, base = first * plane * 4;
  if (c !== 4) for (let p = 0; p < count * plane; p++) out[base + p * 4 + 3] = 255;
  const pick = c === 1 ? [0, 0, 0] : c === 3 ? [0, 1, 2] : [0, 1, 2, 3]; // source channel of R, G, B(, A)
  if (meta.outputLayout === "NHWC") {
    for (let p = 0; p < count * plane; p++) for (let q = 0; q < pick.length; q++) out[base + p * 4 + q] = raw[p * c + pick[q]];
    return out;
  }
  const lo = Math.fround(meta.valueRange[0]), scale = Math.fround(255 / (meta.valueRange[1] - meta.valueRange[0]));
  for (let f = 0; f < count; f++) {
    for (let q = 0; q < pick.length; q++) {
      const src = (f * c + pick[q]) * plane, dst = base + f * plane * 4 + q;
      for (let p = 0; p < plane; p++) out[dst + p * 4] = Math.fround(Math.fround(raw[src + p] - lo) * scale);
    }
  }
  return out;
}

// ---- The generator.

function checkOptions(options, allowed) {
  if (options === null || typeof options !== "object") throw new TypeError(`options must be an object such as {truncation: 0.7}, got ${options === null ? "null" : typeof options}`);
  for (const key of Object.keys(options)) if (!allowed.includes(key)) throw new TypeError(`unknown option ${key}; expected ${allowed.join(", ")}`);
  return options;
}

function checkTruncation(psi) {
  if (typeof psi !== "number") throw new TypeError(`truncation must be a number (1 = off), got ${typeof psi}`);
  if (!(psi >= 0 && psi < Infinity)) throw new RangeError(`truncation must be a finite number >= 0 (1 = off), got ${psi}`);
  return Math.fround(psi);
}

function shapeAgrees(actual, want) {
  // Symbolic or unknown dims agree with anything; the batch dim must not be fixed (as in Python).
  const fixed = (d) => typeof d === "number" && d >= 0;
  return actual.length === want.length && !fixed(actual[0]) && actual.every((d, i) => i === 0 || !fixed(d) || d === want[i]);
}

export class FaceGenerator {
  /**
   * Open an exported model. source: Uint8Array | ArrayBuffer | URL (string or URL, fetched).
   * options: ort (the onnxruntime-web or -node module, required), executionProviders,
   * sessionOptions (passed to InferenceSession.create), batchSize (faces per run).
   */
  static async create(source, options = {}) {
    const { ort, executionProviders, sessionOptions = {}, batchSize = DEFAULT_BATCH_SIZE } =
      checkOptions(options, ["ort", "executionProviders", "sessionOptions", "batchSize"]);
    if (!ort?.InferenceSession?.create || !ort.Tensor) throw new TypeError("options.ort must be the onnxruntime-web or onnxruntime-node module");
    checkCount(batchSize, "batchSize");
    let name = "model", bytes;
    if (typeof source === "string" || (typeof URL !== "undefined" && source instanceof URL)) {
      name = String(source);
      let response;
      try { response = await fetch(name); } catch (e) { throw new FaceganError(`could not fetch ${name}: ${e.message}`); }
      if (!response.ok) throw new FaceganError(`could not fetch ${name}: HTTP ${response.status}`);
      bytes = new Uint8Array(await response.arrayBuffer());
    } else {
      bytes = asBytes(source, "source");
    }
    const metadata = parseMetadata(readOnnxMetadata(bytes), name);
    const opts = { ...sessionOptions, ...(executionProviders ? { executionProviders } : {}) };
    let session;
    try { session = await ort.InferenceSession.create(bytes, opts); } catch (e) {
      throw new FaceganError(`onnxruntime could not open ${name}: ${String(e?.message ?? e).split("\n")[0]}`);
    }
    checkSignature(session, metadata, name);
    return new FaceGenerator(ort, session, metadata, { batchSize, name });
  }

  /** Use FaceGenerator.create; this wraps a session whose metadata is already checked. */
  constructor(ort, session, metadata, { batchSize = DEFAULT_BATCH_SIZE, name = "model" } = {}) {
    this.ort = ort; this.session = session; this.metadata = metadata;
    this.batchSize = batchSize; this.name = name;
    // One session.run at a time: overlapping runs on one onnxruntime-web session fail on some backends
    // ("Session already started", WebGPU) and gain nothing over onnxruntime's own threads.
    this._runs = Promise.resolve();
  }

  get latentDim() { return this.metadata.latentDim; }
  get imageSize() { return this.metadata.imageSize; }
  get channels() { return this.metadata.channels; }
  get valueRange() { return this.metadata.valueRange; }

  /** The latents generate(n, seed) uses (before truncation): Float32Array(n * latentDim). */
  latents(n, seed = 0, options = {}) {
    this._checkSeeded();
    const { start = 0 } = checkOptions(options, ["start"]);
    return latents(seed, checkCount(n, "n"), this.latentDim, { start });
  }

  async generate(n, seed = 0, options = {}) {
    const { truncation = 1, batchSize = this.batchSize } = this._checkRun(options);
    return this._generate(this.latents(n, seed), truncation, batchSize);
  }

  async generateFromLatents(z, options = {}) {
    const { truncation = 1, batchSize = this.batchSize } = this._checkRun(options);
    const d = this.latentDim;
    if (!(z instanceof Float32Array || z instanceof Float64Array || Array.isArray(z))) {
      throw new TypeError(`z must be a Float32Array of n * ${d} latents, got ${z === null ? "null" : z?.constructor?.name ?? typeof z}`);
    }
    if (z.length === 0 || z.length % d) throw new RangeError(`z must hold n * ${d} latents, got ${z.length}`);
    checkCount(z.length / d, "number of latents (z.length / latentDim)");
    const z32 = Float32Array.from(z); // a copy: z stays the caller's
    if (!z32.every(Number.isFinite)) throw new RangeError("z contains NaN or infinite values (as float32)"); // 1e300 is inf
    return this._generate(z32, truncation, batchSize);
  }

  async interpolate(seedA, seedB, steps = 32, options = {}) {
    const { method = "slerp", truncation = 1, batchSize = this.batchSize } = this._checkRun(options, ["method"]);
    this._checkSeeded();
    split64(seedA, "seedA"); split64(seedB, "seedB");
    checkCount(steps, "steps", 2);
    if (!INTERPOLATION_METHODS.includes(method)) throw new RangeError(`method must be one of ${INTERPOLATION_METHODS.join(", ")}, got ${method}`);
    // Each end is face 0 of its seed, i.e. the first face of generate(n, seed).
    const a = this.latents(1, seedA), b = this.latents(1, seedB);
    return this._generate(method === "slerp" ? slerp(a, b, steps) : lerp(a, b, steps), truncation, batchSize);
  }

  _checkRun(options, more = []) {
    // Options checked before any latent is drawn: a bad truncation fails fast even for 100k faces.
    const checked = checkOptions(options, ["truncation", "batchSize", ...more]);
    if (checked.truncation !== undefined) checkTruncation(checked.truncation);
    if (checked.batchSize !== undefined) checkCount(checked.batchSize, "batchSize");
    return checked;
  }

  _checkSeeded() {
    if (this.metadata.latents === NUMPY_RECIPE) {
      throw new FaceganError(`${this.name} was exported with numpy's latent recipe, which only Python reproduces; re-export it with facegan-export for seeds here (generateFromLatents works)`);
    }
  }

  async _generate(z, truncation, batchSize) {
    const psi = checkTruncation(truncation);
    if (psi !== 1) {
      for (let j = 0; j < z.length; j++) z[j] = Math.fround(z[j] * psi);
    }
    if (!z.every(Number.isFinite)) throw new RangeError(`truncation ${truncation} scales the latents beyond float32`);
    const { latentDim: d, imageSize: s, inputName, outputName } = this.metadata;
    const n = z.length / d, data = new Uint8ClampedArray(n * s * s * 4);
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      const feeds = { [inputName]: new this.ort.Tensor("float32", z.subarray(start * d, (start + m) * d), [m, d]) };
      const run = this._runs.then(() => this.session.run(feeds, [outputName]));
      this._runs = run.catch(() => {});
      const y = (await run)[outputName];
      const c = this.channels;
      const want = this.metadata.outputLayout === "NCHW" ? [m, c, s, s] : [m, s, s, c];
      if (y.dims.length !== 4 || y.dims.some((v, i) => v !== want[i])) {
        throw new FaceganError(`${this.name}: output ${outputName} has shape [${y.dims}] but the metadata implies [${want}]`);
      }
      toRGBA(y.data, m, this.metadata, data, start);
      y.dispose?.();
    }
    return new Faces(n, s, s, data);
  }
}

function checkSignature(session, meta, source) {
  // The graph's real input and output must agree with the metadata, as runtime/generator.py checks.
  const inputs = session.inputNames, outputs = session.outputNames;
  if (inputs.length !== 1 || inputs[0] !== meta.inputName) {
    throw new FaceganError(`${source}: metadata input ${JSON.stringify(meta.inputName)} but the graph takes ${JSON.stringify(inputs)}`);
  }
  if (!outputs.includes(meta.outputName)) {
    throw new FaceganError(`${source}: metadata output ${JSON.stringify(meta.outputName)} but the graph gives ${JSON.stringify(outputs)}`);
  }
  // Types and shapes, where this onnxruntime reports them (inputMetadata is new in 1.22).
  const z = session.inputMetadata?.[0], y = session.outputMetadata?.find((o) => o.name === meta.outputName);
  const { imageSize: s, channels: c } = meta;
  const checks = [[z, "float32", [null, meta.latentDim]], [y, meta.outputDtype, meta.outputLayout === "NCHW" ? [null, c, s, s] : [null, s, s, c]]];
  for (const [value, type, shape] of checks) {
    if (!value?.isTensor) continue;
    if (value.type !== type) throw new FaceganError(`${source}: ${JSON.stringify(value.name)} is ${value.type} but facegan metadata says ${type}`);
    if (value.shape?.length && !shapeAgrees(value.shape, shape)) {
      throw new FaceganError(`${source}: ${JSON.stringify(value.name)} has shape [${value.shape}] but the metadata implies [${shape.map((v) => v ?? "batch")}]`);
    }
  }
}
