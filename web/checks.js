// checks.js: what facegan's modules share: FaceganError, and the argument checks more than one of
// them makes. Internal to the runtime: facegan.js re-exports the public names (FaceganError,
// MAX_IMAGES); checkCount and asBytes are not part of its API.

export const MAX_IMAGES = 100000; // per call, as in Python: 100k 64x64 RGBA faces are 1.6 GB

/** A model this runtime cannot honour (metadata, signature, recipe) or that onnxruntime cannot run. */
export class FaceganError extends Error {
  constructor(message) {
    super(message);
    this.name = "FaceganError";
  }
}

export function checkCount(value, name, minimum = 1, maximum = MAX_IMAGES) {
  if (typeof value !== "number") throw new TypeError(`${name} must be an integer, got ${typeof value}`);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new RangeError(`${name} must be an integer between ${minimum} and ${maximum}, got ${value}`);
  }
  return value;
}

export function asBytes(source, name) {
  if (Object.prototype.toString.call(source) === "[object ArrayBuffer]") return new Uint8Array(source); // any realm
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new TypeError(`${name} must be a Uint8Array or an ArrayBuffer, got ${source === null ? "null" : typeof source}`);
}
