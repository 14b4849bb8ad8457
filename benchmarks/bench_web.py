"""Browser speed: the web export's page in headless Chromium (onnxruntime-web, wasm) against Python onnxruntime.

    .venv/bin/python benchmarks/bench_web.py              # dcgan 64x64, ngf=64, random DCGAN init
    .venv/bin/python benchmarks/bench_web.py --checkpoint runs/celeba
    .venv/bin/python benchmarks/bench_web.py --quick      # tiny model, seconds, for CI smoke

Exports the model with `export_web(..., ort_web=web/node_modules/onnxruntime-web/dist)` (what
`facegan-export --format web --ort-web` writes), serves the folder on 127.0.0.1 twice, without and
with COOP/COEP headers, and opens each in Debian's headless Chromium (web/tools/browser.mjs,
playwright-core): wasm with one thread, and with min(cores, 4) threads under cross-origin
isolation. Against them, `FaceGenerator` on the same model.onnx, with threads=1 and with one
thread per core. Every variant is `generate(n, seed)` (latents, the model, uint8 pixels; RGBA in
the browser, timed inside the page with performance.now(), so nothing of the transfer counts), at
batch 1 and 16, in interleaved rounds. Ratios are browser / Python at the same batch and thread
count, from the same run. Needs node, /usr/bin/chromium and web/node_modules (npm ci in web/).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

import common

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "web" / "tools" / "browser.mjs"
ORT_DIST = ROOT / "web" / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM = "/usr/bin/chromium"
BATCH_SIZES = (1, 16)
TIMEOUT_S = 300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common.parser(__doc__)
    common.add_model_arguments(p, "Benchmark")
    p.add_scaled("--rounds", 7, 2, "Interleaved timing rounds")
    p.add_scaled("--round-s", 0.5, 0.05, "Seconds per variant per round", type=float)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The page: web/tools/browser.mjs on a URL that facegan.web's static server serves


class Page:
    """One Chromium page of the web folder, driven over browser.mjs's JSON lines."""

    def __init__(self, url: str):
        self.process = subprocess.Popen(["node", str(DRIVER), url, "--timeout-ms", str(int(TIMEOUT_S * 1000))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.ready = self._answer()
            if not self.ready["ok"]:
                raise RuntimeError(f"the page at {url} did not start: {self.ready}")
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self) -> dict:
        line = self.lines.get(timeout=TIMEOUT_S)
        if line is None:
            raise RuntimeError(f"browser.mjs exited with {self.process.wait()}")
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        if not answer["ok"]:
            raise RuntimeError(f"browser.mjs: {answer['error']}")
        return answer

    def times_s(self, n: int, calls: int) -> list[float]:
        return [ms / 1e3 for ms in self.ask(op="time", n=n, seed=0, calls=calls)["times_ms"]]

    def faces(self, n: int, seed: int) -> np.ndarray:
        a = self.ask(op="faces", n=n, seed=seed)
        rgba = np.frombuffer(base64.b64decode(a["rgba"]), np.uint8).reshape(a["count"], a["height"], a["width"], 4)
        return rgba[..., :3]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


# ---------------------------------------------------------------------------------------------
# Timing


def measure(variants: dict, batch: int, rounds: int, round_s: float) -> dict[str, common.Timing]:
    """Interleaved rounds of `variants` (name -> calls(n) -> per-call seconds), order rotated each round.

    Not common.interleaved: the browser's calls are timed inside the page, so a variant hands back
    its own per-call times instead of being a callable timed here.
    """
    names = list(variants)
    per_round = {}
    for name in names:  # warm-up, which also sizes the rounds from the fastest of 3 calls
        per_round[name] = max(1, min(1000, int(round_s / max(min(variants[name](3)), 1e-5))))
    timings = {n: common.Timing(n, batch) for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            timings[name].times_s += variants[name](per_round[name])
    return timings


def python_calls(gen, batch: int):
    return lambda calls: common.time_calls(lambda: gen.generate(batch, seed=0), calls)


def version_of(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "-"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads, info = common.torch_setup()
    from facegan.export.web import export_web
    from facegan.runtime.generator import FaceGenerator
    from facegan.web import ort_web_version, static_server

    browser_threads = max(1, min(threads, 4))  # what the page asks for when isolated (page.js MAX_THREADS)
    info = {**info, "chromium": version_of([CHROMIUM, "--version"]), "node": version_of(["node", "--version"]),
            "onnxruntime_web": ort_web_version()}
    with tempfile.TemporaryDirectory(prefix="facegan-bench-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        checkpoint = args.checkpoint or common.random_checkpoint(args.preset, tmp, image_size=args.image_size, ngf=args.ngf)
        site = export_web(checkpoint, tmp / "site", ort_web=ORT_DIST, batch_sizes=(1, 3), seeds=(0,))
        model = site.path / "model.onnx"
        size_mb = model.stat().st_size / 1e6
        pages = {}
        for isolated in (False, True):
            server, url = static_server.start(site.path, isolated=isolated)
            stack.enter_context(server)
            pages[isolated] = Page(url)
            stack.callback(pages[isolated].close)
        got_threads = {isolated: p.ready["threads"] for isolated, p in pages.items()}
        python = {"one": FaceGenerator(model, device="cpu", threads=1), "all": FaceGenerator(model, device="cpu")}
        # A benchmark of a wrong model is worthless: the page must draw Python's faces.
        level_diff = max(int(np.abs(pages[i].faces(4, 7).astype(int) - python["one"].generate(4, seed=7).astype(int)).max())
                         for i in pages)
        if level_diff > 1:
            raise RuntimeError(f"the page's faces differ from Python's by {level_diff} levels")

        rows = []
        for batch in BATCH_SIZES:
            variants = {
                "browser wasm, 1 thread": lambda c, b=batch: pages[False].times_s(b, c),
                f"browser wasm, {got_threads[True]} threads (COOP/COEP)": lambda c, b=batch: pages[True].times_s(b, c),
                "Python onnxruntime, 1 thread": python_calls(python["one"], batch),
                f"Python onnxruntime, {threads} threads (runtime default)": python_calls(python["all"], batch),
            }
            timings = measure(variants, batch, args.rounds, args.round_s)
            pairs = list(timings.values())
            for t, baseline, n_threads in ((pairs[0], pairs[2], 1), (pairs[1], pairs[3], got_threads[True])):
                for x, ratio in ((t, t.items_per_s / baseline.items_per_s), (baseline, 1.0)):
                    rows.append({**x.summary(), "variant": x.name, "batch_size": batch, "threads": n_threads,
                                 "images_per_s": x.items_per_s, "vs_python": ratio, "baseline": baseline.name})

    record = {
        "bench": "web",
        "quick": args.quick,
        "system": info,
        "model": {"preset": args.preset if args.checkpoint is None else "checkpoint", "checkpoint": str(args.checkpoint or ""),
                  "config": json.loads(site.model.metadata["facegan.model_config"]), "size_mb": size_mb},
        "settings": {"rounds": args.rounds, "round_s": args.round_s, "batch_sizes": list(BATCH_SIZES),
                     "browser_threads": got_threads[True], "browser_threads_asked": browser_threads},
        "parity_max_level_diff": level_diff,
        "results": rows,
        "notes": [
            f"Measured on this machine: headless {info['chromium']} (--disable-gpu), onnxruntime-web "
            f"{info['onnxruntime_web']} wasm (SIMD, threaded build, vendored), node {info['node']}; "
            f"Python onnxruntime {info['onnxruntime']} CPU through FaceGenerator.",
            "Each call is generate(n, seed): latents, the model, uint8 pixels. Browser calls are timed in the page "
            "(performance.now(); coarsened to 0.1 ms without cross-origin isolation).",
            "Warm-up excluded; variants interleaved in rounds, order rotated each round; images/s = batch / P50 latency.",
            "vs Python: browser images/s over Python onnxruntime's at the same batch size and thread count, same run.",
            f"The page's faces equal Python's within {level_diff} level(s) (checked before timing).",
        ],
    }
    return common.publish(record, render(record), args.results)


def render(record: dict) -> str:
    cfg = record["model"]["config"]
    title = (f"Browser (wasm) vs Python onnxruntime: {record['model']['preset']} {cfg['image_size']}x{cfg['image_size']}, "
             f"ngf={cfg['ngf']}" + (" (--quick)" if record["quick"] else ""))
    out = [common.header(title, record["system"], record["notes"])]
    out.append(common.markdown_table(
        ["Variant", "Batch", "Threads", "Images/s", "P50 ms", "P90 ms", "P99 ms", "vs Python (same threads)"],
        [[r["variant"], r["batch_size"], r["threads"], r["images_per_s"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
          r["vs_python"]] for r in record["results"]],
    ))
    return "\n".join(out)


if __name__ == "__main__":
    main()
