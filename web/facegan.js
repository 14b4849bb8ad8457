// facegan.js: faces from an exported facegan ONNX generator, in browsers (onnxruntime-web) and Node
// (onnxruntime-node). What runtime/generator.py's FaceGenerator does for Python, for JavaScript:
//
//   import * as ort from "onnxruntime-web";            // or: import ort from "onnxruntime-node"
//   import { FaceGenerator } from "./facegan.js";
//   const gen = await FaceGenerator.create("model.onnx", { ort });   // URL, Uint8Array or ArrayBuffer
//   const faces = await gen.generate(16, 7, { truncation: 0.7 });      // RGBA, ready for a canvas
//   ctx.putImageData(new ImageData(faces.face(0), faces.width, faces.height), 0, 0);
//
// No dependencies: onnxruntime is injected (`ort`), so the same files serve a page, a bundler and Node.
// This file is the public entry: FaceGenerator, plus the API of the modules beside it, re-exported:
//   latents.js        seeds -> latents (Philox4x32-10, Box-Muller), the recipe names, slerp/lerp
//   onnx-metadata.js  the facegan.* metadata, read from the ONNX bytes and validated
//   pixels.js         raw output -> RGBA (toRGBA), Faces
//   attributes.js     conditional models: the attribute prior's portable draw, requests; directions, edits
//   checks.js         FaceganError and the argument checks the modules share
// Everything about the model comes from its facegan.* metadata, checked against the session's real
// inputs and outputs. Seeds draw latents by the portable recipe of README "Portable seeds", so seed 7
// is the same face here as in Python, within one uint8 level.

import { PRIOR_LIMIT, applyEdits, attributeVectors, checkEdits } from "./attributes.js";
import { FaceganError, MAX_IMAGES, asBytes, checkCount } from "./checks.js";
import { INTERPOLATION_METHODS, LATENT_RECIPES, NUMPY_RECIPE, PHILOX_RECIPE, latents, lerp, philox4x32, slerp, split64 } from "./latents.js";
import { FORMAT_VERSION, FORMAT_VERSIONS, parseMetadata, readOnnxMetadata } from "./onnx-metadata.js";
import { Faces, toRGBA } from "./pixels.js";

export { FaceganError, MAX_IMAGES };
export { INTERPOLATION_METHODS, LATENT_RECIPES, NUMPY_RECIPE, PHILOX_RECIPE, latents, lerp, philox4x32, slerp };
export { FORMAT_VERSION, FORMAT_VERSIONS, parseMetadata, readOnnxMetadata };
export { PRIOR_LIMIT };
export { Faces, toRGBA };

const NO_NAMES = Object.freeze([]);
export const DEFAULT_BATCH_SIZE = 16; // faces per session.run: small chunks keep a tab's memory low (Python: 64)

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
  /** Attribute names of a conditional model, in the order of its attributes input; [] if unconditional. */
  get attributes() { return this.metadata.attributes?.names ?? NO_NAMES; }
  /** Names of the edit directions the model carries (facegan.directions); [] without. */
  get directions() { return this.metadata.directions?.names ?? NO_NAMES; }

  /** The latents generate(n, seed) uses (before truncation): Float32Array(n * latentDim). */
  latents(n, seed = 0, options = {}) {
    this._checkSeeded();
    const { start = 0 } = checkOptions(options, ["start"]);
    return latents(seed, checkCount(n, "n"), this.latentDim, { start });
  }

  /**
   * The attribute rows generate(n, seed, {attributes}) feeds a conditional model: Float32Array(n * k),
   * drawn from the model's prior with the requests {name: value in [0, 1]} in place.
   */
  attributeVectors(n, seed = 0, options = {}) {
    const { attributes, start = 0 } = checkOptions(options, ["attributes", "start"]);
    return attributeVectors(this._space(), checkCount(n, "n"), seed, { attributes, start });
  }

  async generate(n, seed = 0, options = {}) {
    const { truncation = 1, batchSize = this.batchSize, attributes } = this._checkRun(options, ["attributes"]);
    checkCount(n, "n");
    const attrs = this._drawAttributes(n, seed, attributes); // the requests are checked before any latent is drawn
    return this._generate(this.latents(n, seed), attrs, truncation, batchSize);
  }

  async generateFromLatents(z, options = {}) {
    const { truncation = 1, batchSize = this.batchSize, attributes } = this._checkRun(options, ["attributes"]);
    const d = this.latentDim;
    if (!(z instanceof Float32Array || z instanceof Float64Array || Array.isArray(z))) {
      throw new TypeError(`z must be a Float32Array of n * ${d} latents, got ${z === null ? "null" : z?.constructor?.name ?? typeof z}`);
    }
    if (z.length === 0 || z.length % d) throw new RangeError(`z must hold n * ${d} latents, got ${z.length}`);
    const n = checkCount(z.length / d, "number of latents (z.length / latentDim)");
    const z32 = Float32Array.from(z); // a copy: z stays the caller's
    if (!z32.every(Number.isFinite)) throw new RangeError("z contains NaN or infinite values (as float32)"); // 1e300 is inf
    return this._generate(z32, this._givenAttributes(attributes, n), truncation, batchSize);
  }

  /**
   * Faces 0 .. n-1 of `seed` moved along the model's directions: z' = truncate(z) + sum alpha * d
   * (edits {name: alpha}, alpha in standard deviations of z). Conditional models draw their
   * attributes as generate does.
   */
  async edit(seed, edits, options = {}) {
    const { n = 1, truncation = 1, batchSize = this.batchSize, attributes } = this._checkRun(options, ["n", "attributes"]);
    const directions = this.metadata.directions;
    if (!directions) throw new RangeError(`${this.name} has no directions; run facegan-directions on its run and re-export it`);
    const moves = checkEdits(directions, edits);
    checkCount(n, "n");
    const attrs = this._drawAttributes(n, seed, attributes);
    return this._generate(this.latents(n, seed), attrs, truncation, batchSize, (t) => applyEdits(t, directions, moves));
  }

  async interpolate(seedA, seedB, steps = 32, options = {}) {
    const { method = "slerp", truncation = 1, batchSize = this.batchSize, attributes } = this._checkRun(options, ["method", "attributes"]);
    this._checkSeeded();
    split64(seedA, "seedA"); split64(seedB, "seedB");
    checkCount(steps, "steps", 2);
    if (!INTERPOLATION_METHODS.includes(method)) throw new RangeError(`method must be one of ${INTERPOLATION_METHODS.join(", ")}, got ${method}`);
    // Each end is face 0 of its seed, i.e. the first face of generate(n, seed); so are its attributes,
    // interpolated linearly between the ends.
    const attrs = this.metadata.attributes ? lerp(this._drawAttributes(1, seedA, attributes), this._drawAttributes(1, seedB, attributes), steps) : null;
    const a = this.latents(1, seedA), b = this.latents(1, seedB);
    return this._generate(method === "slerp" ? slerp(a, b, steps) : lerp(a, b, steps), attrs, truncation, batchSize);
  }

  _checkRun(options, more = []) {
    // Options checked before any latent is drawn: a bad truncation fails fast even for 100k faces.
    const checked = checkOptions(options, ["truncation", "batchSize", ...more]);
    if (checked.truncation !== undefined) checkTruncation(checked.truncation);
    if (checked.batchSize !== undefined) checkCount(checked.batchSize, "batchSize");
    const { attributes } = checked, empty = attributes?.constructor === Object && !Object.keys(attributes).length; // {}: no requests
    if (attributes !== undefined && attributes !== null && !empty && !this.metadata.attributes) {
      const hint = this.directions.length ? `use edit() with its directions (${this.directions.join(", ")})` : "it has neither attributes nor directions";
      throw new RangeError(`${this.name} is unconditional (it takes no attributes): ${hint}`);
    }
    return checked;
  }

  _checkSeeded() {
    if (this.metadata.latents === NUMPY_RECIPE) {
      throw new FaceganError(`${this.name} was exported with numpy's latent recipe, which only Python reproduces; re-export it with facegan-export for seeds here (generateFromLatents works)`);
    }
  }

  _space() {
    if (!this.metadata.attributes) throw new RangeError(`${this.name} is unconditional: it has no attributes`);
    return this.metadata.attributes;
  }

  _drawAttributes(n, seed, requests) {
    // Conditional: the rows of faces 0 .. n-1 of `seed`; unconditional: null (nothing to feed).
    return this.metadata.attributes ? attributeVectors(this.metadata.attributes, n, seed, { attributes: requests }) : null;
  }

  _givenAttributes(rows, n) {
    const space = this.metadata.attributes;
    if (!space) return null;
    const k = space.names.length;
    if (rows === undefined || rows === null) {
      throw new TypeError(`${this.name} is conditional: pass attributes, a Float32Array of n * ${k} values in [0, 1] (${space.names.join(", ")}), e.g. gen.attributeVectors(n, seed)`);
    }
    if (!(rows instanceof Float32Array || rows instanceof Float64Array || Array.isArray(rows))) {
      throw new TypeError(`attributes must be a Float32Array of n * ${k} values in [0, 1], got ${rows?.constructor?.name ?? typeof rows}`);
    }
    if (rows.length !== n * k) throw new RangeError(`attributes must hold n * ${k} = ${n * k} values for ${n} latents, got ${rows.length}`);
    const a32 = Float32Array.from(rows);
    if (!a32.every((v) => v >= 0 && v <= 1)) throw new RangeError("attributes must be numbers in [0, 1]");
    return a32;
  }

  async _generate(z, attrs, truncation, batchSize, edit = null) {
    const psi = checkTruncation(truncation);
    if (psi !== 1) {
      for (let j = 0; j < z.length; j++) z[j] = Math.fround(z[j] * psi);
    }
    if (!z.every(Number.isFinite)) throw new RangeError(`truncation ${truncation} scales the latents beyond float32`);
    if (edit && !edit(z).every(Number.isFinite)) throw new RangeError("the edits move the latents beyond float32"); // after truncation, as in Python
    const { latentDim: d, imageSize: s, inputName, outputName, attributesInput } = this.metadata;
    const k = this.attributes.length, n = z.length / d, data = new Uint8ClampedArray(n * s * s * 4);
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      const feeds = { [inputName]: new this.ort.Tensor("float32", z.subarray(start * d, (start + m) * d), [m, d]) };
      if (attrs) feeds[attributesInput] = new this.ort.Tensor("float32", attrs.subarray(start * k, (start + m) * k), [m, k]);
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
  // The graph's real inputs and output must agree with the metadata, as runtime/generator.py checks:
  // exactly the declared inputs (z, and the attributes of a conditional model), in any order.
  const inputs = session.inputNames, outputs = session.outputNames;
  const declared = meta.attributesInput ? [meta.inputName, meta.attributesInput] : [meta.inputName];
  if (inputs.length !== declared.length || !declared.every((name) => inputs.includes(name))) {
    const what = declared.length === 1 ? `input ${JSON.stringify(declared[0])}` : `inputs ${JSON.stringify(declared)}`;
    throw new FaceganError(`${source}: metadata ${what} but the graph takes ${JSON.stringify(inputs)}`);
  }
  if (!outputs.includes(meta.outputName)) {
    throw new FaceganError(`${source}: metadata output ${JSON.stringify(meta.outputName)} but the graph gives ${JSON.stringify(outputs)}`);
  }
  // Types and shapes, where this onnxruntime reports them (inputMetadata is new in 1.22).
  const input = (name) => session.inputMetadata?.find((i) => i.name === name);
  const y = session.outputMetadata?.find((o) => o.name === meta.outputName);
  const { imageSize: s, channels: c } = meta;
  const checks = [[input(meta.inputName), "float32", [null, meta.latentDim]], [y, meta.outputDtype, meta.outputLayout === "NCHW" ? [null, c, s, s] : [null, s, s, c]]];
  if (meta.attributesInput) checks.push([input(meta.attributesInput), "float32", [null, meta.attributes.names.length]]);
  for (const [value, type, shape] of checks) {
    if (!value?.isTensor) continue;
    if (value.type !== type) throw new FaceganError(`${source}: ${JSON.stringify(value.name)} is ${value.type} but facegan metadata says ${type}`);
    if (value.shape?.length && !shapeAgrees(value.shape, shape)) {
      throw new FaceganError(`${source}: ${JSON.stringify(value.name)} has shape [${value.shape}] but the metadata implies [${shape.map((v) => v ?? "batch")}]`);
    }
  }
}
