// Philox4x32-10 against Random123's known answers and a BigInt reference; the latent recipe's
// properties (face i independent of n, start, BigInt seeds); argument refusals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { latents, philox4x32 } from "../facegan.js";

const hex = (words) => Array.from(words, (w) => w.toString(16).padStart(8, "0")).join(" ");

test("Random123 kat_vectors for philox4x32_10", () => {
  assert.equal(hex(philox4x32([0, 0, 0, 0], [0, 0])), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const ones = 0xffffffff;
  assert.equal(hex(philox4x32([ones, ones, ones, ones], [ones, ones])), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  assert.equal(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    "d16cfe09 94fdcceb 5001e420 24126ea1",
  );
});

function philoxBigInt(counter, key) {
  // The textbook definition with exact 64-bit products: a reference for the 16-bit-split mulhi.
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = counter.map(BigInt), [k0, k1] = key.map(BigInt);
  for (let r = 0; r < 10; r++) {
    if (r) { k0 = (k0 + 0x9e3779b9n) & mask; k1 = (k1 + 0xbb67ae85n) & mask; }
    const p0 = 0xd2511f53n * c0, p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & mask, (p0 >> 32n) ^ c3 ^ k1, p0 & mask];
  }
  return [c0, c1, c2, c3].map(Number);
}

test("philox4x32 agrees with a BigInt reference on many words, extremes included", () => {
  let x = 12345;
  const next = () => { // xorshift32: deterministic test words
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x >>> 0;
  };
  const special = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  for (let i = 0; i < 2000; i++) {
    const pick = () => (i % 3 === 0 ? special[next() % special.length] : next());
    const counter = [pick(), pick(), pick(), pick()], key = [pick(), pick()];
    assert.deepEqual(Array.from(philox4x32(counter, key)), philoxBigInt(counter, key), `counter ${counter} key ${key}`);
  }
});

test("face i of a seed does not depend on n, and start addresses it directly", () => {
  const many = latents(7, 5, 10), one = latents(7, 1, 10, { start: 3 });
  assert.deepEqual(one, many.subarray(30, 40));
  assert.deepEqual(latents(7, 2, 10), many.subarray(0, 20));
  assert.notDeepEqual(latents(8, 1, 10), many.subarray(0, 10));
});

test("a BigInt seed equals the same safe-integer Number; seeds beyond 2^53 need BigInt", () => {
  assert.deepEqual(latents(2n ** 40n + 5n, 2, 7), latents(2 ** 40 + 5, 2, 7));
  assert.deepEqual(latents(5n, 1, 7, { start: 2n ** 32n + 1n }), latents(5, 1, 7, { start: 2 ** 32 + 1 }));
  assert.equal(latents(2n ** 64n - 1n, 1, 5).length, 5);
  assert.throws(() => latents(2 ** 53, 1, 5), RangeError);
});

test("the face counter carries from the low word into the high word", () => {
  const across = latents(3, 2, 4, { start: 2 ** 32 - 1 });
  assert.deepEqual(across.subarray(4), latents(3, 1, 4, { start: 2 ** 32 }));
});

test("latents are float32 normals with the moments of a standard normal", () => {
  const z = latents(0, 2000, 100);
  let sum = 0, sq = 0;
  for (const v of z) { sum += v; sq += v * v; }
  const mean = sum / z.length, variance = sq / z.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.01, `variance ${variance}`);
});

test("bad seeds, counts and starts are refused with one-line errors", () => {
  for (const seed of [-1, 1.5, NaN, Infinity, -1n, 2n ** 64n]) assert.throws(() => latents(seed, 1, 4), RangeError, String(seed));
  for (const seed of ["7", null, undefined, true, {}]) assert.throws(() => latents(seed, 1, 4), TypeError, String(seed));
  assert.throws(() => latents(0, -1, 4), RangeError);
  assert.throws(() => latents(0, 1, 0), RangeError);
  assert.throws(() => latents(0, 2, 4, { start: 2n ** 64n - 1n }), RangeError);
  assert.equal(latents(0, 1, 4, { start: 2n ** 64n - 1n }).length, 4);
  assert.throws(() => philox4x32([0, 0, 0], [0, 0]), TypeError);
  assert.throws(() => philox4x32([0, 0, 0, 2 ** 32], [0, 0]), RangeError);
  try { latents(-1, 1, 4); } catch (e) { assert.ok(!e.message.includes("\n")); }
});
