// The protobuf reader (ModelProto.metadata_props) on real exports and hand-made bytes, and metadata
// validation refusing what runtime/metadata.py refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FaceganError, NUMPY_RECIPE, PHILOX_RECIPE, parseMetadata, readOnnxMetadata } from "../facegan.js";
import { ATTRIBUTES, COND_META, DIRECTIONS, FLOAT_META, UINT8_META, field, modelBytes } from "./helpers.mjs";

const V01_MODEL = new URL("../../tests/fixtures/v0.1/generator.onnx", import.meta.url); // facegan 0.1, committed
const FIXTURES = process.env.FACEGAN_JS_FIXTURES;

test("reads the metadata of a real facegan 0.1 export", () => {
  const props = readOnnxMetadata(readFileSync(V01_MODEL));
  assert.equal(props["facegan.format_version"], "1");
  assert.equal(props["facegan.latent_dim"], "16");
  assert.equal(props["facegan.latents"], NUMPY_RECIPE);
  assert.equal(JSON.parse(props["facegan.model_config"]).latent_dim, 16);
  const meta = parseMetadata(props, "generator.onnx");
  assert.deepEqual([meta.latentDim, meta.imageSize, meta.channels, meta.outputLayout], [16, 32, 3, "NCHW"]);
  assert.deepEqual(meta.valueRange, [-1, 1]);
  assert.equal(meta.weights, "ema");
  assert.equal(meta.trainStep, 800);
  assert.equal(meta.extra.onnx_version, "1.23.2");
  assert.equal(meta.parity.artifact, "generator.onnx");
});

test("reads exactly the metadata Python reads from fresh exports", { skip: !FIXTURES && "FACEGAN_JS_FIXTURES is not set (tests/test_js_runtime.py sets it)" }, () => {
  const index = JSON.parse(readFileSync(`${FIXTURES}/index.json`, "utf8"));
  for (const [name, file] of Object.entries(index.models)) {
    assert.deepEqual(readOnnxMetadata(readFileSync(`${FIXTURES}/${file}`)), index.metadata[name], name);
  }
});

test("skips every other field by its wire type, wherever it is", () => {
  const noise = [
    ...field(2, 2, "producer"), ...field(3, 0, 2 ** 40), ...field(9, 1, new Uint8Array(8).fill(0xff)),
    ...field(11, 5, [1, 2, 3, 4]), ...field(536870911, 0, 1), ...field(14, 0, 5), // field 14 with another wire type
  ];
  const props = { "facegan.latents": PHILOX_RECIPE, "ünïcode ключ": "", other: "x" };
  assert.deepEqual(readOnnxMetadata(modelBytes(props, { before: noise, after: noise })), props);
  // An entry's own unknown fields, reversed order and missing parts (proto3 defaults: "").
  const entry = (...parts) => field(14, 2, parts.flat());
  const bytes = Uint8Array.from([...entry(field(3, 0, 7), field(2, 2, "v"), field(1, 2, "k")), ...entry(field(1, 2, "only-key"))]);
  assert.deepEqual(readOnnxMetadata(bytes), { k: "v", "only-key": "" });
  assert.deepEqual(readOnnxMetadata(new Uint8Array(0)), {});
});

test("takes an ArrayBuffer, a Uint8Array view with an offset, or a Node Buffer", () => {
  const bytes = modelBytes({ a: "1" });
  const padded = new Uint8Array(bytes.length + 10);
  padded.set(bytes, 7);
  assert.deepEqual(readOnnxMetadata(padded.subarray(7, 7 + bytes.length)), { a: "1" });
  assert.deepEqual(readOnnxMetadata(bytes.buffer), { a: "1" });
  assert.deepEqual(readOnnxMetadata(Buffer.from(bytes)), { a: "1" });
  assert.throws(() => readOnnxMetadata("model.onnx"), TypeError);
});

test("bytes that are not an ONNX model are refused with FaceganError", () => {
  const bad = [
    new TextEncoder().encode("<!DOCTYPE html><title>404</title>"), // a server's error page
    new TextEncoder().encode('{"error": "not found"}'),
    Uint8Array.from([0x72, 0x05, 0x0a]), // field 14 claims 5 bytes, has 1
    Uint8Array.from([0x08, 0xff]), // truncated varint
    Uint8Array.from([0x72, 0x02, 0x0a, 0x05]), // entry key runs past the entry
  ];
  for (const bytes of bad) assert.throws(() => readOnnxMetadata(bytes), (e) => e instanceof FaceganError && /^not an ONNX model/.test(e.message));
});

function attributeRefusals() {
  // Malformed facegan.attributes / facegan.directions / facegan.attributes_input.
  const attrs = (change) => ({ ...COND_META, "facegan.attributes": JSON.stringify({ ...ATTRIBUTES, ...change }) });
  const prior = (change) => attrs({ prior: { ...ATTRIBUTES.prior, ...change } });
  const dirs = (change) => ({ ...FLOAT_META, "facegan.directions": JSON.stringify({ ...DIRECTIONS, ...change }) });
  const bad = /has malformed facegan metadata: facegan\.attributes: /, badDirections = /has malformed facegan metadata: facegan\.directions: /;
  return [
    [{ ...COND_META, "facegan.attributes": "[1, 2]" }, /facegan\.attributes: must be a JSON object, got an array/],
    [{ ...COND_META, "facegan.attributes": "{oops" }, /malformed facegan metadata: facegan\.attributes: /],
    [{ ...COND_META, "facegan.attributes_input": "z" }, /attributes_input must name a second input, got "z"/],
    [{ ...COND_META, "facegan.attributes_input": "" }, /attributes_input must name a second input/],
    [attrs({ names: [] }), bad], [attrs({ names: ["a", "a", "b", "c"] }), /names repeats a name/],
    [attrs({ names: ["a", 1, "b", "c"] }), bad], [attrs({ frequencies: [0.5, 0.2, 0.4] }), /frequencies must be a list of 4 numbers/],
    [attrs({ frequencies: [0.5, 0.2, 1.5, 0] }), /frequencies must be finite numbers in \[0, 1\]/],
    [attrs({ rows: 0 }), /rows must be an integer >= 1/], [attrs({ rows: "100" }), /rows must be/],
    [attrs({ prior: null }), /prior must be an object/], [prior({ vectors: [] }), /prior\.vectors must be a list of 1 to 4096/],
    [prior({ vectors: ["001", "1010", "1001", "0001", "1100"] }), /4-character strings of 0 and 1, got "001"/],
    [prior({ vectors: ["0012", "1010", "1001", "0001", "1100"] }), /strings of 0 and 1/],
    [prior({ vectors: ["1010", "1010", "1001", "0001", "1100"] }), /repeats a vector/],
    [prior({ counts: [30, 25, 20, 15] }), /prior\.counts must be a list of 5 counts/],
    [prior({ counts: [30, 25, 0, 15, 10] }), /must be positive integers/], [prior({ counts: [30, 25, 2.5, 15, 10] }), /positive integers/],
    [prior({ counts: [2 ** 21, 1, 1, 1, 1] }), /sum to 2097156, not below 2\*\*21/],
    [{ ...FLOAT_META, "facegan.directions": "{]" }, badDirections], [dirs({ names: ["a", "a"] }), /repeats a name/],
    [dirs({ vectors: [DIRECTIONS.vectors[0]] }), /vectors must be a list of 2 vectors/],
    [dirs({ vectors: [[1, 0, 0], DIRECTIONS.vectors[1]] }), /vectors\[0\] must be a list of 6 numbers/],
    [dirs({ vectors: [[2, 0, 0, 0, 0, 0], DIRECTIONS.vectors[1]] }), /vectors\[0\] must have unit norm, has 2/],
    [dirs({ accuracy: [0.5] }), /accuracy must be a list of 2 numbers/], [dirs({ boundary_accuracy: [0.5, 2] }), /boundary_accuracy must be finite numbers in \[0, 1\]/],
    [dirs({ samples: -1 }), /samples must be a non-negative integer, got -1/], [dirs({ samples: 1.5 }), /samples must be/],
    [dirs({ method: 3 }), /method must be a string/], [dirs({ names: ["a,b", "c"] }), /"a,b" is not a usable name/],
    [dirs({ vectors: [DIRECTIONS.vectors[0].map((x) => x * 1.00001), DIRECTIONS.vectors[1]] }), /unit norm/],
    [attrs({ names: ["Smiling", " Eyeglasses", "Black_Hair", "Blond_Hair"] }), /" Eyeglasses" is not a usable name \(non-empty, no ',', no outer spaces\)/],
  ];
}

const without = (key) => Object.fromEntries(Object.entries(FLOAT_META).filter(([k]) => k !== key));
const refusals = [
  [{ "other.key": "1" }, /has no facegan metadata; export it with facegan-export/],
  [{ ...FLOAT_META, "facegan.format_version": "3" }, /format version "3"; this facegan reads versions 1 and 2/],
  [{ ...FLOAT_META, "facegan.format_version": "2" }, /missing facegan\.attributes_input, facegan\.attributes \(required by format version 2\)/],
  [{ ...FLOAT_META, "facegan.attributes": COND_META["facegan.attributes"] }, /has facegan\.attributes but format version 1/],
  ...attributeRefusals(),
  [without("facegan.format_version"), /format version null/],
  [without("facegan.value_range"), /missing facegan\.value_range/],
  [without("facegan.torch_version"), /missing facegan\.torch_version/],
  [{ ...FLOAT_META, "facegan.latent_dim": "0" }, /latent_dim must be an integer >= 1/],
  [{ ...FLOAT_META, "facegan.image_size": "3.5" }, /image_size must be an integer/],
  [{ ...FLOAT_META, "facegan.train_step": "many" }, /train_step must be an integer/],
  [{ ...FLOAT_META, "facegan.model_config": "{not json" }, /malformed facegan metadata: facegan\.model_config/],
  [{ ...FLOAT_META, "facegan.value_range": "[1, -1]" }, /bad value_range/],
  [{ ...FLOAT_META, "facegan.value_range": "[0]" }, /bad value_range/],
  [{ ...FLOAT_META, "facegan.output_layout": "NHWC" }, /output_dtype "float32" with layout "NHWC"/],
  [{ ...UINT8_META, "facegan.output_layout": "NCHW" }, /output_dtype "uint8" with layout "NCHW"/],
  [{ ...FLOAT_META, "facegan.output_dtype": "float16" }, /not a combination facegan writes/],
  [{ ...FLOAT_META, "facegan.dtype": "int8" }, /unknown dtype "int8"/],
  [{ ...FLOAT_META, "facegan.weights": "best" }, /unknown weights "best"/],
  [{ ...FLOAT_META, "facegan.latents": "mt19937 float32" }, /expects latents drawn as "mt19937 float32"; this facegan draws "philox4x32-10/],
  [{ ...FLOAT_META, "facegan.channels": "2" }, /2 channels cannot be drawn as RGBA/],
];

test("refuses the metadata runtime/metadata.py refuses, naming the source", () => {
  for (const [props, message] of refusals) {
    assert.throws(() => parseMetadata(props, "m.onnx"), (e) => {
      assert.ok(e instanceof FaceganError, `${e}`);
      assert.match(e.message, message);
      assert.match(e.message, /^m\.onnx /);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  }
});

test("accepts both recipes, float and uint8 layouts, and keeps unknown keys", () => {
  const meta = parseMetadata({ ...FLOAT_META, "facegan.future_key": "x", "onnx.other": "y" });
  assert.equal(meta.latents, PHILOX_RECIPE);
  assert.equal(meta.extra.future_key, "x");
  assert.equal(meta.raw["onnx.other"], "y");
  assert.equal(meta.parity, null);
  assert.equal(parseMetadata({ ...FLOAT_META, "facegan.latents": NUMPY_RECIPE }).latents, NUMPY_RECIPE);
  const u8 = parseMetadata(UINT8_META);
  assert.deepEqual([u8.outputDtype, u8.outputLayout, u8.valueRange], ["uint8", "NHWC", [0, 255]]);
});

test("version 2: the attribute space and the directions, parsed", () => {
  const meta = parseMetadata(COND_META, "c.onnx");
  assert.equal(meta.formatVersion, "2");
  assert.equal(meta.attributesInput, "attributes");
  assert.deepEqual(meta.attributes.names, ATTRIBUTES.names);
  assert.deepEqual([meta.attributes.frequencies, meta.attributes.rows, meta.attributes.total], [ATTRIBUTES.frequencies, 100, 100]);
  assert.deepEqual(meta.attributes.vectors, ATTRIBUTES.prior.vectors);
  assert.deepEqual(meta.attributes.counts, ATTRIBUTES.prior.counts);
  assert.deepEqual(Array.from(meta.attributes.bits.subarray(4, 8)), [1, 0, 1, 0]);
  assert.deepEqual(meta.directions.names, ["Smiling", "Eyeglasses"]);
  assert.ok(meta.directions.vectors instanceof Float32Array && meta.directions.vectors.length === 12);
  assert.deepEqual(Array.from(meta.directions.vectors.subarray(6)), DIRECTIONS.vectors[1].map(Math.fround));
  assert.deepEqual([meta.directions.accuracy, meta.directions.boundaryAccuracy, meta.directions.samples, meta.directions.method],
    [[0.9, 0.8], [0.95, 0.85], 2000, "interfacegan"]);
  // Version 1: no attributes; directions alone are optional and do not bump the version.
  const v1 = parseMetadata(FLOAT_META);
  assert.deepEqual([v1.formatVersion, v1.attributesInput, v1.attributes, v1.directions], ["1", null, null, null]);
  const withDirections = parseMetadata({ ...FLOAT_META, "facegan.directions": COND_META["facegan.directions"] });
  assert.deepEqual(withDirections.directions.names, ["Smiling", "Eyeglasses"]);
  // Only names and vectors are required of directions (as runtime/directions.py).
  const bare = parseMetadata({ ...FLOAT_META, "facegan.directions": JSON.stringify({ names: DIRECTIONS.names, vectors: DIRECTIONS.vectors }) }).directions;
  assert.deepEqual([bare.accuracy, bare.boundaryAccuracy, bare.samples, bare.method], [null, null, null, "interfacegan"]);
  // The parsed keys are not repeated in `extra` (as Python's ModelMetadata.extra).
  assert.deepEqual(Object.keys(meta.extra), ["onnx_version"]);
});

test("accepts and refuses exactly what Python's parse_metadata does, on a conditional export's metadata", { skip: !FIXTURES && "FACEGAN_JS_FIXTURES is not set (tests/test_js_runtime.py sets it)" }, () => {
  const { metadata_cases: cases } = JSON.parse(readFileSync(`${FIXTURES}/index.json`, "utf8"));
  assert.ok(cases.length >= 20 && cases.some((c) => c.accepted) && cases.some((c) => !c.accepted));
  for (const { name, props, accepted } of cases) {
    let verdict = true, message = "";
    try { parseMetadata(props, "m.onnx"); } catch (e) {
      assert.ok(e instanceof FaceganError && !e.message.includes("\n"), `${name}: ${e}`);
      verdict = false; message = e.message;
    }
    assert.equal(verdict, accepted, `${name}: Python ${accepted ? "accepts" : "refuses"} it, JS ${verdict ? "accepts" : `refuses: ${message}`}`);
  }
});
