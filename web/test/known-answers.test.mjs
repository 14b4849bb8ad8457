// Every entry of web/known-answers.json (written by Python: python -m facegan.runtime.known_answers):
// Philox words bit-exact, float32 latents within 1 ulp, truncated latents likewise; the attribute
// draw (prior index, requests, rows) exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PHILOX_RECIPE, latents, philox4x32 } from "../facegan.js";
import { attributeVectors, chosenIndex, drawnIndex, parseAttributeSpace } from "../attributes.js";

const answers = JSON.parse(readFileSync(new URL("../known-answers.json", import.meta.url), "utf8"));
const word = (h) => parseInt(h, 16);
const hex = (words) => Array.from(words, (w) => w.toString(16).padStart(8, "0"));

function bitsOf(x) {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  return view.getUint32(0);
}

function ulpsApart(a, b) {
  // float32 bit patterns on one monotonic integer line (negative floats mirrored below zero).
  const line = (bits) => (bits & 0x80000000 ? -(bits & 0x7fffffff) : bits);
  return Math.abs(line(a) - line(b));
}

function assertLatents(actual, entry, what) {
  assert.equal(actual.length, entry.latents_bits.length);
  entry.latents_bits.forEach((h, j) => {
    // The file agrees with itself: the decimal string is the float32 of the bit pattern.
    assert.equal(bitsOf(Number(entry.latents[j])), word(h), `${what} latent ${j}: decimal vs bits in the file`);
    const apart = ulpsApart(bitsOf(actual[j]), word(h));
    assert.ok(apart <= 1, `${what} latent ${j}: ${actual[j]} is ${apart} float32 ulps from ${entry.latents[j]}`);
  });
}

test("the file names the recipe this runtime draws", () => {
  assert.equal(answers.recipe, PHILOX_RECIPE);
  assert.ok(answers.faces.length >= 21 && answers.truncation.length >= 1);
});

test("Random123 vectors from the file", () => {
  for (const { counter, key, words } of answers.philox4x32_10) {
    assert.deepEqual(hex(philox4x32(counter.map(word), key.map(word))), words, `counter ${counter} key ${key}`);
  }
});

test("words and latents of every (seed, face) in the file", () => {
  for (const entry of answers.faces) {
    const seed = BigInt(entry.seed), face = BigInt(entry.face);
    const key = [Number(seed & 0xffffffffn), Number(seed >> 32n)];
    const words = [0, 1].flatMap((b) => hex(philox4x32([b, Number(face & 0xffffffffn), Number(face >> 32n), 0], key)));
    const what = `seed ${entry.seed} face ${entry.face}`;
    assert.deepEqual(words, entry.words.slice(0, 8), `${what}: words`);
    const z = latents(seed, 1, answers.latent_dim, { start: face });
    assertLatents(z.subarray(0, entry.latents_bits.length), entry, what);
    if (seed <= BigInt(Number.MAX_SAFE_INTEGER) && face <= BigInt(Number.MAX_SAFE_INTEGER)) {
      assert.deepEqual(latents(Number(seed), 1, answers.latent_dim, { start: Number(face) }), z, `${what}: Number vs BigInt`);
    }
  }
});

test("truncated latents: z * float32(psi) in float32", () => {
  for (const entry of answers.truncation) {
    const z = latents(BigInt(entry.seed), 1, answers.latent_dim, { start: BigInt(entry.face) });
    const psi = Math.fround(entry.psi);
    const truncated = Array.from(z.subarray(0, entry.latents_bits.length), (v) => Math.fround(v * psi));
    assertLatents(truncated, entry, `seed ${entry.seed} face ${entry.face} psi ${entry.psi}`);
  }
});

test("attribute draw: every case of the file exactly (drawn index, chosen index, float32 row)", () => {
  const { prior, cases } = answers.attributes;
  const space = parseAttributeSpace({
    names: prior.names, frequencies: prior.names.map(() => 0), rows: prior.counts.reduce((a, b) => a + b, 0),
    prior: { vectors: prior.vectors, counts: prior.counts },
  }, "known-answers.json");
  assert.ok(cases.length >= 15 && cases.some((c) => Object.keys(c.requests).length));
  for (const { seed, face, requests, index, chosen, vector } of cases) {
    const what = `seed ${seed} face ${face} requests ${JSON.stringify(requests)}`;
    assert.equal(drawnIndex(space, BigInt(seed), BigInt(face)), index, `${what}: drawn index`);
    assert.equal(chosenIndex(space, index, requests), chosen, `${what}: chosen index`);
    const row = attributeVectors(space, 1, BigInt(seed), { attributes: requests, start: BigInt(face) });
    assert.deepEqual(Array.from(row), vector.map(Math.fround), `${what}: row`);
    if (BigInt(seed) <= BigInt(Number.MAX_SAFE_INTEGER) && BigInt(face) <= BigInt(Number.MAX_SAFE_INTEGER)) {
      assert.deepEqual(attributeVectors(space, 1, Number(seed), { attributes: requests, start: Number(face) }), row, `${what}: Number vs BigInt`);
    }
  }
});
