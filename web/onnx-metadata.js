// onnx-metadata.js: a model's facegan.* metadata, read from the ONNX file's bytes and validated as
// runtime/metadata.py parse_metadata validates it. Version "1": unconditional models; version "2":
// conditional ones, with a second graph input (facegan.attributes_input) and their attribute space
// (facegan.attributes). facegan.directions (optional, any version) holds the edit directions.

import { parseAttributeSpace, parseDirections } from "./attributes.js";
import { FaceganError, asBytes } from "./checks.js";
import { LATENT_RECIPES } from "./latents.js";

export const FORMAT_VERSION = "2"; // the newest metadata format this runtime reads
export const FORMAT_VERSIONS = Object.freeze(["1", "2"]); // every format it reads

const PREFIX = "facegan.";
const REQUIRED_KEYS = [
  "format_version", "input_name", "output_name", "latent_dim", "image_size", "channels", "output_layout",
  "output_dtype", "value_range", "latents", "dtype", "model_config", "preset", "weights", "train_step",
  "train_epoch", "checkpoint_sha256", "torch_version", "facegan_version",
];
const TYPED_KEYS = [...REQUIRED_KEYS, "attributes_input", "attributes", "parity", "directions"]; // parsed: not in `extra`
const LAYOUTS = { float32: "NCHW", uint8: "NHWC" }; // the output dtype/layout pairs facegan writes

// ---- Metadata. Hand-written protobuf reader: onnxruntime-web does not expose a model's
// metadata_props (onnxruntime#16547), and a protobuf library would be ~100 KB for these 40 lines.
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
  if (!FORMAT_VERSIONS.includes(ours.format_version)) {
    throw fail(`has facegan metadata format version ${JSON.stringify(ours.format_version ?? null)}; this facegan reads versions ${FORMAT_VERSIONS.join(" and ")}`);
  }
  const conditional = ours.format_version === "2";
  const versionKeys = ["attributes_input", "attributes"];
  if (conditional) {
    const absent = versionKeys.filter((k) => !(k in ours));
    if (absent.length) throw fail(`metadata is missing ${absent.map((k) => PREFIX + k).join(", ")} (required by format version 2)`);
  } else if ("attributes" in ours) {
    throw fail("metadata has facegan.attributes but format version 1; conditional models are version 2");
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
  const latentDim = int("latent_dim", 1);
  if (conditional && (!ours.attributes_input || ours.attributes_input === ours.input_name)) {
    throw fail(`has malformed facegan metadata: ${PREFIX}attributes_input must name a second input, got ${JSON.stringify(ours.attributes_input)}`);
  }
  const meta = {
    formatVersion: ours.format_version,
    latentDim, imageSize: int("image_size", 1), channels: int("channels", 1),
    outputLayout: ours.output_layout, outputDtype: ours.output_dtype,
    valueRange: Array.isArray(valueRange) ? valueRange : [], latents: ours.latents,
    inputName: ours.input_name, outputName: ours.output_name, dtype: ours.dtype, preset: ours.preset,
    weights: ours.weights, trainStep: int("train_step"), trainEpoch: int("train_epoch"),
    checkpointSha256: ours.checkpoint_sha256, modelConfig: json("model_config"),
    parity: "parity" in ours ? json("parity") : null,
    attributesInput: conditional ? ours.attributes_input : null,
    attributes: conditional ? parseAttributeSpace(json("attributes"), source) : null,
    directions: "directions" in ours ? parseDirections(json("directions"), latentDim, source) : null,
    extra: Object.fromEntries(Object.entries(ours).filter(([k]) => !TYPED_KEYS.includes(k))),
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
