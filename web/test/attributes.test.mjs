// Conditional models and directions against a fake onnxruntime (test/helpers.mjs): the attribute draw
// (re-derived here the slow way, from philox4x32 and BigInt), requests, generate/edit/interpolate
// feeding the attributes input, edits in float32, and the refusals. No onnxruntime needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FaceGenerator, FaceganError, latents, lerp, parseMetadata, philox4x32 } from "../facegan.js";
import { attributeVectors, drawnIndex } from "../attributes.js";
import { ATTRIBUTES, COND_META, DIRECTIONS, FLOAT_META, fakeOrt, modelBytes } from "./helpers.mjs";

const D = 6, K = 4;
const SPACE = parseMetadata(COND_META).attributes;
const open = (props = COND_META, options = {}) => {
  const ort = fakeOrt();
  return FaceGenerator.create(modelBytes(props), { ort, ...options }).then((gen) => Object.assign(gen, { fake: ort }));
};

function slowIndex(counts, seed, face) {
  // ATTR.md B, literally: t = floor(x0 * total / 2^32); the smallest j with counts[0..j] summing above t.
  const s = BigInt(seed), i = BigInt(face), m = 0xffffffffn;
  const [x0] = philox4x32([0, Number(i & m), Number(i >> 32n), 1], [Number(s & m), Number(s >> 32n)]);
  const total = counts.reduce((a, b) => a + b, 0);
  const t = (BigInt(x0) * BigInt(total)) >> 32n;
  let sum = 0n;
  for (let j = 0; j < counts.length; j++) if ((sum += BigInt(counts[j])) > t) return j;
  throw new Error("unreachable");
}

function slowRow(space, index, requests) {
  // The requests' rule, literally: candidates agreeing with round(request), nearest over the rest.
  const k = space.names.length, bits = space.vectors.map((v) => Array.from(v, Number));
  const req = Object.entries(requests).map(([name, value]) => [space.names.indexOf(name), Number(value)]);
  const others = [...Array(k).keys()].filter((q) => !req.some(([r]) => r === q));
  const candidates = bits.map((_, j) => j).filter((j) => req.every(([q, v]) => bits[j][q] === (v >= 0.5 ? 1 : 0)));
  let chosen = index;
  if (candidates.length) {
    const distance = (j) => others.filter((q) => bits[j][q] !== bits[index][q]).length;
    chosen = candidates.reduce((best, j) => (distance(j) < distance(best) ? j : best));
  }
  const row = bits[chosen].slice();
  for (const [q, v] of req) row[q] = v;
  return Float32Array.from(row);
}

test("the draw: prior index from Philox (counter c3 = 1), bit for bit as ATTR.md B says, for big seeds and faces", () => {
  const seeds = [0, 1, 7, 2 ** 32 + 5, 2n ** 64n - 1n], faces = [0, 1, 2, 2 ** 32 + 3];
  for (const seed of seeds) {
    for (const face of faces) assert.equal(drawnIndex(SPACE, seed, face), slowIndex(ATTRIBUTES.prior.counts, seed, face), `seed ${seed} face ${face}`);
  }
  // Counts near the limit: x0 * total stays exact.
  const big = parseMetadata({ ...COND_META, "facegan.attributes": JSON.stringify({ ...ATTRIBUTES, prior: { ...ATTRIBUTES.prior, counts: [2 ** 20, 2 ** 19, 3, 2, 1] } }) }).attributes;
  for (let face = 0; face < 200; face++) assert.equal(drawnIndex(big, 99, face), slowIndex(big.counts, 99, face));
  // Roughly the prior's frequencies over many faces.
  const rows = attributeVectors(SPACE, 5000, 3), seen = new Map();
  for (let f = 0; f < 5000; f++) { const v = Array.from(rows.subarray(f * K, (f + 1) * K)).join(""); seen.set(v, (seen.get(v) ?? 0) + 1); }
  ATTRIBUTES.prior.vectors.forEach((v, j) => assert.ok(Math.abs(seen.get(v) / 5000 - ATTRIBUTES.prior.counts[j] / 100) < 0.03, v));
  assert.equal(seen.size, 5);
});

test("attribute rows: face i independent of n and start, requests in place, prior combinations kept", () => {
  const all = attributeVectors(SPACE, 40, 11);
  assert.deepEqual(attributeVectors(SPACE, 5, 11, { start: 35 }), all.subarray(35 * K));
  assert.deepEqual(attributeVectors(SPACE, 1, 11n, { start: 7n }), all.subarray(7 * K, 8 * K));
  const requestSets = [{ Smiling: 1 }, { Smiling: 0 }, { Blond_Hair: 1 }, { Eyeglasses: 1 }, { Smiling: 0.7, Black_Hair: true },
    { Eyeglasses: 1, Blond_Hair: 1 }, { Smiling: 0.5, Eyeglasses: 0.49, Black_Hair: 0, Blond_Hair: false }];
  for (const requests of requestSets) {
    const rows = attributeVectors(SPACE, 40, 11, { attributes: requests });
    for (let f = 0; f < 40; f++) {
      const want = slowRow(SPACE, drawnIndex(SPACE, 11, f), requests);
      assert.deepEqual(rows.subarray(f * K, (f + 1) * K), want, `${JSON.stringify(requests)} face ${f}`);
    }
  }
  // Eyeglasses and Blond_Hair never occur together: nothing agrees, so the drawn vector is kept beside the requests.
  const none = attributeVectors(SPACE, 3, 2, { attributes: { Eyeglasses: 1, Blond_Hair: 1 } });
  for (let f = 0; f < 3; f++) {
    const drawn = Array.from(SPACE.vectors[drawnIndex(SPACE, 2, f)], Number);
    assert.deepEqual(Array.from(none.subarray(f * K, (f + 1) * K)), [drawn[0], 1, drawn[2], 1]);
  }
  // Requested float values land as float32.
  assert.equal(attributeVectors(SPACE, 1, 0, { attributes: { Smiling: 0.1 } })[0], Math.fround(0.1));
});

test("generate on a conditional model feeds the drawn rows to its attributes input, in chunks", async () => {
  const gen = await open(COND_META, { batchSize: 3 });
  assert.deepEqual(gen.attributes, ATTRIBUTES.names);
  assert.deepEqual(gen.directions, DIRECTIONS.names);
  assert.deepEqual(gen.attributeVectors(7, 5), attributeVectors(SPACE, 7, 5));
  assert.deepEqual(gen.attributeVectors(2, 5, { start: 3, attributes: { Smiling: 1 } }), attributeVectors(SPACE, 5, 5, { attributes: { Smiling: 1 } }).subarray(3 * K));
  const faces = await gen.generate(7, 5, { attributes: { Smiling: 1 } });
  const rows = gen.attributeVectors(7, 5, { attributes: { Smiling: 1 } });
  assert.deepEqual(gen.fake.attributeFeeds.map((a) => a.dims), [[3, K], [3, K], [1, K]]);
  assert.deepEqual(Float32Array.from(gen.fake.attributeFeeds.flatMap((a) => Array.from(a.data))), rows);
  const again = await gen.generateFromLatents(gen.latents(7, 5), { attributes: rows });
  assert.deepEqual(again.data, faces.data);
  assert.deepEqual((await gen.generateFromLatents(gen.latents(7, 5), { attributes: Array.from(rows) })).data, faces.data);
  assert.notDeepEqual((await gen.generate(7, 5, { attributes: { Smiling: 0 } })).data, faces.data, "the attributes change the faces");
  const unconditional = await open({ ...FLOAT_META, "facegan.directions": COND_META["facegan.directions"] });
  assert.deepEqual([unconditional.attributes, unconditional.directions], [[], DIRECTIONS.names]);
  assert.equal(unconditional.fake.sessions[0].inputNames.length, 1);
});

test("edit: z' = truncate(z) + sum alpha * direction in float32, attributes as generate draws them", async () => {
  const gen = await open(COND_META);
  const psi = 0.7, z = gen.latents(3, 9), d = parseMetadata(COND_META).directions.vectors;
  // runtime/directions.py: offset = float32(2 * d0 + (-1.5) * d1) summed in float64, then z + offset in float32.
  const offset = Float32Array.from({ length: D }, (_, j) => 2 * d[j] + -1.5 * d[D + j]);
  const moved = z.map((v, j) => Math.fround(Math.fround(v * Math.fround(psi)) + offset[j % D]));
  const edited = await gen.edit(9, { Smiling: 2, Eyeglasses: -1.5 }, { n: 3, truncation: psi, attributes: { Black_Hair: 1 } });
  assert.deepEqual(gen.fake.latentFeeds[0], moved);
  const rows = gen.attributeVectors(3, 9, { attributes: { Black_Hair: 1 } });
  assert.deepEqual(gen.fake.attributeFeeds[0].data, rows);
  assert.deepEqual(edited.data, (await gen.generateFromLatents(moved, { attributes: rows })).data);
  assert.notDeepEqual(moved, z.map((v) => Math.fround(v * Math.fround(psi))));
  assert.equal((await gen.edit(9, {})).count, 1);
  assert.deepEqual((await gen.edit(9, {}, { n: 3, truncation: psi })).data, (await gen.generate(3, 9, { truncation: psi })).data);
  assert.notDeepEqual((await gen.edit(9, { Smiling: 3 })).data, (await gen.generate(1, 9)).data);
});

test("interpolate: face 0 of each seed at the ends, attribute rows interpolated linearly", async () => {
  const gen = await open(COND_META);
  const requests = { Eyeglasses: 1 };
  const frames = await gen.interpolate(1, 2, 5, { method: "lerp", attributes: requests });
  const a = gen.attributeVectors(1, 1, { attributes: requests }), b = gen.attributeVectors(1, 2, { attributes: requests });
  const fed = Float32Array.from(gen.fake.attributeFeeds.flatMap((x) => Array.from(x.data)));
  assert.deepEqual(fed, lerp(a, b, 5));
  assert.deepEqual(frames.face(0), (await gen.generate(1, 1, { attributes: requests })).face(0));
  assert.deepEqual(frames.face(4), (await gen.generate(1, 2, { attributes: requests })).face(0));
  assert.equal((await gen.interpolate(1, 2, 3)).count, 3);
  assert.deepEqual(fed.subarray(0, K), a);
});

test("bad attributes and edits throw one-line TypeError/RangeError naming what the model has; nothing runs", async () => {
  const gen = await open(COND_META), plain = await open(FLOAT_META);
  const steered = await open({ ...FLOAT_META, "facegan.directions": COND_META["facegan.directions"] });
  const z = latents(1, 2, D);
  const cases = [
    [() => gen.generate(1, 0, { attributes: { Smiling: 1, Bald: 1 } }), RangeError, /unknown attribute "Bald"; this model has Smiling, Eyeglasses, Black_Hair, Blond_Hair/],
    [() => gen.generate(1, 0, { attributes: { Smiling: 1.5 } }), RangeError, /Smiling must be a number in \[0, 1\], got 1.5/],
    [() => gen.generate(1, 0, { attributes: { Smiling: NaN } }), RangeError, /in \[0, 1\]/],
    [() => gen.generate(1, 0, { attributes: { Smiling: "1" } }), TypeError, /Smiling must be a number/],
    [() => gen.generate(1, 0, { attributes: [1, 0, 0, 0] }), TypeError, /attributes must be an object such as \{Smiling: 1\}/],
    [() => gen.generate(1, 0, { attributes: new Float32Array(K) }), TypeError, /must be an object/],
    [() => gen.attributeVectors(0, 0), RangeError, /n must be/], [() => gen.attributeVectors(1, -1), RangeError, /seed/],
    [() => gen.attributeVectors(1, 0, { attributes: { x: 1 } }), RangeError, /unknown attribute "x"/],
    [() => gen.attributeVectors(1, 0, { requests: {} }), TypeError, /unknown option requests/],
    [() => gen.generateFromLatents(z), TypeError, /is conditional: pass attributes, a Float32Array of n \* 4 values/],
    [() => gen.generateFromLatents(z, { attributes: new Float32Array(K + 1) }), RangeError, /must hold n \* 4 = 8 values for 2 latents, got 5/],
    [() => gen.generateFromLatents(z, { attributes: new Float32Array(2 * K).fill(2) }), RangeError, /numbers in \[0, 1\]/],
    [() => gen.generateFromLatents(z, { attributes: { Smiling: 1 } }), TypeError, /attributes must be a Float32Array/],
    [() => gen.edit(0, { Bald: 1 }), RangeError, /unknown direction "Bald"; this model has Smiling, Eyeglasses/],
    [() => gen.edit(0, { Smiling: "+1" }), TypeError, /edit Smiling must be a number/],
    [() => gen.edit(0, { Smiling: Infinity }), RangeError, /finite/],
    [() => gen.edit(0, "Smiling=1"), TypeError, /edits must be an object/], [() => gen.edit(0, {}, { n: 0 }), RangeError, /n must be/],
    [() => gen.edit(0, {}, { steps: 2 }), TypeError, /unknown option steps/],
    [() => gen.edit(0, { Smiling: 1e39 }), RangeError, /^the edits move the latents beyond float32$/],
    [() => gen.interpolate(0, 1, 3, { attributes: { Bald: 0 } }), RangeError, /unknown attribute/],
    [() => plain.generate(1, 0, { attributes: { Smiling: 1 } }), RangeError, /^model is unconditional \(it takes no attributes\): it has neither attributes nor directions$/],
    [() => plain.generateFromLatents(z, { attributes: new Float32Array(2) }), RangeError, /unconditional/],
    [() => plain.attributeVectors(1, 0), RangeError, /unconditional: it has no attributes/],
    [() => plain.interpolate(0, 1, 3, { attributes: [] }), RangeError, /unconditional/],
    [() => steered.generate(1, 0, { attributes: { Smiling: 1 } }), RangeError, /^model is unconditional \(it takes no attributes\): use edit\(\) with its directions \(Smiling, Eyeglasses\)$/],
  ];
  for (const [call, type, message] of cases) {
    await assert.rejects(async () => call(), (e) => {
      assert.ok(e instanceof type, `${call}: ${e}`);
      assert.match(e.message, message);
      assert.ok(!e.message.includes("\n"), e.message);
      return true;
    }, String(call));
  }
  assert.equal(gen.fake.runs.length + plain.fake.runs.length + steered.fake.runs.length, 0, "nothing ran");
  // No requests ({}) are no attributes: an unconditional model takes them, as in Python.
  assert.deepEqual((await plain.generate(2, 3, { attributes: {} })).data, (await plain.generate(2, 3)).data);
  assert.equal((await steered.edit(3, { Smiling: 1 }, { n: 2, attributes: {} })).count, 2);
  await assert.rejects(plain.edit(0, { Smiling: 1 }), (e) => e instanceof RangeError && e.message === "model has no directions; run facegan-directions on its run and re-export it");
});

test("conditional graphs must take exactly z and the attributes input", async () => {
  const graphs = [
    [{ inputNames: ["z"] }, /metadata inputs \["z","attributes"\] but the graph takes \["z"\]/],
    [{ inputNames: ["z", "labels"] }, /graph takes \["z","labels"\]/],
    [{ inputNames: ["z", "attributes", "noise"] }, /graph takes/],
    [{ inputMetadata: [{ name: "z", isTensor: true, type: "float32", shape: ["batch", D] }, { name: "attributes", isTensor: true, type: "float32", shape: ["batch", 3] }] }, /"attributes" has shape \[batch,3\] but the metadata implies \[batch,4\]/],
    [{ inputMetadata: [{ name: "z", isTensor: true, type: "float32", shape: ["batch", D] }, { name: "attributes", isTensor: true, type: "int64", shape: ["batch", K] }] }, /"attributes" is int64/],
  ];
  for (const [graph, message] of graphs) {
    const ort = fakeOrt(graph);
    await assert.rejects(FaceGenerator.create(modelBytes(COND_META), { ort }), (e) => e instanceof FaceganError && message.test(e.message), String(message));
  }
  // Either order of the two inputs.
  const ort = fakeOrt({ inputNames: ["attributes", "z"] });
  assert.ok(await FaceGenerator.create(modelBytes(COND_META), { ort }));
});
