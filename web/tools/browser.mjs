// Drive the demo page in headless Chromium for the Python tests and benchmarks (tests/test_browser.py,
// benchmarks/bench_web.py). It lives outside web/test/ because Node's test runner runs every .mjs file
// under a test/ folder, not only *.test.mjs ones.
//
//   node web/tools/browser.mjs URL [--timeout-ms 120000] [--chromium /usr/bin/chromium] [--route PREFIX=DIR]
//
// --route answers every request for PREFIX... from the file DIR/..., as a CDN would (CORS and CORP
// headers included): a test can open a page that loads onnxruntime-web from jsDelivr, offline.
// Opens URL (a web export's index.html, served over HTTP, or file:// to see its message) in Debian's
// Chromium through playwright-core (never a downloaded browser), waits for window.facegan.ready and
// prints one JSON line: {"event": "ready", "ok": true, backend, threads, crossOriginIsolated,
// hardwareConcurrency, requests} or {"event": "ready", "ok": false, "error", "message" (the page's
// text)}; `requests` lists every URL the page asked for until then (no CDN? no onnxruntime-web?).
// Then it answers one JSON line per JSON command read from stdin, until stdin closes:
//   {"op": "faces", "n": 3, "seed": 7, "truncation": 1[, "attributes": {"Smiling": 1}, "edits": {"Smiling": 2}]}
//        -> {"ok": true, width, height, count, "rgba": base64 of the faces' RGBA bytes, face after face}
//        (window.facegan.generate; without attributes/edits every attribute is unset, every edit 0)
//   {"op": "controls"}  -> {"ok": true, "attributes": [{name, set, value, min, max}], "directions":
//        [{name, value, min, max}], attributesShown, directionsShown}: the page's controls as drawn
//   {"op": "control", "attribute": "Smiling", "set": true} | {"op": "control", "attribute": "Smiling",
//        "value": 0.3} | {"op": "control", "direction": "Smiling", "value": 2}  -> operates that control as
//        a user would (a click on the box; the slider moved, an input event) and answers, once the
//        drawing it started is done, {"ok": true, generations, error, width, height, count, rgba}
//   {"op": "download"}  -> {"ok": true, "name", "png": base64}: what the Download PNG button saves
//   {"op": "time", "n": 16, "seed": 0, "calls": 20}      -> {"ok": true, "times_ms": [...]}: each
//        generator.generate(n, seed) timed inside the page, so nothing of the transfer is counted
// A failed command answers {"ok": false, "error": "..."}; console errors of the page ride along.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

const TYPES = { ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm" };
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : fallback;
}

const say = (record) => process.stdout.write(JSON.stringify(record) + "\n");
const url = process.argv[2];
if (!url || url.startsWith("--")) {
  process.stderr.write("usage: node browser.mjs URL [--timeout-ms N] [--chromium PATH] [--route PREFIX=DIR]\n");
  process.exit(2);
}
const timeoutMs = Number(option("--timeout-ms", "120000"));
const profile = mkdtempSync(join(tmpdir(), "facegan-chromium-"));
const logs = [];
const requests = [];

const context = await chromium.launchPersistentContext(profile, {
  executablePath: option("--chromium", "/usr/bin/chromium"),
  headless: true,
  args: ARGS,
});
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") logs.push(`${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  page.on("request", (r) => requests.push(r.url()));
  const routed = option("--route", null);
  if (routed) {
    const [prefix, dir] = [routed.slice(0, routed.indexOf("=")), routed.slice(routed.indexOf("=") + 1)];
    await context.route((u) => u.href.startsWith(prefix), (route) => route.fulfill({
      path: join(dir, decodeURIComponent(new URL(route.request().url()).pathname.slice(new URL(prefix).pathname.length))),
      contentType: TYPES[extname(new URL(route.request().url()).pathname)] || "application/octet-stream",
      headers: { "access-control-allow-origin": "*", "cross-origin-resource-policy": "cross-origin" },
    }));
  }
  await page.goto(url, { waitUntil: "load", timeout: timeoutMs });
  const ready = await page.evaluate(async (ms) => {
    const message = () => document.getElementById("message")?.textContent || "";
    if (!window.facegan || !window.facegan.ready) return { ok: false, error: "the page made no window.facegan", message: message() };
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`not ready within ${ms} ms`)), ms));
    try {
      const info = await Promise.race([window.facegan.ready, timeout]);
      return { ok: true, ...info, hardwareConcurrency: navigator.hardwareConcurrency };
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e), message: message() };
    }
  }, timeoutMs);
  say({ event: "ready", ...ready, requests: requests.slice(), logs: logs.splice(0) });

  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    try {
      say({ ok: true, ...(await run(page, JSON.parse(line))), logs: logs.splice(0) });
    } catch (e) {
      say({ ok: false, error: String(e && e.message ? e.message : e), logs: logs.splice(0) });
    }
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

async function run(page, command) {
  if (command.op === "faces") {
    const { n = 1, seed = 0, truncation = 1, attributes = {}, edits = {} } = command;
    const faces = await page.evaluate(([n, seed, truncation, requests]) => window.facegan.generate(n, seed, truncation, requests),
      [n, seed, truncation, { attributes, edits }]);
    const { data, ...rest } = faces;
    return { ...rest, rgba: Buffer.from(Uint8Array.from(data)).toString("base64") };
  }
  if (command.op === "controls") {
    return page.evaluate(() => {
      const range = (input) => ({ value: Number(input.value), min: Number(input.min), max: Number(input.max) });
      return {
        attributes: [...document.querySelectorAll("#attribute-rows input[type=checkbox]")].map((set) => ({
          name: set.dataset.attribute, set: set.checked, ...range(document.getElementById(set.id.replace("attr-set-", "attr-value-"))),
        })),
        directions: [...document.querySelectorAll("#direction-rows input[type=range]")].map((v) => ({ name: v.dataset.direction, ...range(v) })),
        attributesShown: !document.getElementById("attributes").hidden,
        directionsShown: !document.getElementById("directions").hidden,
      };
    });
  }
  if (command.op === "control") {
    const done = await page.evaluate(async (command) => {
      const find = (selector, name) => [...document.querySelectorAll(selector)].find((e) => e.dataset.attribute === name || e.dataset.direction === name);
      const input = command.direction !== undefined
        ? find("#direction-rows input[type=range]", command.direction)
        : find(command.set !== undefined ? "#attribute-rows input[type=checkbox]" : "#attribute-rows input[type=range]", command.attribute);
      if (!input) throw new Error(`no control for ${JSON.stringify(command.direction ?? command.attribute)}`);
      if (command.set !== undefined) {
        if (input.checked !== command.set) input.click(); // a user's click: input and change events, at once
      } else {
        input.value = String(command.value);
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
      const state = await window.facegan.idle(); // every drawing the control started has finished
      const faces = window.facegan.lastFaces;
      return { ...state, width: faces.width, height: faces.height, count: faces.count, data: Array.from(faces.data) };
    }, command);
    const { data, ...rest } = done;
    return { ...rest, rgba: Buffer.from(Uint8Array.from(data)).toString("base64") };
  }
  if (command.op === "download") {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const png = readFileSync(await download.path());
    return { name: download.suggestedFilename(), png: png.toString("base64") };
  }
  if (command.op === "time") {
    const { n = 1, seed = 0, calls = 10 } = command;
    const times = await page.evaluate(async ([n, seed, calls]) => {
      const generator = window.facegan.generator;
      if (!generator) throw new Error("timing needs the wasm backend");
      const out = [];
      for (let i = 0; i < calls; i++) {
        const start = performance.now();
        await generator.generate(n, seed);
        out.push(performance.now() - start);
      }
      return out;
    }, [n, seed, calls]);
    return { times_ms: times };
  }
  throw new Error(`unknown op ${JSON.stringify(command.op)}; expected "faces", "controls", "control", "download" or "time"`);
}
