// The runtime on real models with onnxruntime-node. With FACEGAN_JS_FIXTURES (a folder written by
// tests/test_js_runtime.py: fresh float and uint8 exports, conditional ones, all with directions,
// facegan 0.1's numpy-recipe model and the pixels Python's FaceGenerator drew from them), the same
// calls must give the same pixels within one uint8 level, and a wrong seed or other attributes must not;
// the attribute rows drawn from a real export's prior must be Python's exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FaceGenerator, FaceganError, NUMPY_RECIPE, toRGBA } from "../facegan.js";

const ort = await import("onnxruntime-node").then((m) => m.default ?? m, () => null);
const NO_ORT = !ort && "onnxruntime-node is not installed (npm ci --prefix web)";
const FIXTURES = process.env.FACEGAN_JS_FIXTURES;
const NO_FIXTURES = NO_ORT || (!FIXTURES && "FACEGAN_JS_FIXTURES is not set (tests/test_js_runtime.py sets it)");
const V01_MODEL = new URL("../../tests/fixtures/v0.1/generator.onnx", import.meta.url);

function compareRGB(faces, expected, shape) {
  // Max |JS - Python| over R, G, B, and how many values differ at all.
  const [n, h, w, c] = shape;
  assert.deepEqual([faces.count, faces.height, faces.width, c], [n, h, w, 3]);
  let max = 0, differ = 0;
  for (let p = 0; p < n * h * w; p++) {
    for (let q = 0; q < 3; q++) {
      const d = Math.abs(faces.data[p * 4 + q] - expected[p * 3 + q]);
      if (d) differ++;
      if (d > max) max = d;
    }
    assert.equal(faces.data[p * 4 + 3], 255);
  }
  return { max, differ, of: n * h * w * 3 };
}

const seed = (text) => (BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(text) : Number(text));
const otherSeed = (text) => seed(String(BigInt(text) === 2n ** 64n - 1n ? BigInt(text) - 1n : BigInt(text) + 1n));

test("facegan 0.1's model opens in onnxruntime-node; its latents run, its seeds are refused", { skip: NO_ORT }, async () => {
  const gen = await FaceGenerator.create(readFileSync(V01_MODEL), { ort, executionProviders: ["cpu"] });
  assert.equal(gen.metadata.latents, NUMPY_RECIPE);
  assert.deepEqual([gen.latentDim, gen.imageSize], [16, 32]);
  await assert.rejects(gen.generate(2, 0), (e) => e instanceof FaceganError && /numpy's latent recipe/.test(e.message));
  const z = new Float32Array(3 * 16).map((_, j) => Math.sin(j));
  const faces = await gen.generateFromLatents(z, { batchSize: 2 });
  assert.equal(faces.count, 3);
  const red = faces.face(0).filter((_, i) => i % 4 === 0);
  assert.ok(Math.max(...red) - Math.min(...red) > 50, "the faces have contrast");
});

function fixtures() {
  const index = JSON.parse(readFileSync(`${FIXTURES}/index.json`, "utf8"));
  const bytes = (file) => readFileSync(`${FIXTURES}/${file}`);
  const gens = {};
  const open = async (name) => (gens[name] ??= await FaceGenerator.create(bytes(index.models[name]), { ort, batchSize: 2 }));
  return { index, bytes, open };
}

const floats = (raw) => new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));

async function draw(gen, call, args, bytes) {
  const options = { truncation: args.truncation, ...(args.attributes ? { attributes: args.attributes } : {}) };
  if (call === "generate") return gen.generate(args.n, seed(args.seed), options);
  if (call === "edit") return gen.edit(seed(args.seed), args.edits, { ...options, n: args.n });
  if (call === "interpolate") return gen.interpolate(seed(args.seedA), seed(args.seedB), args.steps, { ...options, method: args.method });
  const rows = args.attributeRows ? { attributes: floats(bytes(args.attributeRows)) } : {};
  return gen.generateFromLatents(floats(bytes(args.latents)), { truncation: args.truncation, ...rows });
}

const flipped = (requests) => Object.fromEntries(Object.entries(requests).map(([k, v]) => [k, 1 - Number(v)]));

test("same calls, same pixels as Python within one uint8 level; a wrong seed differs", { skip: NO_FIXTURES }, async (t) => {
  const { index, bytes, open } = fixtures();
  assert.ok(index.cases.length >= 8);
  for (const { name, model, call, args, pixels, shape } of index.cases) {
    const gen = await open(model);
    const faces = await draw(gen, call, args, bytes);
    const stats = compareRGB(faces, bytes(pixels), shape);
    t.diagnostic(`${name}: max diff ${stats.max}, ${stats.differ} of ${stats.of} values differ`);
    assert.ok(stats.max <= 1, `${name}: max diff ${stats.max} levels (${stats.differ} of ${stats.of} values differ)`);
    if (call === "generateFromLatents") continue;
    const wrong = "seed" in args ? { ...args, seed: String(otherSeed(args.seed)) } : { ...args, seedA: String(otherSeed(args.seedA)) };
    const off = compareRGB(await draw(gen, call, wrong, bytes), bytes(pixels), shape);
    assert.ok(off.max > 20, `${name}: another seed gave pixels within ${off.max} levels of these`);
    if (call === "edit") {
      const unedited = compareRGB(await draw(gen, call, { ...args, edits: {} }, bytes), bytes(pixels), shape);
      assert.ok(unedited.max > 20, `${name}: without the edits the pixels are within ${unedited.max} levels of these`);
    }
    if (!args.attributes) continue;
    const other = compareRGB(await draw(gen, call, { ...args, attributes: flipped(args.attributes) }, bytes), bytes(pixels), shape);
    assert.ok(other.max > 20, `${name}: other attributes gave pixels within ${other.max} levels of these`);
  }
  const calls = new Set(index.cases.map((c) => `${c.model} ${c.call}`));
  for (const want of ["cond generate", "cond edit", "cond interpolate", "cond generateFromLatents", "float edit", "cond_uint8 generate"]) {
    assert.ok(calls.has(want), `no ${want} case`);
  }
});

test("attribute rows from a real export's prior: Python's exactly, bit for bit", { skip: NO_FIXTURES }, async () => {
  const { index, bytes, open } = fixtures();
  assert.ok(index.attribute_rows.length >= 4);
  for (const { model, n, seed: s, start, requests, rows } of index.attribute_rows) {
    const gen = await open(model);
    const got = gen.attributeVectors(n, seed(s), { start: seed(start), ...(requests ? { attributes: requests } : {}) });
    assert.deepEqual(got, floats(bytes(rows)), `${model} n ${n} seed ${s} start ${start} requests ${JSON.stringify(requests)}`);
  }
  const gen = await open("cond");
  assert.deepEqual(gen.attributes, JSON.parse(index.metadata.cond["facegan.attributes"]).names);
  assert.deepEqual(gen.directions, JSON.parse(index.metadata.cond["facegan.directions"]).names);
  assert.equal(gen.metadata.formatVersion, "2");
});

test("float -> uint8 conversion of Python's raw floats is exactly runtime/images.py to_uint8", { skip: NO_FIXTURES }, async () => {
  const { index, bytes, open } = fixtures();
  for (const { model, raw, count, pixels } of index.conversions) {
    const gen = await open(model);
    const floats = bytes(raw);
    const rgba = toRGBA(new Float32Array(floats.buffer, floats.byteOffset, floats.length / 4), count, gen.metadata);
    const s = gen.imageSize;
    const stats = compareRGB({ count, width: s, height: s, data: rgba }, bytes(pixels), [count, s, s, 3]);
    assert.equal(stats.max, 0, `${stats.differ} values differ`);
  }
});

test("the numpy-recipe fixture refuses seeds, and each model was exported with the recipe it says", { skip: NO_FIXTURES }, async () => {
  const { index, open } = fixtures();
  assert.equal(index.metadata.numpy["facegan.latents"], NUMPY_RECIPE);
  await assert.rejects((await open("numpy")).interpolate(0, 1, 3), /numpy's latent recipe/);
  assert.equal((await open("float")).metadata.latents, index.metadata.float["facegan.latents"]);
  assert.equal((await open("uint8")).metadata.outputDtype, "uint8");
});

test("onnxruntime-web (wasm, as the page runs it) draws the conditional cases' pixels too", { skip: NO_FIXTURES }, async () => {
  const web = await import("onnxruntime-web").catch(() => null);
  if (!web) return;
  const { index, bytes } = fixtures();
  const gen = await FaceGenerator.create(bytes(index.models.cond), { ort: web, executionProviders: ["wasm"] });
  const cases = index.cases.filter((c) => c.model === "cond" && c.call !== "generateFromLatents");
  assert.ok(cases.length >= 3);
  for (const { name, call, args, pixels, shape } of cases) {
    const stats = compareRGB(await draw(gen, call, args, bytes), bytes(pixels), shape);
    assert.ok(stats.max <= 1, `${name}: max diff ${stats.max} levels with onnxruntime-web`);
  }
});
