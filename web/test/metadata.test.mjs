// The protobuf reader (ModelProto.metadata_props) on real exports and hand-made bytes, and metadata
// validation refusing what runtime/metadata.py refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FaceganError, NUMPY_RECIPE, PHILOX_RECIPE, parseMetadata, readOnnxMetadata } from "../facegan.js";
import { FLOAT_META, UINT8_META, field, modelBytes } from "./helpers.mjs";

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

const without = (key) => Object.fromEntries(Object.entries(FLOAT_META).filter(([k]) => k !== key));
const refusals = [
  [{ "other.key": "1" }, /has no facegan metadata; export it with facegan-export/],
  [{ ...FLOAT_META, "facegan.format_version": "2" }, /format version "2"; this facegan reads version 1/],
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
