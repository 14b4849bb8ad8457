"""Same seed, same pixels: the exported web page in a real headless Chromium against the Python runtime.

A tiny model is exported with `facegan-export --format web --ort-web web/node_modules/onnxruntime-web/dist`
(float and uint8 outputs), served from 127.0.0.1 at a free port by facegan.web's static server in a
thread of this process, without and with COOP/COEP headers, and opened by web/tools/browser.mjs
(playwright-core driving Debian's /usr/bin/chromium; never a downloaded browser). The page's faces must equal
`FaceGenerator`'s uint8 faces within one level, and a wrong seed must not. The default export
(onnxruntime-web from jsDelivr) runs too, the CDN played offline from npm's copy; so does the page
with backend "http" against a real facegan-serve, loading no onnxruntime-web. A conditional export
(given directions) shows one control row per attribute and a slider per direction, and draws
Python's faces for attribute requests and edits, asked through the test hook or by working the
controls, on both backends. Everything waits on events (the page's ready promise, the driver's
JSON lines, the page's idle() after a control moved, the server's line), never on a sleep.

Skips, saying why, without node, /usr/bin/chromium or web/node_modules (`npm ci` in web/).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest import TEST_ATTRIBUTES, write_checkpoint  # noqa: E402
from runtime_models import with_directions  # noqa: E402
from waiting import drain_output, wait_for_output  # noqa: E402

from facegan.export.web import export_web  # noqa: E402
from facegan.runtime import FaceGenerator  # noqa: E402
from facegan.runtime.images import grid  # noqa: E402
from facegan.web import static_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
DRIVER = WEB / "tools" / "browser.mjs"
CHROMIUM = Path("/usr/bin/chromium")
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
TIMEOUT_S = 180.0  # Chromium's start plus compiling 14 MB of wasm on a busy 2-core machine
SEEDS = (0, 1, 7, 2**32 + 5, 2**64 - 1)


def missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    for package in ("playwright-core", "onnxruntime-web"):
        if not (WEB / "node_modules" / package).is_dir():
            return f"web/node_modules/{package} is missing (run npm ci in web/)"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


# ---------------------------------------------------------------------------------------------
# A static server and the page driver


@contextlib.contextmanager
def serve(folder: Path, isolated: bool = False):
    """Serve `folder` on 127.0.0.1 at a free port (with COOP/COEP if `isolated`); yield its URL."""
    server, url = static_server.start(folder, isolated=isolated)
    with server:
        yield url


class Page:
    """web/tools/browser.mjs on one URL: `ready` is its first JSON line, `ask` sends a command."""

    def __init__(self, url: str, *options: str):
        self.process = subprocess.Popen(
            ["node", str(DRIVER), url, "--timeout-ms", str(int(TIMEOUT_S * 1000)), *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.stderr.append), daemon=True).start()
        try:
            self.ready = self._answer()
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise

    @staticmethod
    def _read(stream, sink) -> None:
        for line in stream:
            sink(line)
        sink(None)

    def _answer(self) -> dict:
        try:
            line = self.lines.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"browser.mjs said nothing within {TIMEOUT_S:.0f} s; stderr: {''.join(filter(None, self.stderr))[-2000:]}")
        if line is None:
            raise AssertionError(f"browser.mjs exited ({self.process.wait()}): {''.join(filter(None, self.stderr))[-2000:]}")
        return json.loads(line)

    def ask(self, **command) -> dict:
        answer = self.send(**command)
        assert answer["ok"], answer
        return answer

    def refused(self, **command) -> str:
        """The error of a command the page must refuse."""
        answer = self.send(**command)
        assert not answer["ok"], answer
        return answer["error"]

    def send(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def faces(self, n: int, seed: int, truncation: float = 1.0, attributes: dict | None = None,
              edits: dict | None = None) -> np.ndarray:
        """The page's faces as uint8 (n, H, W, 3): its RGBA without the (opaque) alpha.

        With the http backend the page holds one picture, the grid: (1, H, W, 3).
        """
        a = self.ask(op="faces", n=n, seed=str(seed), truncation=truncation,  # a string: 2**64 - 1 is no JS Number
                     attributes=attributes or {}, edits=edits or {})
        return rgb(a)

    def control(self, **command) -> tuple[dict, np.ndarray]:
        """Operate one control as a user would; the answer (generations, error) and the faces drawn then."""
        a = self.ask(op="control", **command)
        return a, rgb(a)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a driver that already exited has no stdin to close
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def rgb(answer: dict) -> np.ndarray:
    rgba = np.frombuffer(base64.b64decode(answer["rgba"]), np.uint8).reshape(-1, answer["height"], answer["width"], 4)
    assert (rgba[..., 3] == 255).all()
    return rgba[..., :3]


@contextlib.contextmanager
def page(url: str, *options: str):
    p = Page(url, *options)
    try:
        yield p
    finally:
        p.close()


# ---------------------------------------------------------------------------------------------
# The exports


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """Web folders of one tiny checkpoint: float and uint8 outputs with onnxruntime-web vendored from
    npm, and the default export (float, onnxruntime-web from the CDN)."""
    root = tmp_path_factory.mktemp("web")
    checkpoint = write_checkpoint(root / "ckpt.pt")
    sites = {
        output: export_web(checkpoint, root / f"site-{output}", ort_web=ORT_DIST, output=output,
                           batch_sizes=(1, 3), seeds=(0,)).path
        for output in ("float", "uint8")
    }
    sites["cdn"] = export_web(checkpoint, root / "site-cdn", batch_sizes=(1,), seeds=(0,)).path  # the default
    return sites


def max_level_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("output", ["float", "uint8"])
def test_the_page_draws_the_python_runtimes_faces(sites, output):
    python = FaceGenerator(sites[output] / "model.onnx", device="cpu")
    with serve(sites[output]) as url, page(url) as p:
        assert p.ready["ok"], p.ready
        assert p.ready["backend"] == "wasm"
        assert (p.ready["attributes"], p.ready["directions"]) == ([], [])  # unconditional, no directions: no controls
        controls = p.ask(op="controls")
        assert not controls["attributesShown"] and not controls["directionsShown"] and not controls["attributes"]
        assert all(r.startswith(url) for r in p.ready["requests"]), p.ready["requests"]  # vendored: no CDN
        assert f"{url}ort/ort-wasm-simd-threaded.wasm" in p.ready["requests"]
        for seed in SEEDS:
            expected = python.generate(3, seed=seed)
            got = p.faces(3, seed)
            assert got.shape == expected.shape
            assert max_level_diff(got, expected) <= 1, f"seed {seed}"
        # Download PNG saves the grid on the canvas: the faces, laid out as runtime.images.grid does.
        saved = p.ask(op="download")
        assert saved["name"] == f"facegan-seed-{SEEDS[-1]}-n3.png"
        png = np.asarray(Image.open(io.BytesIO(base64.b64decode(saved["png"]))).convert("RGB"))
        assert max_level_diff(png, grid(python.generate(3, seed=SEEDS[-1]), nrow=2)) <= 1
        # Truncation goes through the same path (z * float32(psi)).
        assert max_level_diff(p.faces(2, 42, truncation=0.5), python.generate(2, seed=42, truncation=0.5)) <= 1
        # The test can fail: another seed, or another face of the same seed, is far from these faces.
        assert max_level_diff(p.faces(3, 8), python.generate(3, seed=7)) > 16
        assert max_level_diff(python.generate(3, seed=7)[1:], python.generate(3, seed=7)[:2]) > 16


def test_threads_follow_cross_origin_isolation(sites):
    python = FaceGenerator(sites["float"] / "model.onnx", device="cpu")
    for isolated in (False, True):
        with serve(sites["float"], isolated=isolated) as url, page(url) as p:
            assert p.ready["ok"], p.ready
            assert p.ready["crossOriginIsolated"] is isolated
            expected_threads = min(p.ready["hardwareConcurrency"], 4) if isolated else 1
            assert p.ready["threads"] == expected_threads
            assert max_level_diff(p.faces(4, 5), python.generate(4, seed=5)) <= 1


def test_the_default_export_loads_onnxruntime_web_from_the_cdn(sites):
    """The CDN is played offline by browser.mjs --route, from npm's copy of the pinned version."""
    cdn = json.loads((sites["cdn"] / "config.json").read_text())["ort"]
    python = FaceGenerator(sites["cdn"] / "model.onnx", device="cpu")
    for isolated in (False, True):  # with COOP/COEP the threads' workers come from the CDN too
        with serve(sites["cdn"], isolated=isolated) as url, page(url, "--route", f"{cdn}={ORT_DIST}") as p:
            assert p.ready["ok"], p.ready
            assert f"{cdn}ort.wasm.min.mjs" in p.ready["requests"] and f"{cdn}ort-wasm-simd-threaded.wasm" in p.ready["requests"]
            assert p.ready["threads"] == (min(p.ready["hardwareConcurrency"], 4) if isolated else 1)
            assert max_level_diff(p.faces(3, 11), python.generate(3, seed=11)) <= 1


def test_from_file_the_page_says_why_it_cannot_load_the_model(sites):
    with page((sites["float"] / "index.html").as_uri()) as p:
        assert p.ready["ok"] is False
        assert "file://" in p.ready["message"] and "python -m http.server" in p.ready["message"]


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None,
                    reason="facegan-serve needs the serve extra (fastapi, uvicorn)")
def test_with_facegan_serve_the_page_draws_the_servers_grid_without_onnxruntime_web(sites):
    model = sites["float"] / "model.onnx"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "facegan.serve", str(model), "--port", "0", "--device", "cpu"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        said = wait_for_output(server.stdout.fileno(), "(Ctrl-C", TIMEOUT_S)  # its line once it accepts requests
        threading.Thread(target=drain_output, args=(server.stdout.fileno(),), daemon=True).start()
        url = re.search(r" at (http://\S+?)/? \(Ctrl-C", said).group(1) + "/"
        with page(url) as p:
            assert p.ready["ok"], p.ready
            assert p.ready["backend"] == "http" and p.ready["threads"] is None
            assert not [r for r in p.ready["requests"] if "ort" in r.rsplit("/", 1)[-1] or not r.startswith(url)]
            python = FaceGenerator(model, device="cpu")
            got = p.faces(4, 7)[0]
            assert np.array_equal(got, grid(python.generate(4, seed=7), nrow=2))  # PNG: lossless, same runtime
            assert not np.array_equal(p.faces(4, 8)[0], got)
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.slow
def test_bench_web_quick(tmp_path):
    """benchmarks/bench_web.py --quick completes and records both batch sizes (here: it needs the browser)."""
    results = tmp_path / "r.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_web.py"), "--quick", "--results", str(results)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(results.read_text())
    assert record["bench"] == "web" and record["quick"] is True and record["parity_max_level_diff"] <= 1
    assert {(r["batch_size"], r["threads"] > 1, r["variant"].startswith("browser")) for r in record["results"]} == {
        (b, many, browser) for b in (1, 16) for many in (False, True) for browser in (False, True)
    } or record["system"]["cores"] == 1
    assert all(r["images_per_s"] > 0 and r["vs_python"] > 0 for r in record["results"])
    assert "| browser wasm, 1 thread | 1 |" in done.stdout


# ---------------------------------------------------------------------------------------------
# Conditional models and directions: the controls, and Python's pixels for requests


ATTRIBUTES = TEST_ATTRIBUTES  # Smiling, Eyeglasses, Black_Hair, Blond_Hair
DIRECTIONS = ("Smiling", "Eyeglasses")


def add_directions(model: Path, names: tuple[str, ...] = DIRECTIONS, seed: int = 0) -> None:
    """Give `model` a `facegan.directions` entry of random unit vectors (what facegan-directions finds)."""
    with_directions(model, model, names, seed)


@pytest.fixture(scope="module")
def conditional_site(tmp_path_factory) -> Path:
    """The web folder of a tiny conditional checkpoint, its model given directions."""
    root = tmp_path_factory.mktemp("conditional")
    checkpoint = write_checkpoint(root / "ckpt.pt", attributes=True)
    site = export_web(checkpoint, root / "site", ort_web=ORT_DIST, batch_sizes=(1, 3), seeds=(0,)).path
    add_directions(site / "model.onnx")
    return site


def check_controls(p: Page) -> None:
    assert (p.ready["attributes"], p.ready["directions"]) == (list(ATTRIBUTES), list(DIRECTIONS))
    controls = p.ask(op="controls")
    assert controls["attributesShown"] and controls["directionsShown"]
    assert [(c["name"], c["set"], c["min"], c["max"]) for c in controls["attributes"]] == [(n, False, 0, 1) for n in ATTRIBUTES]
    assert [(c["name"], c["value"], c["min"], c["max"]) for c in controls["directions"]] == [(n, 0, -3, 3) for n in DIRECTIONS]


def test_a_conditional_page_draws_pythons_faces_for_attributes_and_edits(conditional_site):
    python = FaceGenerator(conditional_site / "model.onnx", device="cpu")
    with serve(conditional_site) as url, page(url) as p:
        assert p.ready["ok"], p.ready
        check_controls(p)
        asked = {"Smiling": 1.0, "Eyeglasses": 0.0}
        for seed in (0, 7, 2**64 - 1):
            assert max_level_diff(p.faces(3, seed, attributes=asked), python.generate(3, seed, attributes=asked)) <= 1, seed
        assert max_level_diff(p.faces(3, 7), python.generate(3, 7)) <= 1  # unset: drawn from the prior, as Python draws
        got = p.faces(2, 5, truncation=0.8, attributes={"Black_Hair": 0.7}, edits={"Smiling": 2.0})
        assert max_level_diff(got, python.edit(5, {"Smiling": 2.0}, n=2, truncation=0.8, attributes={"Black_Hair": 0.7})) <= 1
        assert 'unknown attribute "Bald"' in p.refused(op="faces", n=1, seed="0", attributes={"Bald": 1})
        assert "from -3 to 3" in p.refused(op="faces", n=1, seed="0", edits={"Smiling": 4})
        # The test can fail: the attributes and the edit change the faces.
        assert max_level_diff(p.faces(3, 7, attributes={"Smiling": 0.0}), python.generate(3, 7, attributes={"Smiling": 1.0})) > 4
        assert max_level_diff(got, python.generate(2, 5, truncation=0.8, attributes={"Black_Hair": 0.7})) > 4
        # The controls, as a user works them: each change draws the faces again (seed 7, 3 faces, as last asked).
        p.faces(3, 7)  # every attribute unset, every edit 0; the sliders keep their values (Eyeglasses 0)
        before = p.ask(op="controls")
        state, faces = p.control(attribute="Eyeglasses", set=True)  # the slider still holds 0 from `asked`
        assert state["error"] is None and state["generations"] > 0
        assert max_level_diff(faces, python.generate(3, 7, attributes={"Eyeglasses": 0.0})) <= 1
        state2, faces = p.control(attribute="Smiling", value=0.25)  # moving a slider sets its attribute
        assert state2["generations"] > state["generations"]
        assert max_level_diff(faces, python.generate(3, 7, attributes={"Eyeglasses": 0.0, "Smiling": 0.25})) <= 1
        _, faces = p.control(direction="Eyeglasses", value=-1.5)
        expected = python.edit(7, {"Eyeglasses": -1.5}, n=3, attributes={"Eyeglasses": 0.0, "Smiling": 0.25})
        assert max_level_diff(faces, expected) <= 1
        _, faces = p.control(attribute="Smiling", set=False)
        assert max_level_diff(faces, python.edit(7, {"Eyeglasses": -1.5}, n=3, attributes={"Eyeglasses": 0.0})) <= 1
        assert [c["set"] for c in p.ask(op="controls")["attributes"]] == [False, True, False, False] != [c["set"] for c in before["attributes"]]


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None,
                    reason="facegan-serve needs the serve extra (fastapi, uvicorn)")
def test_with_facegan_serve_a_conditional_page_asks_for_attributes_and_edits(conditional_site):
    model = conditional_site / "model.onnx"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "facegan.serve", str(model), "--port", "0", "--device", "cpu"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        said = wait_for_output(server.stdout.fileno(), "(Ctrl-C", TIMEOUT_S)
        threading.Thread(target=drain_output, args=(server.stdout.fileno(),), daemon=True).start()
        url = re.search(r" at (http://\S+?)/? \(Ctrl-C", said).group(1) + "/"
        python = FaceGenerator(model, device="cpu")
        with page(url) as p:
            assert p.ready["ok"], p.ready
            assert p.ready["backend"] == "http"
            check_controls(p)
            asked = {"Smiling": 1.0, "Black_Hair": 0.5}
            got = p.faces(4, 7, attributes=asked, edits={"Eyeglasses": -2.0})[0]
            assert np.array_equal(got, grid(python.edit(7, {"Eyeglasses": -2.0}, n=4, attributes=asked), nrow=2))
            _, faces = p.control(attribute="Black_Hair", set=False)
            assert np.array_equal(faces[0], grid(python.edit(7, {"Eyeglasses": -2.0}, n=4, attributes={"Smiling": 1.0}), nrow=2))
    finally:
        server.terminate()
        server.wait(timeout=60)
