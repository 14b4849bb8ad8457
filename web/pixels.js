// pixels.js: a model's raw output as RGBA bytes (runtime/images.py to_uint8), and Faces, the rows of
// RGBA faces that FaceGenerator returns.

import { checkCount } from "./checks.js";

/** count faces in rows of RGBA bytes (alpha 255 unless the model has 4 channels). */
export class Faces {
  constructor(count, width, height, data) {
    this.count = count; this.width = width; this.height = height; this.data = data;
  }
  /** Face i as a view (no copy), ready for `new ImageData(face, width, height)`. */
  face(i) {
    checkCount(i, "face index", 0, this.count - 1);
    const size = this.width * this.height * 4;
    return this.data.subarray(i * size, (i + 1) * size);
  }
}

/**
 * A model's raw output (NCHW float in meta.valueRange, or NHWC uint8) as RGBA into `out` at face
 * `first`. Floats are mapped as runtime/images.py to_uint8: (x - lo) * (255 / (hi - lo)) in float32,
 * then rounded half to even and clipped, which is what a Uint8ClampedArray store does.
 */
export function toRGBA(raw, count, meta, out = new Uint8ClampedArray(count * meta.imageSize ** 2 * 4), first = 0) {
  const c = meta.channels, plane = meta.imageSize ** 2, base = first * plane * 4;
  if (c !== 4) for (let p = 0; p < count * plane; p++) out[base + p * 4 + 3] = 255;
  const pick = c === 1 ? [0, 0, 0] : c === 3 ? [0, 1, 2] : [0, 1, 2, 3]; // source channel of R, G, B(, A)
  if (meta.outputLayout === "NHWC") {
    for (let p = 0; p < count * plane; p++) for (let q = 0; q < pick.length; q++) out[base + p * 4 + q] = raw[p * c + pick[q]];
    return out;
  }
  const lo = Math.fround(meta.valueRange[0]), scale = Math.fround(255 / (meta.valueRange[1] - meta.valueRange[0]));
  for (let f = 0; f < count; f++) {
    for (let q = 0; q < pick.length; q++) {
      const src = (f * c + pick[q]) * plane, dst = base + f * plane * 4 + q;
      for (let p = 0; p < plane; p++) out[dst + p * 4] = Math.fround(Math.fround(raw[src + p] - lo) * scale);
    }
  }
  return out;
}
