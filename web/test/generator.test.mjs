// FaceGenerator against a fake onnxruntime (test/helpers.mjs): signature checks, argument refusals,
// chunking, truncation, interpolation ends, pixel conversion. No onnxruntime needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FaceGenerator, FaceganError, Faces, NUMPY_RECIPE, latents, lerp, slerp, toRGBA,
} from "../facegan.js";
import { FLOAT_META, UINT8_META, fakeOrt, fakeValue, modelBytes } from "./helpers.mjs";

const D = 6, S = 2, PLANE = S * S;
const open = (props = FLOAT_META, options = {}, graph = {}) => {
  const ort = fakeOrt(graph);
  return FaceGenerator.create(modelBytes(props), { ort, ...options }).then((gen) => Object.assign(gen, { fake: ort }));
};

function expectedRGBA(z, n) {
  // What facegan.js must produce from fakeValue outputs: runtime/images.py to_uint8, RGB -> RGBA.
  const out = new Uint8ClampedArray(n * PLANE * 4);
  for (let f = 0; f < n; f++) {
    const face = z.subarray(f * D, (f + 1) * D);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < PLANE; p++) {
        const x = Math.fround(fakeValue(face, c * PLANE + p));
        out[(f * PLANE + p) * 4 + c] = Math.fround(Math.fround(x + 1) * Math.fround(127.5));
      }
    }
    for (let p = 0; p < PLANE; p++) out[(f * PLANE + p) * 4 + 3] = 255;
  }
  return out;
}

test("create reads the metadata, passes session options, and exposes the model's shape", async () => {
  const gen = await open(FLOAT_META, { executionProviders: ["wasm"], sessionOptions: { graphOptimizationLevel: "all" } });
  assert.deepEqual([gen.latentDim, gen.imageSize, gen.channels, gen.valueRange], [D, S, 3, [-1, 1]]);
  assert.deepEqual(gen.fake.sessions[0].options, { graphOptimizationLevel: "all", executionProviders: ["wasm"] });
  assert.equal(gen.metadata.raw["facegan.preset"], "dcgan");
  assert.equal(gen.batchSize, 16);
});

test("generate: seeded latents through the model, RGBA with alpha 255, in chunks of batchSize", async () => {
  const gen = await open(FLOAT_META, { batchSize: 3 });
  const faces = await gen.generate(7, 42);
  assert.ok(faces instanceof Faces);
  assert.deepEqual([faces.count, faces.width, faces.height, faces.data.length], [7, S, S, 7 * PLANE * 4]);
  assert.ok(faces.data instanceof Uint8ClampedArray);
  assert.deepEqual(gen.fake.runs, [3, 3, 1]);
  assert.deepEqual(faces.data, expectedRGBA(latents(42, 7, D), 7));
  const once = await gen.generate(7, 42, { batchSize: 64 });
  assert.deepEqual(once.data, faces.data);
  assert.deepEqual(gen.fake.runs.slice(3), [7]);
  assert.deepEqual(faces.face(6), faces.data.subarray(6 * PLANE * 4));
  assert.equal(faces.face(2).buffer, faces.data.buffer); // a view, not a copy
  assert.throws(() => faces.face(7), RangeError);
  assert.notDeepEqual((await gen.generate(7, 43)).data, faces.data);
});

test("latents and generateFromLatents give the faces of generate", async () => {
  const gen = await open();
  const z = gen.latents(4, 9);
  assert.deepEqual(z, latents(9, 4, D));
  assert.deepEqual(gen.latents(1, 9, { start: 3 }), z.subarray(3 * D));
  const copy = Float32Array.from(z);
  assert.deepEqual((await gen.generateFromLatents(z, { truncation: 0.5 })).data, (await gen.generate(4, 9, { truncation: 0.5 })).data);
  assert.deepEqual(z, copy, "the caller's z is left as it was");
  assert.deepEqual((await gen.generateFromLatents(Array.from(z))).data, (await gen.generate(4, 9)).data);
});

test("truncation multiplies by float32(psi) in float32", async () => {
  const gen = await open();
  const z = gen.latents(3, 1), psi = 0.7;
  const scaled = z.map((v) => Math.fround(v * Math.fround(psi)));
  assert.deepEqual((await gen.generate(3, 1, { truncation: psi })).data, expectedRGBA(scaled, 3));
  assert.deepEqual((await gen.generate(3, 1, { truncation: 0 })).data, expectedRGBA(new Float32Array(3 * D), 3));
  await assert.rejects(gen.generate(3, 1, { truncation: 3e38 }), /truncation 3e\+38 scales the latents beyond float32/);
  await assert.rejects(gen.generateFromLatents(Float32Array.of(NaN, 0, 0, 0, 0, 0), { truncation: 0.5 }), /^RangeError: z contains NaN/);
});

test("interpolate: both ends included, each end face 0 of its seed", async () => {
  const gen = await open();
  for (const method of ["slerp", "lerp"]) {
    const frames = await gen.interpolate(3, 5, 6, { method });
    assert.equal(frames.count, 6);
    assert.deepEqual(frames.face(0), (await gen.generate(1, 3)).face(0), method);
    assert.deepEqual(frames.face(5), (await gen.generate(1, 5)).face(0), method);
    assert.notDeepEqual(frames.face(2), frames.face(0));
  }
  assert.equal((await gen.interpolate(3, 5)).count, 32);
});

test("slerp and lerp: exact ends, lerp's midpoint in float32, slerp keeps the norm", () => {
  const a = latents(1, 1, 50), b = latents(2, 1, 50);
  for (const path of [slerp(a, b, 5), lerp(a, b, 5)]) {
    assert.deepEqual(path.subarray(0, 50), a);
    assert.deepEqual(path.subarray(200), b);
  }
  const mid = lerp(a, b, 3).subarray(50, 100);
  mid.forEach((v, j) => assert.equal(v, Math.fround(Math.fround(0.5 * a[j]) + Math.fround(0.5 * b[j]))));
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const s = slerp(a, b, 3).subarray(50, 100);
  assert.ok(norm(s) > norm(mid) * 1.2, "slerp does not pass near the origin as lerp does");
  assert.deepEqual(slerp(a, a, 4), lerp(a, a, 4)); // parallel ends: lerp
});

test("uint8 exports: NHWC RGB copied into RGBA", async () => {
  const gen = await open(UINT8_META);
  const faces = await gen.generate(2, 5), z = latents(5, 2, D);
  for (let f = 0; f < 2; f++) {
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) {
        const want = Math.round((fakeValue(z.subarray(f * D, (f + 1) * D), p * 3 + c) + 1) * 127.5);
        assert.equal(faces.data[(f * PLANE + p) * 4 + c], want);
      }
      assert.equal(faces.data[(f * PLANE + p) * 4 + 3], 255);
    }
  }
});

test("toRGBA rounds half to even and clips, as numpy.rint and np.clip do; grey and RGBA models", () => {
  const meta = { channels: 1, imageSize: 2, outputLayout: "NCHW", valueRange: [0, 255] };
  const grey = toRGBA(Float32Array.of(2.5, 3.5, -7, 300), 1, meta);
  assert.deepEqual(Array.from(grey), [2, 2, 2, 255, 4, 4, 4, 255, 0, 0, 0, 255, 255, 255, 255, 255]);
  const nan = toRGBA(Float32Array.of(NaN, 0.49999997, 254.5, 255.5), 1, meta);
  assert.deepEqual(Array.from(nan).filter((_, i) => i % 4 === 0), [0, 0, 254, 255]);
  const rgba = toRGBA(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, { channels: 4, imageSize: 1, outputLayout: "NHWC" });
  assert.deepEqual(Array.from(rgba), [1, 2, 3, 4, 5, 6, 7, 8]);
  // [-1, 1]: lo = -1, scale = float32(127.5); x - lo in float32 first, then the product in float32.
  const tanh = toRGBA(Float32Array.of(-1, 1, 0, 0.003921628), 1, { channels: 1, imageSize: 2, outputLayout: "NCHW", valueRange: [-1, 1] });
  assert.deepEqual(Array.from(tanh).filter((_, i) => i % 4 === 0), [0, 255, 128, 128]);
});

test("numpy-recipe models open and run latents given to them, but refuse seeds", async () => {
  const gen = await open({ ...FLOAT_META, "facegan.latents": NUMPY_RECIPE });
  const numpyOnly = (e) => e instanceof FaceganError && /exported with numpy's latent recipe, which only Python reproduces; re-export it/.test(e.message);
  assert.throws(() => gen.latents(1, 0), numpyOnly);
  await assert.rejects(gen.generate(1, 0), numpyOnly);
  await assert.rejects(gen.interpolate(0, 1, 4), numpyOnly);
  assert.equal((await gen.generateFromLatents(new Float32Array(2 * D))).count, 2);
});

test("models whose graph disagrees with the metadata are refused", async () => {
  const graphs = [
    [{ inputNames: ["x"] }, /metadata input "z" but the graph takes \["x"\]/],
    [{ inputNames: ["z", "noise"] }, /graph takes \["z","noise"\]/],
    [{ outputNames: ["out"] }, /metadata output "images" but the graph gives \["out"\]/],
    [{ inputMetadata: [{ name: "z", isTensor: true, type: "float16", shape: ["batch", D] }] }, /"z" is float16/],
    [{ inputMetadata: [{ name: "z", isTensor: true, type: "float32", shape: [1, D] }] }, /"z" has shape \[1,6\] but the metadata implies \[batch,6\]/],
    [{ inputMetadata: [{ name: "z", isTensor: true, type: "float32", shape: ["batch", 7] }] }, /has shape/],
    [{ outputMetadata: [{ name: "images", isTensor: true, type: "uint8", shape: ["batch", S, S, 3] }] }, /"images" is uint8 but facegan metadata says float32/],
    [{ outputMetadata: [{ name: "images", isTensor: true, type: "float32", shape: ["batch", 3, 4, 4] }] }, /"images" has shape/],
  ];
  for (const [graph, message] of graphs) {
    await assert.rejects(open(FLOAT_META, {}, graph), (e) => e instanceof FaceganError && message.test(e.message), String(message));
  }
  // Without inputMetadata (onnxruntime before 1.22) only the names are checked.
  assert.ok(await open(FLOAT_META, {}, { inputMetadata: undefined, outputMetadata: undefined }));
  await assert.rejects(open({ "x.y": "1" }), /model has no facegan metadata/);
});

test("create refuses a missing ort, bad sources and options; wraps onnxruntime's errors", async () => {
  const bytes = modelBytes(FLOAT_META);
  await assert.rejects(FaceGenerator.create(bytes), /options.ort must be the onnxruntime-web or onnxruntime-node module/);
  await assert.rejects(FaceGenerator.create(bytes, { ort: {} }), TypeError);
  await assert.rejects(FaceGenerator.create(42, { ort: fakeOrt() }), TypeError);
  await assert.rejects(FaceGenerator.create(bytes, { ort: fakeOrt(), batchSize: 0 }), RangeError);
  await assert.rejects(FaceGenerator.create(bytes, { ort: fakeOrt(), providers: ["cpu"] }), /unknown option providers/);
  const broken = fakeOrt();
  broken.InferenceSession.create = async () => { throw new Error("protobuf parsing failed.\nmore"); };
  await assert.rejects(FaceGenerator.create(bytes, { ort: broken }), (e) => e instanceof FaceganError && e.message === "onnxruntime could not open model: protobuf parsing failed.");
  await assert.rejects(FaceGenerator.create("http://127.0.0.1:9/model.onnx", { ort: fakeOrt() }), (e) => e instanceof FaceganError && /^could not fetch http:\/\/127\.0\.0\.1:9\/model\.onnx/.test(e.message));
});

test("bad arguments throw TypeError or RangeError with one line", async () => {
  const gen = await open();
  const cases = [
    [() => gen.generate(0, 1), RangeError], [() => gen.generate(1.5, 1), RangeError], [() => gen.generate("3", 1), TypeError],
    [() => gen.generate(100001, 1), RangeError], [() => gen.generate(1, -1), RangeError], [() => gen.generate(1, 0.5), RangeError],
    [() => gen.generate(1, 2 ** 53), RangeError], [() => gen.generate(1, 2n ** 64n), RangeError], [() => gen.generate(1, "7"), TypeError],
    [() => gen.generate(1, 1, { truncation: -0.1 }), RangeError], [() => gen.generate(1, 1, { truncation: NaN }), RangeError],
    [() => gen.generate(1, 1, { truncation: Infinity }), RangeError], [() => gen.generate(1, 1, { truncation: "0.5" }), TypeError],
    [() => gen.generate(1, 1, 0.7), TypeError], [() => gen.generate(1, 1, { truncate: 0.7 }), TypeError],
    [() => gen.generate(1, 1, { batchSize: 0 }), RangeError],
    [() => gen.interpolate(1, 2, 1), RangeError], [() => gen.interpolate(1, 2, 2.5), RangeError],
    [() => gen.interpolate(1, -2, 4), RangeError], [() => gen.interpolate(1, 2, 4, { method: "cubic" }), RangeError],
    [() => gen.generateFromLatents(new Float32Array(D + 1)), RangeError], [() => gen.generateFromLatents(new Float32Array(0)), RangeError],
    [() => gen.generateFromLatents(new Int32Array(D)), TypeError], [() => gen.generateFromLatents(null), TypeError],
    [() => gen.generateFromLatents(Float32Array.of(1, 2, NaN, 4, 5, 6)), RangeError],
    [() => gen.generateFromLatents(Float64Array.of(1e300, 0, 0, 0, 0, 0)), RangeError],
    [() => gen.latents(0, 1), RangeError],
  ];
  for (const [call, type] of cases) {
    await assert.rejects(async () => call(), (e) => {
      assert.ok(e instanceof type, `${call}: ${e}`);
      assert.ok(!e.message.includes("\n"), e.message);
      return true;
    });
  }
  assert.equal(gen.fake.runs.length, 0, "nothing ran");
});

test("overlapping calls are serialised: one session.run at a time, each call its own faces", async () => {
  const gen = await open(FLOAT_META, { batchSize: 2 });
  const [a, b] = await Promise.all([gen.generate(5, 1), gen.generate(5, 2)]);
  assert.deepEqual(a.data, (await gen.generate(5, 1)).data);
  assert.deepEqual(b.data, (await gen.generate(5, 2)).data);
});

test("facegan.d.ts declares every export of facegan.js, and nothing it lacks", async () => {
  const { readFileSync } = await import("node:fs");
  const dts = readFileSync(new URL("../facegan.d.ts", import.meta.url), "utf8");
  const declared = new Set([...dts.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
  const actual = new Set(Object.keys(await import("../facegan.js")));
  assert.deepEqual([...declared].sort(), [...actual].sort());
});
