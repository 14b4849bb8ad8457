// The facegan demo page (index.html): a seed gives a grid of faces, two seeds a morph; PNG download;
// the images/s each call took. config.json names the backend:
//   "wasm": model.onnx runs here, in onnxruntime-web (loaded from config.ort: a CDN URL or ./ort/);
//           one thread, or up to MAX_THREADS when the server sends COOP/COEP (cross-origin isolation).
//   "http": facegan-serve draws the faces (GET {api}/faces, GET {api}/morph); no onnxruntime-web.
// For tests, window.facegan (made by index.html, with `ready`) gains backend, threads,
// crossOriginIsolated, metadata, generator (wasm), lastFaces and
// generate(n, seed, truncation) -> {width, height, count, data: number[]}: it runs what the Generate
// button runs and returns the faces drawn, RGBA (wasm: face after face; http: the grid image).

const MAX_THREADS = 4; // more wasm threads buy little for one small generator, and each is a worker
const MAX_COUNT = 64;
const MORPH_STEPS = 16; // frames between seed A and seed B, both ends included
const PADDING = 2; // pixels between faces, black, as facegan's Python grids (runtime.images.grid)

const api = window.facegan;
const $ = (id) => document.getElementById(id);
const grid = $("grid");
const morphCanvas = $("morph-canvas");
let backend = null;
let queue = Promise.resolve(); // one generation at a time: onnxruntime-web runs one call per session

function serial(task) {
  const done = queue.then(task);
  queue = done.catch(() => {});
  return done;
}

function wasmThreads() {
  if (!globalThis.crossOriginIsolated) return 1; // SharedArrayBuffer, which wasm threads need, is off
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
}

// ---------------------------------------------------------------------------------------------
// Inputs

function parseSeed(text, name) {
  const s = String(text).trim();
  if (!/^\d+$/.test(s)) throw new RangeError(`${name} must be a whole number >= 0, got "${s}"`);
  const seed = BigInt(s);
  if (seed >= 1n << 64n) throw new RangeError(`${name} must be below 2^64, got ${s}`);
  return seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed;
}

function parseCount(text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT) throw new RangeError(`count must be a whole number from 1 to ${MAX_COUNT}`);
  return n;
}

function parseTruncation(text) {
  const psi = Number(text);
  if (String(text).trim() === "" || !Number.isFinite(psi) || psi < 0) throw new RangeError("truncation must be a number >= 0 (1 = off)");
  return psi;
}

const columns = (n) => Math.ceil(Math.sqrt(n));

// ---------------------------------------------------------------------------------------------
// Backends: faces(n, seed, truncation) and frame(seedA, seedB, k, truncation) give a picture to draw

async function wasmBackend(config) {
  const ortBase = new URL(config.ort, location.href).href;
  const [{ FaceGenerator }, ort] = await Promise.all([
    import("./facegan.js"),
    import(new URL("ort.wasm.min.mjs", ortBase).href),
  ]);
  ort.env.wasm.wasmPaths = ortBase; // ort-wasm-simd-threaded.{mjs,wasm} come from the same place
  ort.env.wasm.numThreads = wasmThreads();
  const generator = await FaceGenerator.create(new URL(config.model, location.href).href, { ort, executionProviders: ["wasm"] });
  const morphs = new Map(); // "a|b|psi" -> Faces: the slider moves through frames made once
  return {
    name: "wasm",
    threads: ort.env.wasm.numThreads, // read back: onnxruntime-web falls back to 1 where it must
    generator,
    metadata: generator.metadata,
    where: `onnxruntime-web from ${ortBase}`,
    async faces(n, seed, truncation) {
      const faces = await generator.generate(n, seed, { truncation });
      return { picture: gridImage(faces, columns(n)), faces, count: n };
    },
    async frame(seedA, seedB, k, truncation) {
      const key = `${seedA}|${seedB}|${truncation}`;
      if (!morphs.has(key)) {
        morphs.clear();
        morphs.set(key, await generator.interpolate(seedA, seedB, MORPH_STEPS, { method: "slerp", truncation }));
      }
      const frames = morphs.get(key);
      return { picture: new ImageData(new Uint8ClampedArray(frames.face(k)), frames.width, frames.height), count: 1 };
    },
  };
}

async function httpBackend(config) {
  const base = new URL(String(config.api || "/v1").replace(/\/?$/, "/"), location.href);
  const query = (params) => new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  return {
    name: "http",
    threads: null,
    generator: null,
    metadata: await getJSON(new URL("model", base)),
    where: `facegan-serve at ${base.href}`,
    async faces(n, seed, truncation) {
      const url = new URL(`faces?${query({ seed, n, truncation, format: "png", nrow: columns(n) })}`, base);
      return { picture: await getImage(url), faces: null, count: n };
    },
    async frame(seedA, seedB, k, truncation) {
      const params = { seed_a: seedA, seed_b: seedB, steps: MORPH_STEPS, method: "slerp", truncation, frame: k, format: "png" };
      return { picture: await getImage(new URL(`morph?${query(params)}`, base)), count: 1 };
    },
  };
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${await errorText(response)}`);
  return response.json();
}

async function getImage(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await errorText(response));
  return createImageBitmap(await response.blob());
}

async function errorText(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).error || text;
  } catch {
    return text || response.statusText;
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing

function gridImage(faces, cols) {
  const { count, width: w, height: h } = faces;
  const pad = count > 1 ? PADDING : 0; // one face is drawn alone, as facegan-serve sends it
  const rows = Math.ceil(count / cols);
  const W = cols * w + (cols + 1) * pad;
  const image = new ImageData(W, rows * h + (rows + 1) * pad);
  for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255; // opaque black between faces
  for (let i = 0; i < count; i++) {
    const x = pad + (i % cols) * (w + pad);
    const y = pad + Math.floor(i / cols) * (h + pad);
    const face = faces.face(i);
    for (let row = 0; row < h; row++) image.data.set(face.subarray(row * w * 4, (row + 1) * w * 4), ((y + row) * W + x) * 4);
  }
  return image;
}

function draw(canvas, picture) {
  canvas.width = picture.width;
  canvas.height = picture.height;
  const context = canvas.getContext("2d");
  if (picture instanceof ImageData) context.putImageData(picture, 0, 0);
  else context.drawImage(picture, 0, 0);
  const scale = Math.max(1, Math.min(8, Math.floor(512 / picture.width))); // small faces, shown big
  canvas.style.width = `${picture.width * scale}px`;
}

function speedText(count, ms) {
  const threads = backend.threads ? `, ${backend.threads} thread${backend.threads > 1 ? "s" : ""}` : "";
  const rate = (count / ms) * 1000;
  return `${count} face${count > 1 ? "s" : ""} in ${ms.toFixed(1)} ms: ${rate.toFixed(1)} images/s (${backend.name}${threads})`;
}

function showError(error) {
  $("message").textContent = error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------
// What the buttons do

async function showFaces() {
  const seed = parseSeed($("seed").value, "seed");
  const n = parseCount($("count").value);
  const truncation = parseTruncation($("truncation").value);
  const start = performance.now();
  const { picture, faces } = await backend.faces(n, seed, truncation);
  const ms = performance.now() - start;
  draw(grid, picture);
  $("message").textContent = "";
  $("speed").textContent = speedText(n, ms);
  api.lastSpeed = { count: n, ms, images_per_s: (n / ms) * 1000 };
  api.lastFaces = faces
    ? { width: faces.width, height: faces.height, count: n, data: faces.data }
    : { width: grid.width, height: grid.height, count: n, data: grid.getContext("2d").getImageData(0, 0, grid.width, grid.height).data };
  $("download").dataset.name = `facegan-seed-${seed}-n${n}.png`;
}

async function showFrame() {
  const seedA = parseSeed($("seed-a").value, "seed A");
  const seedB = parseSeed($("seed-b").value, "seed B");
  const truncation = parseTruncation($("truncation").value);
  const k = Number($("frame").value);
  const start = performance.now();
  const { picture } = await backend.frame(seedA, seedB, k, truncation);
  draw(morphCanvas, picture);
  $("message").textContent = "";
  $("morph-speed").textContent = `frame ${k + 1} of ${MORPH_STEPS}, seed ${seedA} to seed ${seedB}; ${speedText(1, performance.now() - start)}`;
}

function download() {
  grid.toBlob((blob) => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = $("download").dataset.name || "facegan.png";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }, "image/png");
}

function describe() {
  const m = backend.metadata || {};
  const size = m.imageSize ?? m.image_size;
  const facts = [m.preset && `preset ${m.preset}`, size && `${size}x${size}`, (m.latentDim ?? m.latent_dim) && `latent ${m.latentDim ?? m.latent_dim}`,
    (m.trainStep ?? m.train_step) !== undefined && `step ${m.trainStep ?? m.train_step}`].filter(Boolean);
  const threads = backend.name === "wasm"
    ? `; ${backend.threads} wasm thread${backend.threads > 1 ? "s" : ""}${globalThis.crossOriginIsolated ? "" : " (no cross-origin isolation, so one)"}`
    : "";
  $("about").textContent = `Model: ${facts.join(", ") || "facegan"}; ${backend.where}${threads}.`;
}

async function start() {
  if (location.protocol === "file:") return; // index.html already said why nothing can load
  const config = await getJSON(new URL("config.json", location.href));
  if (config.backend === "wasm") backend = await wasmBackend(config);
  else if (config.backend === "http") backend = await httpBackend(config);
  else throw new Error(`config.json names an unknown backend ${JSON.stringify(config.backend)}; expected "wasm" or "http"`);
  describe();
  $("faces-form").addEventListener("submit", (event) => { event.preventDefault(); serial(showFaces).catch(showError); });
  $("morph-form").addEventListener("submit", (event) => { event.preventDefault(); serial(showFrame).catch(showError); });
  $("frame").max = String(MORPH_STEPS - 1);
  $("frame").addEventListener("input", () => serial(showFrame).catch(showError));
  $("download").addEventListener("click", download);
  await serial(showFaces);
  await serial(showFrame);
  for (const id of ["generate", "download", "morph"]) $(id).disabled = false;
  Object.assign(api, {
    backend: backend.name,
    threads: backend.threads,
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
    metadata: backend.metadata,
    generator: backend.generator,
    async generate(n, seed, truncation = 1) {
      $("count").value = String(n);
      $("seed").value = String(seed);
      $("truncation").value = String(truncation);
      await serial(showFaces);
      const { width, height, count, data } = api.lastFaces;
      return { width, height, count, data: Array.from(data) };
    },
  });
  api.settle.resolve({ backend: api.backend, threads: api.threads, crossOriginIsolated: api.crossOriginIsolated });
}

start().catch((error) => api.fail(`facegan could not start: ${error.message}`));
