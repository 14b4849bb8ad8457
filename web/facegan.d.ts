// TypeScript declarations for facegan.js: faces from an exported facegan ONNX generator in browsers
// (onnxruntime-web) and Node (onnxruntime-node). onnxruntime is injected, so its types are described
// structurally here and facegan needs no onnxruntime types to compile against. facegan.js is the one
// entry point: what it re-exports from latents.js, onnx-metadata.js, pixels.js, attributes.js and
// checks.js is declared here; those modules' other exports are internal.

/** The newest metadata format this runtime reads: "2", conditional models (version "1": unconditional). */
export const FORMAT_VERSION: "2";
/** Every metadata format this runtime reads; another version is refused by `create`. */
export const FORMAT_VERSIONS: readonly ["1", "2"];
/** Attribute vectors a conditional model's prior holds at most. */
export const PRIOR_LIMIT: 4096;
/** The portable latent recipe (README "Portable seeds"): what new exports record and what this runtime draws. */
export const PHILOX_RECIPE: "philox4x32-10 box-muller float32";
/** facegan 0.1's recipe: such models open and run `generateFromLatents`, but only Python draws their seeds. */
export const NUMPY_RECIPE: "numpy.default_rng(seed).standard_normal float32";
/** Every recipe a model may name; any other `facegan.latents` is refused by `create`. */
export const LATENT_RECIPES: readonly [typeof PHILOX_RECIPE, typeof NUMPY_RECIPE];
export const INTERPOLATION_METHODS: readonly ["slerp", "lerp"];
/** Faces per call at most (as in the Python runtime). */
export const MAX_IMAGES: 100000;
/** Faces per `session.run` unless `batchSize` says otherwise. */
export const DEFAULT_BATCH_SIZE: 16;

/** A seed or face index: a safe-integer Number >= 0, or a BigInt in [0, 2^64). */
export type Seed = number | bigint;
export type LatentRecipe = (typeof LATENT_RECIPES)[number];
export type InterpolationMethod = (typeof INTERPOLATION_METHODS)[number];
/**
 * Requested attributes of a conditional model, {name: value in [0, 1]} (true/false for 1/0). The
 * others are drawn from the model's prior, kept to combinations the training data has.
 */
export type AttributeRequests = Readonly<Record<string, number | boolean>>;
/** Edits {direction name: alpha}: z moves by alpha * the unit direction (alpha in standard deviations of z). */
export type Edits = Readonly<Record<string, number>>;

/** A model this runtime cannot honour (metadata, graph signature, recipe) or that onnxruntime cannot open. */
export class FaceganError extends Error {
  name: "FaceganError";
}

/** A conditional model's attributes and their prior (facegan.attributes), validated. */
export interface AttributeSpace {
  readonly names: readonly string[]; // k attribute names, in the order of the attributes input
  readonly frequencies: readonly number[]; // share of training images with each attribute on
  readonly rows: number; // labelled training images
  readonly vectors: readonly string[]; // the prior: k-character "0"/"1" strings, most common first
  readonly counts: readonly number[]; // their (possibly scaled) image counts, the draw's weights
  readonly bits: Uint8Array; // vectors as 0/1, V * k
  readonly cumulative: Float64Array; // running sums of counts
  readonly total: number; // sum of counts (< 2^21)
}

/** Latent edit directions (facegan.directions), validated: unit vectors, one per name. */
export interface Directions {
  readonly names: readonly string[];
  readonly vectors: Float32Array; // m * latentDim, direction after direction
  readonly accuracy: readonly number[] | null; // judge accuracy on held-out real images, per direction
  readonly boundaryAccuracy: readonly number[] | null; // linear boundary accuracy on held-out generated z
  readonly samples: number | null; // generated faces the boundaries were fitted on
  readonly method: string; // "interfacegan"
}

/** The facegan.* metadata of a model, validated as runtime/metadata.py validates it. */
export interface ModelMetadata {
  formatVersion: "1" | "2"; // "2": a conditional model
  latentDim: number;
  imageSize: number; // height == width, pixels
  channels: 1 | 3 | 4;
  outputLayout: "NCHW" | "NHWC"; // NCHW for float32 output, NHWC for uint8
  outputDtype: "float32" | "uint8";
  valueRange: [number, number]; // of the raw output, e.g. [-1, 1]; [0, 255] for uint8
  latents: LatentRecipe;
  inputName: string;
  outputName: string;
  dtype: "fp32" | "fp16"; // compute precision inside the graph
  preset: string;
  weights: "raw" | "ema";
  trainStep: number;
  trainEpoch: number;
  checkpointSha256: string;
  modelConfig: Record<string, unknown>; // facegan.model_config, parsed
  parity: Record<string, unknown> | null; // facegan.parity, parsed (null without --verify)
  attributesInput: string | null; // the second graph input of a conditional model ("attributes"), else null
  attributes: AttributeSpace | null; // facegan.attributes of a conditional model, else null
  directions: Directions | null; // facegan.directions, when the model carries edit directions
  extra: Record<string, string>; // facegan.* keys beyond those above (e.g. onnx_version), without the prefix
  raw: Record<string, string>; // every metadata_props entry of the file, verbatim
}

/** `count` faces as RGBA rows (alpha 255 unless the model draws 4 channels), face after face. */
export class Faces {
  constructor(count: number, width: number, height: number, data: Uint8ClampedArray);
  readonly count: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray; // count * height * width * 4
  /** Face i as a view of `data` (no copy), ready for `new ImageData(face, width, height)`. */
  face(i: number): Uint8ClampedArray;
}

/** The part of onnxruntime's module facegan uses (onnxruntime-web and onnxruntime-node both fit). */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[]; // onnxruntime >= 1.22
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
}

export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

export interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | Uint8Array;
  dispose?(): void;
}

export interface CreateOptions {
  /** The onnxruntime-web or onnxruntime-node module (required; facegan.js imports nothing). */
  ort: OrtModule;
  /** e.g. ["wasm"] (onnxruntime-web) or ["cpu"] (onnxruntime-node); onnxruntime's default if omitted. */
  executionProviders?: readonly unknown[];
  /** Passed to InferenceSession.create (executionProviders above wins over one given here). */
  sessionOptions?: Record<string, unknown>;
  /** Faces per session.run (default DEFAULT_BATCH_SIZE). */
  batchSize?: number;
}

export interface RunOptions {
  /** Scale the latents by float32(truncation) toward the prior's mean: 1 = off, 0 = the mean face. */
  truncation?: number;
  /** Faces per session.run for this call. */
  batchSize?: number;
}

export interface GenerateOptions extends RunOptions {
  /** Conditional models: attributes to pin (the rest drawn per face from the prior). Unconditional: none, or {}. */
  attributes?: AttributeRequests;
}

export interface FromLatentsOptions extends RunOptions {
  /** Conditional models (required): n * k values in [0, 1], face after face, e.g. from attributeVectors. */
  attributes?: Float32Array | Float64Array | readonly number[];
}

export interface InterpolateOptions extends GenerateOptions {
  method?: InterpolationMethod; // default "slerp"
}

export interface EditOptions extends GenerateOptions {
  /** Faces 0 .. n-1 of the seed (default 1). */
  n?: number;
}

export class FaceGenerator {
  /**
   * Open an exported model: bytes, or a URL that is fetched. Reads and checks its facegan metadata
   * and graph; rejects with FaceganError for a model it cannot honour, TypeError/RangeError for bad
   * options. In Node, pass the file's bytes (`await readFile(path)`).
   */
  static create(source: Uint8Array | ArrayBuffer | string | URL, options: CreateOptions): Promise<FaceGenerator>;
  /** Use FaceGenerator.create; this wraps a session whose metadata is already checked. */
  constructor(ort: OrtModule, session: OrtSession, metadata: ModelMetadata, options?: { batchSize?: number; name?: string });

  readonly ort: OrtModule;
  readonly session: OrtSession;
  readonly metadata: ModelMetadata;
  readonly batchSize: number;
  readonly name: string; // the URL, or "model" for bytes: how error messages name the model
  readonly latentDim: number;
  readonly imageSize: number;
  readonly channels: number;
  readonly valueRange: [number, number];
  /** Attribute names of a conditional model, in input order; [] for an unconditional one. */
  readonly attributes: readonly string[];
  /** Names `edit` takes; [] for a model exported without directions. */
  readonly directions: readonly string[];

  /** The latents generate(n, seed) uses, before truncation: Float32Array(n * latentDim). `start` skips to that face. */
  latents(n: number, seed?: Seed, options?: { start?: Seed }): Float32Array;
  /**
   * Conditional models: the attributes generate(n, seed, {attributes}) feeds, Float32Array(n * k),
   * drawn by the portable recipe (the same rows as Python's attribute_vectors). RangeError if unconditional.
   */
  attributeVectors(n: number, seed?: Seed, options?: { attributes?: AttributeRequests; start?: Seed }): Float32Array;
  /** n faces of `seed`: faces 0 .. n-1 of that seed (face i does not depend on n). */
  generate(n: number, seed?: Seed, options?: GenerateOptions): Promise<Faces>;
  /** Faces for the given latents (n * latentDim values, face after face); works for numpy-recipe models too. */
  generateFromLatents(z: Float32Array | Float64Array | readonly number[], options?: FromLatentsOptions): Promise<Faces>;
  /**
   * Faces 0 .. n-1 of `seed` edited: z' = truncate(z) + sum alpha * direction (float32, as Python).
   * RangeError for a model without directions or an unknown name.
   */
  edit(seed: Seed, edits: Edits, options?: EditOptions): Promise<Faces>;
  /**
   * `steps` frames from face 0 of seedA to face 0 of seedB, both included (steps >= 2, default 32);
   * a conditional model's attribute rows of the two faces are interpolated linearly.
   */
  interpolate(seedA: Seed, seedB: Seed, steps?: number, options?: InterpolateOptions): Promise<Faces>;
}

/** Latents of faces start .. start+n-1 of `seed` by PHILOX_RECIPE: Float32Array(n * dim). */
export function latents(seed: Seed, n: number, dim: number, options?: { start?: Seed }): Float32Array;
/** Random123's Philox4x32-10 of a 4-word counter under a 2-word key (uint32 Numbers). */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>): Uint32Array;
/** Straight-line path from a to b, `steps` points inclusive, in float32 (runtime/latents.py lerp). */
export function lerp(a: ArrayLike<number>, b: ArrayLike<number>, steps: number): Float32Array;
/** Spherical path from a to b, computed in float64 (runtime/latents.py slerp). */
export function slerp(a: ArrayLike<number>, b: ArrayLike<number>, steps: number): Float32Array;
/** Every metadata_props entry of an ONNX model's bytes (FaceganError if they are not a protobuf). */
export function readOnnxMetadata(bytes: Uint8Array | ArrayBuffer | ArrayBufferView): Record<string, string>;
/** Validate a facegan.* map; FaceganError naming `source` and what is wrong. */
export function parseMetadata(props: Record<string, string>, source?: string): ModelMetadata;
/**
 * A model's raw output for `count` faces (NCHW float32 in meta.valueRange, or NHWC uint8) as RGBA,
 * written into `out` from face `first`; float mapping as runtime/images.py to_uint8.
 */
export function toRGBA(
  raw: ArrayLike<number>,
  count: number,
  meta: Pick<ModelMetadata, "channels" | "imageSize" | "outputLayout"> & Partial<Pick<ModelMetadata, "valueRange">>,
  out?: Uint8ClampedArray,
  first?: number,
): Uint8ClampedArray;
