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
//   {"op": "faces", "n": 3, "seed": 7, "truncation": 1}  -> {"ok": true, width, height, count,
//        "rgba": base64 of the faces' RGBA bytes, face after face}   (window.facegan.generate)
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
    const { n = 1, seed = 0, truncation = 1 } = command;
    const faces = await page.evaluate(([n, seed, truncation]) => window.facegan.generate(n, seed, truncation), [n, seed, truncation]);
    const { data, ...rest } = faces;
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
  throw new Error(`unknown op ${JSON.stringify(command.op)}; expected "faces", "download" or "time"`);
}
