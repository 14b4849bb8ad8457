// The facegan demo page (index.html): a seed gives a grid of faces, two seeds a morph; PNG download;
// the images/s each call took. config.json names the backend:
//   "wasm": model.onnx runs here, in onnxruntime-web (loaded from config.ort: a CDN URL or ./ort/);
//           one thread, or up to MAX_THREADS when the server sends COOP/COEP (cross-origin isolation).
//   "http": facegan-serve draws the faces (GET {api}/faces, GET {api}/morph); no onnxruntime-web.
// A conditional model gets one row per attribute (a "set" box and a 0..1 slider; an unset attribute
// is drawn from the model's prior for each face), a model with directions one -3..3 slider per
// direction (an edit of z); changing a control draws the faces again.
// For tests, window.facegan (made by index.html, with `ready`) gains backend, threads,
// crossOriginIsolated, metadata, generator (wasm), attributes and directions (names), lastFaces,
// generations (faces drawn so far), lastError, idle() (resolves when every queued drawing is done) and
// generate(n, seed, truncation, {attributes, edits}) -> {width, height, count, data: number[]}: it
// sets the controls to exactly those requests (none: every attribute unset, every edit 0), runs
// what the Generate button runs and returns the faces drawn, RGBA (wasm: face after face; http: the
// grid image).

const MAX_THREADS = 4; // more wasm threads buy little for one small generator, and each is a worker
const MAX_COUNT = 64;
const MORPH_STEPS = 16; // frames between seed A and seed B, both ends included
const PADDING = 2; // pixels between faces, black, as facegan's Python grids (runtime.images.grid)
const EDIT_RANGE = 3; // direction sliders run from -3 to +3 standard deviations of z

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
const isEmpty = (requests) => !requests || Object.keys(requests).length === 0;
// {Smiling: 1, Eyeglasses: 0} as facegan-serve's attr=/edit= text, names sorted: "Eyeglasses=0,Smiling=1"
const assignments = (requests) => Object.keys(requests || {}).sort().map((name) => `${name}=${requests[name]}`).join(",");

// ---------------------------------------------------------------------------------------------
// Attributes and directions: the controls, what they ask for, and setting them (the test hook)

function row(parent, name, note, inputs) {
  const line = document.createElement("div");
  line.className = "control";
  const label = document.createElement("span");
  label.className = "control-name";
  label.textContent = name;
  if (note) label.title = note;
  const value = document.createElement("output");
  line.append(label, ...inputs, value);
  parent.append(line);
  return value;
}

function slider(min, max, value, label) {
  const input = Object.assign(document.createElement("input"), { type: "range", min, max, step: "any", value });
  input.setAttribute("aria-label", label);
  return input;
}

function buildControls({ names, frequencies = [] }, directions) {
  names.forEach((name, i) => {
    const set = Object.assign(document.createElement("input"), { type: "checkbox", id: `attr-set-${i}` });
    set.setAttribute("aria-label", `set ${name}`);
    const value = slider(0, 1, 1, `${name} value`);
    value.id = `attr-value-${i}`;
    const often = frequencies[i] !== undefined ? `on in ${(100 * frequencies[i]).toFixed(1)}% of the training images` : "";
    const shown = row($("attribute-rows"), name, often, [set, value]);
    set.dataset.attribute = value.dataset.attribute = name;
    const update = () => { shown.textContent = set.checked ? Number(value.value).toFixed(2) : "drawn"; };
    update();
    set.addEventListener("change", () => { update(); redrawAll(); });
    value.addEventListener("input", () => { set.checked = true; update(); redrawAll(); }); // moving it sets it
    value.addEventListener("change", update);
  });
  directions.forEach((name, i) => {
    const value = slider(-EDIT_RANGE, EDIT_RANGE, 0, `edit ${name}`);
    value.id = `edit-${i}`;
    value.dataset.direction = name;
    const shown = row($("direction-rows"), name, "", [value]);
    const update = () => { shown.textContent = (Number(value.value) >= 0 ? "+" : "") + Number(value.value).toFixed(2); };
    update();
    value.addEventListener("input", () => { update(); schedule(showFaces); });
    value.addEventListener("change", update);
  });
  $("attributes").hidden = names.length === 0;
  $("directions").hidden = directions.length === 0;
  $("reset-edits").addEventListener("click", () => { setControls({ attributes: currentAttributes() }); schedule(showFaces); });
}

const attributeInputs = () => [...document.querySelectorAll("#attribute-rows input[type=checkbox]")]
  .map((set) => [set, $(set.id.replace("attr-set-", "attr-value-"))]);
const directionInputs = () => [...document.querySelectorAll("#direction-rows input[type=range]")];

function currentAttributes() {
  return Object.fromEntries(attributeInputs().filter(([set]) => set.checked).map(([set, value]) => [set.dataset.attribute, Number(value.value)]));
}

function currentEdits() {
  return Object.fromEntries(directionInputs().filter((v) => Number(v.value) !== 0).map((v) => [v.dataset.direction, Number(v.value)]));
}

// Names the model has, values a slider can hold (a slider would clamp any other silently).
function checkRequests(requests, known, what, [low, high]) {
  for (const [name, value] of Object.entries(requests)) {
    if (!known.includes(name)) throw new RangeError(`unknown ${what} "${name}"; this model has ${known.join(", ") || `no ${what}s`}`);
    if (typeof value !== "number" || !(value >= low && value <= high)) throw new RangeError(`${what} ${name} must be a number from ${low} to ${high}, got ${value}`);
  }
}

// Exactly these requests: attributes not named are unset, directions not named are 0.
function setControls({ attributes = {}, edits = {} } = {}) {
  checkRequests(attributes, backend.attributes.names, "attribute", [0, 1]);
  checkRequests(edits, backend.directions, "direction", [-EDIT_RANGE, EDIT_RANGE]);
  for (const [set, value] of attributeInputs()) {
    const name = set.dataset.attribute;
    set.checked = name in attributes;
    if (set.checked) value.value = String(attributes[name]);
    value.dispatchEvent(new Event("change")); // the shown value; "change" draws nothing
  }
  for (const value of directionInputs()) {
    value.value = String(edits[value.dataset.direction] ?? 0);
    value.dispatchEvent(new Event("change"));
  }
}

// Draw again when a control moves: at most one drawing of each kind waits, and it reads the controls
// when it starts, so a dragged slider costs one drawing per finished one, not one per input event.
const pending = new Set();
function schedule(show) {
  if (pending.has(show)) return;
  pending.add(show);
  serial(() => { pending.delete(show); return show(); }).catch(showError);
}

function redrawAll() {
  schedule(showFaces);
  schedule(showFrame); // the morph's ends carry the attributes too
}

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
  const morphs = new Map(); // "a|b|psi|attributes" -> Faces: the slider moves through frames made once
  return {
    name: "wasm",
    threads: ort.env.wasm.numThreads, // read back: onnxruntime-web falls back to 1 where it must
    generator,
    metadata: generator.metadata,
    attributes: { names: [...generator.attributes], frequencies: [...(generator.metadata.attributes?.frequencies ?? [])] },
    directions: [...generator.directions],
    where: `onnxruntime-web from ${ortBase}`,
    async faces(n, seed, truncation, { attributes, edits }) {
      const options = { truncation, ...(isEmpty(attributes) ? {} : { attributes }) };
      const faces = isEmpty(edits) ? await generator.generate(n, seed, options) : await generator.edit(seed, edits, { n, ...options });
      return { picture: gridImage(faces, columns(n)), faces, count: n };
    },
    async frame(seedA, seedB, k, truncation, { attributes }) {
      const key = `${seedA}|${seedB}|${truncation}|${assignments(attributes)}`;
      if (!morphs.has(key)) {
        morphs.clear();
        const options = { method: "slerp", truncation, ...(isEmpty(attributes) ? {} : { attributes }) };
        morphs.set(key, await generator.interpolate(seedA, seedB, MORPH_STEPS, options));
      }
      const frames = morphs.get(key);
      return { picture: new ImageData(new Uint8ClampedArray(frames.face(k)), frames.width, frames.height), count: 1 };
    },
  };
}

async function httpBackend(config) {
  const base = new URL(String(config.api || "/v1").replace(/\/?$/, "/"), location.href);
  const query = (params) => new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  const conditions = (attributes, edits = {}) => ({
    ...(isEmpty(attributes) ? {} : { attr: assignments(attributes) }), ...(isEmpty(edits) ? {} : { edit: assignments(edits) }),
  });
  const info = await getJSON(new URL("model", base));
  return {
    name: "http",
    threads: null,
    generator: null,
    metadata: info,
    attributes: info.attributes || { names: [], frequencies: [] }, // a facegan-serve of before issue 13 lists none
    directions: (info.directions && info.directions.names) || [],
    where: `facegan-serve at ${base.href}`,
    async faces(n, seed, truncation, { attributes, edits }) {
      const params = { seed, n, truncation, format: "png", nrow: columns(n), ...conditions(attributes, edits) };
      return { picture: await getImage(new URL(`faces?${query(params)}`, base)), faces: null, count: n };
    },
    async frame(seedA, seedB, k, truncation, { attributes }) {
      const params = { seed_a: seedA, seed_b: seedB, steps: MORPH_STEPS, method: "slerp", truncation, frame: k, format: "png",
        ...conditions(attributes) };
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
  api.lastError = $("message").textContent = error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------
// What the buttons do

async function showFaces() {
  const seed = parseSeed($("seed").value, "seed");
  const n = parseCount($("count").value);
  const truncation = parseTruncation($("truncation").value);
  const requests = { attributes: currentAttributes(), edits: currentEdits() };
  const start = performance.now();
  const { picture, faces } = await backend.faces(n, seed, truncation, requests);
  const ms = performance.now() - start;
  draw(grid, picture);
  $("message").textContent = "";
  $("speed").textContent = speedText(n, ms);
  api.lastSpeed = { count: n, ms, images_per_s: (n / ms) * 1000 };
  api.generations = (api.generations || 0) + 1;
  api.lastError = null;
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
  const { picture } = await backend.frame(seedA, seedB, k, truncation, { attributes: currentAttributes() });
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
    (m.trainStep ?? m.train_step) !== undefined && `step ${m.trainStep ?? m.train_step}`,
    backend.attributes.names.length && `conditional on ${backend.attributes.names.length} attribute${backend.attributes.names.length > 1 ? "s" : ""}`,
    backend.directions.length && `${backend.directions.length} direction${backend.directions.length > 1 ? "s" : ""} to edit along`].filter(Boolean);
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
  buildControls(backend.attributes, backend.directions);
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
    attributes: backend.attributes.names,
    directions: backend.directions,
    idle: () => queue.then(() => ({ generations: api.generations, error: api.lastError })),
    async generate(n, seed, truncation = 1, requests = {}) {
      $("count").value = String(n);
      $("seed").value = String(seed);
      $("truncation").value = String(truncation);
      setControls(requests || {});
      await serial(showFaces);
      const { width, height, count, data } = api.lastFaces;
      return { width, height, count, data: Array.from(data) };
    },
  });
  api.settle.resolve({ backend: api.backend, threads: api.threads, crossOriginIsolated: api.crossOriginIsolated,
    attributes: api.attributes, directions: api.directions });
}

start().catch((error) => api.fail(`facegan could not start: ${error.message}`));
