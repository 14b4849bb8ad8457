// Shared by the tests: a protobuf encoder for hand-made ONNX bytes and a fake onnxruntime, so the
// metadata, argument and chunking tests run without onnxruntime (the real one is tested in
// runtime.test.mjs).

const utf8 = new TextEncoder();

export function varint(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

export function field(number, wire, payload) {
  // payload: a number (wire 0), or bytes (wire 1, 5: raw; wire 2: length-prefixed).
  const tag = varint(number * 8 + wire);
  if (wire === 0) return [...tag, ...varint(payload)];
  const bytes = typeof payload === "string" ? [...utf8.encode(payload)] : [...payload];
  return wire === 2 ? [...tag, ...varint(bytes.length), ...bytes] : [...tag, ...bytes];
}

/** ONNX-like ModelProto bytes: ir_version, a fake graph, other fields, and metadata_props. */
export function modelBytes(props, { before = [], after = [] } = {}) {
  const entries = Object.entries(props).map(([k, v]) => field(14, 2, [...field(1, 2, k), ...field(2, 2, v)]));
  return Uint8Array.from([
    ...field(1, 0, 10), // ir_version
    ...before,
    ...field(7, 2, new Uint8Array(300).fill(0x5a)), // "graph": skipped unread
    ...entries.flat(),
    ...after,
  ]);
}

export const FLOAT_META = {
  "facegan.format_version": "1", "facegan.input_name": "z", "facegan.output_name": "images",
  "facegan.latent_dim": "6", "facegan.image_size": "2", "facegan.channels": "3",
  "facegan.output_layout": "NCHW", "facegan.output_dtype": "float32", "facegan.value_range": "[-1.0, 1.0]",
  "facegan.latents": "philox4x32-10 box-muller float32", "facegan.dtype": "fp32",
  "facegan.model_config": "{\"latent_dim\": 6}", "facegan.preset": "dcgan", "facegan.weights": "raw",
  "facegan.train_step": "3", "facegan.train_epoch": "1", "facegan.checkpoint_sha256": "ab",
  "facegan.torch_version": "2.14.1", "facegan.facegan_version": "0.1.0", "facegan.onnx_version": "1.23.2",
};

export const UINT8_META = {
  ...FLOAT_META, "facegan.output_layout": "NHWC", "facegan.output_dtype": "uint8", "facegan.value_range": "[0.0, 255.0]",
};

// A conditional model's metadata: 4 attributes, a prior of 5 vectors, and 2 directions.
export const ATTRIBUTES = {
  names: ["Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair"], frequencies: [0.5, 0.2, 0.4, 0.3], rows: 100,
  prior: { vectors: ["0010", "1010", "1001", "0001", "1100"], counts: [30, 25, 20, 15, 10] },
};
const unit = (v) => { const n = Math.hypot(...v); return v.map((x) => x / n); };
export const DIRECTIONS = {
  names: ["Smiling", "Eyeglasses"], vectors: [unit([1, 2, 0, 0, -1, 0.5]), unit([0, 0, 3, -1, 0, 0])],
  accuracy: [0.9, 0.8], boundary_accuracy: [0.95, 0.85], samples: 2000, method: "interfacegan",
};
export const COND_META = {
  ...FLOAT_META, "facegan.format_version": "2", "facegan.attributes_input": "attributes",
  "facegan.attributes": JSON.stringify(ATTRIBUTES), "facegan.directions": JSON.stringify(DIRECTIONS),
};

/** The fake model's output value for face latents z (length d) and attributes a (or none) at flat output position q. */
export function fakeValue(z, q, a = null) {
  return Math.tanh(z[q % z.length] + 0.1 * (q % 7) + (a ? 0.5 * a[q % a.length] : 0));
}

/**
 * A fake onnxruntime: its sessions compute fakeValue from z (and the attributes input of a conditional
 * model), record each run's batch size, latents (latentFeeds) and attributes (attributeFeeds), and
 * refuse overlapping runs (as onnxruntime-web's WebGPU backend does). `graph` overrides names and value metadata.
 */
export function fakeOrt(graph = {}) {
  class Tensor {
    constructor(type, data, dims) { this.type = type; this.data = data; this.dims = dims; }
  }
  const ort = { Tensor, runs: [], latentFeeds: [], attributeFeeds: [], sessions: [] };
  ort.InferenceSession = {
    async create(bytes, options) {
      const { readOnnxMetadata } = await import("../facegan.js");
      const meta = readOnnxMetadata(bytes);
      const d = Number(meta["facegan.latent_dim"]), s = Number(meta["facegan.image_size"]);
      const c = Number(meta["facegan.channels"]), uint8 = meta["facegan.output_dtype"] === "uint8";
      const cond = meta["facegan.attributes_input"], k = cond ? JSON.parse(meta["facegan.attributes"]).names.length : 0;
      let busy = false;
      const session = {
        options,
        inputNames: cond ? ["z", cond] : ["z"], outputNames: ["images"],
        inputMetadata: [
          { name: "z", isTensor: true, type: "float32", shape: ["batch", d] },
          ...(cond ? [{ name: cond, isTensor: true, type: "float32", shape: ["batch", k] }] : []),
        ],
        outputMetadata: [{ name: "images", isTensor: true, type: uint8 ? "uint8" : "float32", shape: uint8 ? ["batch", s, s, c] : ["batch", c, s, s] }],
        ...graph,
        async run(feeds, fetches) {
          if (busy) throw new Error("Session already started");
          busy = true;
          await new Promise((resolve) => setImmediate(resolve)); // yield: an unserialised second run lands here
          busy = false;
          const z = feeds.z.data, m = feeds.z.dims[0], size = c * s * s, a = cond && feeds[cond];
          ort.runs.push(m);
          ort.latentFeeds.push(Float32Array.from(z));
          if (a) ort.attributeFeeds.push({ dims: a.dims, data: Float32Array.from(a.data) });
          const out = uint8 ? new Uint8Array(m * size) : new Float32Array(m * size);
          for (let f = 0; f < m; f++) {
            const face = z.subarray(f * d, (f + 1) * d), row = a ? a.data.subarray(f * k, (f + 1) * k) : null;
            for (let q = 0; q < size; q++) out[f * size + q] = uint8 ? Math.round((fakeValue(face, q, row) + 1) * 127.5) : fakeValue(face, q, row);
          }
          return { [fetches[0]]: new Tensor(uint8 ? "uint8" : "float32", out, uint8 ? [m, s, s, c] : [m, c, s, s]) };
        },
      };
      ort.sessions.push(session);
      return session;
    },
  };
  return ort;
}
