"""facegan-serve against the real server: `python -m facegan.serve MODEL` on 127.0.0.1, port 0.

A module fixture exports a small model (64x64, so that a 64-face request takes tens of ms: long
enough for a real race on one slot), starts the server and waits for its "serving ... at URL"
line on a pipe (select, no sleep), then checks /healthz once. Pixels are compared with the
library's FaceGenerator; the server's stderr must never hold a traceback. In-process tests with
FastAPI's TestClient cover what a real race cannot make certain: a held slot, a timeout, the
response-size cap.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx2")  # the successor of httpx, what Starlette's TestClient uses
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import cli_output  # noqa: E402
from conftest import TEST_ATTRIBUTES, write_checkpoint  # noqa: E402
from runtime_models import with_directions  # noqa: E402
from waiting import wait_for_output  # noqa: E402

from facegan.runtime.generator import FaceGenerator  # noqa: E402
from facegan.runtime.images import grid  # noqa: E402
from facegan.serve import Limits, create_app  # noqa: E402
from facegan.serve.caching import canonical_query, etag, not_modified  # noqa: E402
from facegan.serve.cli import app as cli_app  # noqa: E402
from facegan.serve.limits import Slots, estimate_bytes  # noqa: E402
from facegan.web import PAGE_ASSETS, asset  # noqa: E402

SIZE = 64
ALLOWED_ORIGIN = "http://allowed.test"
READY = "(Ctrl-C to stop)"
START_TIMEOUT_S = 120.0  # a cold import of fastapi + onnxruntime on a busy CI machine


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from facegan.export import export_onnx

    folder = tmp_path_factory.mktemp("serve")
    ckpt = write_checkpoint(folder / "ckpt.pt", image_size=SIZE, ngf=32)
    return export_onnx(ckpt, folder / "model.onnx").path


@pytest.fixture(scope="module")
def gen(model) -> FaceGenerator:
    return FaceGenerator(model, device="cpu")


def start_server(model: Path, *flags: str, stderr_path: Path) -> tuple[subprocess.Popen, str, str]:
    """The real server on a free port (port 0); returns it, its URL and its ready line once it says it is ready."""
    stderr = open(stderr_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "facegan.serve", str(model), "--port", "0", "--device", "cpu", *flags],
        stdout=subprocess.PIPE, stderr=stderr,
    )
    stderr.close()
    try:
        line = wait_for_output(proc.stdout.fileno(), READY, timeout_s=START_TIMEOUT_S)
    except AssertionError:
        proc.kill()
        raise AssertionError(f"server did not start: {stderr_path.read_text()[-2000:]}") from None
    url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line).group(1)
    assert httpx.get(url + "healthz", timeout=30).json()["status"] == "ok"
    return proc, url, line


def stop_server(proc: subprocess.Popen, stderr_path: Path, signum: int = signal.SIGINT) -> str:
    """Ctrl-C (or `signum`), then the exit status and stderr of a clean stop."""
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 0
    proc.stdout.close()
    err = stderr_path.read_text()
    assert "Traceback" not in err, err
    assert "facegan-serve: stopped" in err
    return err


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    stderr_path = tmp_path_factory.mktemp("server") / "stderr.txt"
    proc, url, _ = start_server(model, "--concurrency", "1", "--cors-origin", ALLOWED_ORIGIN, stderr_path=stderr_path)
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client
    stop_server(proc, stderr_path)


def decode(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def assert_json_error(response, status: int | None = None) -> str:
    """A 4xx/5xx whose body is exactly {"error": "one line"}: no HTML, no traceback."""
    assert 400 <= response.status_code < 600, response.status_code
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    assert "\n" not in response.text and "Traceback" not in response.text
    return body["error"]


# ---------------------------------------------------------------------------------------------
# The real server


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_a_face_has_the_pixels_of_the_library(server, gen, seed):
    r = server.get("/v1/faces", params={"seed": seed})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(decode(r), gen.generate(1, seed)[0])


def test_different_seeds_are_different_faces(server):
    assert not np.array_equal(decode(server.get("/v1/faces?seed=1")), decode(server.get("/v1/faces?seed=2")))


def test_a_grid_for_more_than_one_face(server, gen):
    r = server.get("/v1/faces", params={"seed": 5, "n": 5, "nrow": 3, "truncation": 0.7})
    faces = decode(r)
    assert faces.shape == (2 * SIZE + 3 * 2, 3 * SIZE + 4 * 2, 3)
    np.testing.assert_array_equal(faces, grid(gen.generate(5, 5, truncation=0.7), 3))


@pytest.mark.parametrize("fmt, media_type", [("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_jpeg_and_webp(server, fmt, media_type):
    r = server.get("/v1/faces", params={"n": 2, "format": fmt})
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(r.content)).format == fmt.upper()
    assert decode(r).shape == (SIZE + 4, 2 * SIZE + 6, 3)


def test_a_morph_is_a_gif_with_one_frame_per_step(server):
    r = server.get("/v1/morph", params={"seed_a": 3, "seed_b": 4, "steps": 6})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(r.content))
    assert gif.n_frames == 6 and gif.size == (SIZE, SIZE)


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_one_frame_of_a_morph_is_that_frame_of_interpolate(server, gen, method):
    frames = gen.interpolate(3, 4, steps=7, method=method, truncation=0.8)
    for k in (0, 3, 6):
        r = server.get("/v1/morph", params={"seed_a": 3, "seed_b": 4, "steps": 7, "method": method,
                                             "truncation": 0.8, "frame": k, "format": "png"})
        assert r.headers["content-type"] == "image/png"
        np.testing.assert_array_equal(decode(r), frames[k])


def test_etag_and_cache_control(server):
    first = server.get("/v1/faces?seed=7&n=2")
    tag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert server.get("/v1/faces?n=2&seed=07&format=png").headers["etag"] == tag  # the same parsed query
    assert server.get("/v1/faces?seed=8&n=2").headers["etag"] != tag
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = server.get("/v1/faces?seed=7&n=2", headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert server.get("/v1/faces?seed=7&n=2", headers={"If-None-Match": '"other"'}).status_code == 200


def test_cors_only_for_the_configured_origin(server):
    allowed = server.get("/v1/faces", headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in server.get("/v1/faces", headers={"Origin": "http://evil.test"}).headers
    preflight = server.options("/v1/faces", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.status_code == 200 and "GET" in preflight.headers["access-control-allow-methods"]
    assert "if-none-match" in preflight.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize("query, status, words", [
    ("/v1/faces?n=65", 422, "less than or equal to 64"),
    ("/v1/morph?steps=65", 422, "less than or equal to 64"),
    ("/v1/faces?n=0", 422, "greater than or equal to 1"),
    ("/v1/faces?seed=-1", 422, "seed"),
    ("/v1/faces?seed=18446744073709551616", 422, "seed"),
    ("/v1/faces?seed=abc", 422, "valid integer"),
    ("/v1/faces?seed=../../etc/passwd", 422, "valid integer"),
    ("/v1/faces?truncation=nan", 422, "finite"),
    ("/v1/faces?format=bmp", 422, "png"),
    ("/v1/faces?format=../../model.onnx", 422, "png"),
    ("/v1/faces?seeds=3", 422, "unknown parameter 'seeds'"),
    ("/v1/faces?file=/etc/passwd", 422, "unknown parameter"),
    ("/v1/faces?seed=1&seed=2", 422, "more than once"),
    ("/v1/morph?method=cubic", 422, "slerp"),
    ("/v1/morph?steps=4&frame=4", 422, "frame must be below steps"),
    ("/v1/morph?format=png", 422, "frame=k"),
    ("/v1/morph?frame=1&format=gif", 422, "one image"),
    ("/v1/model?x=1", 422, "unknown parameter"),
    ("/v2/faces", 404, "no route"),
    ("/v1/faces/7", 404, "no route"),
])
def test_bad_requests_get_one_line_of_json(server, query, status, words):
    assert words in assert_json_error(server.get(query), status)


def test_wrong_method_is_json_too(server):
    assert_json_error(server.post("/v1/faces"), 405)


@pytest.mark.parametrize("path", [
    "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/../../etc/passwd", "/__init__.py", "/package.json",
    "/known-answers.json", "/model.onnx", "/index.html/../__init__.py", "/..%2f__init__.py",
])
def test_no_path_reaches_a_file(server, path):
    """Raw paths, sent as they are (httpx would normalise the dots away)."""
    url = httpx.URL(str(server.base_url))
    conn = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body, ctype = response.read(), response.getheader("content-type")
    finally:
        conn.close()
    assert response.status in (400, 404), (path, response.status, body[:200])
    if ctype == "application/json":  # uvicorn itself refuses some malformed targets with a plain 400
        assert list(json.loads(body)) == ["error"]
    assert b"import" not in body and b"root:" not in body


def test_model_metadata_as_json(server, model, gen):
    info = server.get("/v1/model").json()
    assert info["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert (info["latent_dim"], info["image_size"], info["channels"]) == (gen.latent_dim, SIZE, 3)
    assert info["metadata"]["facegan.format_version"] == "1"
    assert info["limits"]["max_n"] == 64 and info["limits"]["concurrency"] == 1


def test_health(server):
    r = server.get("/healthz")
    assert r.json() == {"status": "ok", "busy_slots": 0, "slots": 1} and r.headers["cache-control"] == "no-store"


def test_the_page_and_its_config(server, gen):
    config = server.get("/config.json").json()
    assert config["backend"] == "http" and config["api"] == "/v1"
    assert config["metadata"]["facegan.latent_dim"] == str(gen.latent_dim)
    page = server.get("/")
    if asset("index.html").is_file():
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.content == asset("index.html").read_bytes()
    else:
        assert_json_error(page, 404)
    for name in PAGE_ASSETS:  # what index.html and its modules load, each at /NAME
        r = server.get(f"/{name}")
        if asset(name).is_file():
            assert r.status_code == 200 and r.content == asset(name).read_bytes(), name
            if name.endswith(".js"):
                assert r.headers["content-type"].startswith("text/javascript"), name  # module scripts need it
        else:
            assert_json_error(r, 404)


def test_busy_slots_answer_503_at_once(server):
    """One slot, six clients at once asking for 64 faces (tens of ms each): the excess gets 503 fast."""
    clients = 6
    url = str(server.base_url)
    for attempt in range(5):  # a round where every request found the slot free is possible, not likely
        results: list[tuple[int, float, dict, bytes]] = []
        barrier = threading.Barrier(clients)

        def one(i: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                client.get("/healthz")  # connect before the race
                barrier.wait()
                start = time.perf_counter()
                r = client.get("/v1/faces", params={"n": 64, "seed": 1000 * attempt + i})
                results.append((r.status_code, time.perf_counter() - start, dict(r.headers), r.content))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        busy = [r for r in results if r[0] == 503]
        if busy:
            break
    assert len(results) == clients and {r[0] for r in results} <= {200, 503}
    assert busy, "no 503 in 5 rounds of 6 simultaneous requests on one slot"
    assert any(r[0] == 200 for r in results)
    for status, seconds, headers, body in busy:
        assert headers["retry-after"] == "1" and "busy" in json.loads(body)["error"]
        assert seconds < 1.0, f"a 503 took {seconds * 1e3:.0f} ms"  # the benchmark holds it to 100 ms


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_it_cleanly(model, tmp_path, signum):
    proc, url, _ = start_server(model, stderr_path=tmp_path / "stderr.txt")
    assert httpx.get(url + "v1/faces", timeout=30).status_code == 200
    stop_server(proc, tmp_path / "stderr.txt", signum)


# ---------------------------------------------------------------------------------------------
# The CLI's errors, before anything binds


runner = CliRunner()


def test_missing_and_invalid_models_exit_1_with_one_line(tmp_path):
    result = runner.invoke(cli_app, [str(tmp_path / "missing.onnx"), "--port", "0"])
    assert result.exit_code == 1 and "not found" in cli_output.one_error_line(result, "facegan-serve")
    (tmp_path / "bad.onnx").write_text("not a model")
    result = runner.invoke(cli_app, [str(tmp_path / "bad.onnx"), "--port", "0"])
    assert result.exit_code == 1 and "not a loadable ONNX model" in cli_output.one_error_line(result, "facegan-serve")


def test_a_port_in_use_exits_1_with_one_line(model):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli_app, [str(model), "--port", str(port), "--device", "cpu"])
    assert result.exit_code == 1 and "cannot listen on" in cli_output.one_error_line(result, "facegan-serve")


@pytest.mark.parametrize("flags", [["--concurrency", "0"], ["--port", "70000"], ["--bogus"], ["--timeout", "0"]])
def test_bad_flags_exit_2(model, flags):
    assert runner.invoke(cli_app, [str(model), *flags]).exit_code == 2


def test_console_script_help():
    script = Path(sys.executable).with_name("facegan-serve")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--concurrency" in result.stdout and "--cors-origin" in result.stdout


# ---------------------------------------------------------------------------------------------
# In process: what a real race cannot make certain


def test_a_held_slot_means_503_with_retry_after(gen):
    with TestClient(create_app(gen, Limits(concurrency=1, retry_after_s=3))) as client:
        slots = client.app.state.service.pool.slots
        assert slots.try_acquire()
        try:
            start = time.perf_counter()
            r = client.get("/v1/faces")
            took_s = time.perf_counter() - start
        finally:
            slots.release()
        assert "busy" in assert_json_error(r, 503) and r.headers["retry-after"] == "3" and took_s < 1.0
        assert client.get("/v1/faces").status_code == 200  # the slot is free again
        assert client.get("/healthz").json()["busy_slots"] == 0


def test_a_slow_generation_times_out_with_504(gen):
    with TestClient(create_app(gen, Limits(timeout_s=1e-4))) as client:
        assert "timeout" in assert_json_error(client.get("/v1/faces?n=64"), 504)


def test_the_response_size_cap(gen):
    limit = estimate_bytes(SIZE, SIZE, 3, frames=4)
    with TestClient(create_app(gen, Limits(max_response_bytes=limit))) as client:
        assert client.get("/v1/faces?n=1").status_code == 200
        assert "MiB" in assert_json_error(client.get("/v1/faces?n=16"), 422)
        assert client.get("/v1/morph?steps=4").status_code == 200
        assert "morph" in assert_json_error(client.get("/v1/morph?steps=5"), 422)
        assert client.get("/v1/morph?steps=64&frame=3").status_code == 200  # one frame is small


def test_if_none_match_parsing():
    tag = '"abc"'
    assert not_modified('"abc"', tag) and not_modified('W/"abc"', tag) and not_modified('"x" , "abc"', tag)
    assert not_modified("*", tag)
    assert not not_modified(None, tag) and not not_modified("", tag) and not not_modified('"abcd"', tag)


def test_the_etag_depends_on_the_model_and_the_parsed_query():
    q = canonical_query("faces", {"seed": 7, "truncation": 0.70, "n": 1})
    assert q == "faces?n=1&seed=7&truncation=0.7"
    assert etag("a" * 64, q) == etag("a" * 64, q) != etag("b" * 64, q)


def test_slots_never_wait():
    slots = Slots(2)
    assert slots.try_acquire() and slots.try_acquire() and not slots.try_acquire()
    slots.release()
    assert slots.busy == 1 and slots.try_acquire()


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"max_n": -1}, {"max_steps": 1}, {"timeout_s": 0.0}])
def test_limits_refuse_nonsense(bad):
    with pytest.raises(ValueError):
        Limits(**bad)


# ---------------------------------------------------------------------------------------------
# Attributes (conditional models) and directions (edits), in process


ATTRIBUTES = TEST_ATTRIBUTES  # Smiling, Eyeglasses, Black_Hair, Blond_Hair
DIRECTIONS = ("Smiling", "Eyeglasses")


@pytest.fixture(scope="module")
def edited(model, tmp_path_factory) -> TestClient:
    """The unconditional model with directions."""
    path = with_directions(model, tmp_path_factory.mktemp("edited") / "edited.onnx")
    with TestClient(create_app(FaceGenerator(path, device="cpu"))) as client:
        yield client


@pytest.fixture(scope="module")
def conditional_model(tmp_path_factory) -> Path:
    from facegan.export import export_onnx

    folder = tmp_path_factory.mktemp("conditional")
    ckpt = write_checkpoint(folder / "ckpt.pt", attributes=True)
    return with_directions(export_onnx(ckpt, folder / "plain.onnx").path, folder / "model.onnx")


@pytest.fixture(scope="module")
def conditional(conditional_model) -> TestClient:
    with TestClient(create_app(FaceGenerator(conditional_model, device="cpu"))) as client:
        yield client


@pytest.fixture(scope="module")
def cgen(conditional_model) -> FaceGenerator:
    return FaceGenerator(conditional_model, device="cpu")


@pytest.fixture(scope="module")
def plain(gen) -> TestClient:
    """The unconditional model without directions."""
    with TestClient(create_app(gen)) as client:
        yield client


def test_attributes_give_the_librarys_faces(conditional, cgen):
    asked = {"Smiling": 1.0, "Eyeglasses": 0.0}
    r = conditional.get("/v1/faces", params={"seed": 3, "n": 4, "nrow": 2, "attr": "Smiling=1,Eyeglasses=0"})
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(decode(r), grid(cgen.generate(4, 3, attributes=asked), 2))
    # Another spelling of the same request: the same bytes, the same tag.
    for params in ([("seed", 3), ("n", 4), ("nrow", 2), ("attr", "Eyeglasses=0.0"), ("attr", "Smiling=1.0")],
                   [("seed", 3), ("n", 4), ("nrow", 2), ("attr", " Eyeglasses=0 , Smiling=+1 ")]):
        again = conditional.get("/v1/faces", params=params)
        assert again.headers["etag"] == r.headers["etag"] and again.content == r.content
    other = conditional.get("/v1/faces", params={"seed": 3, "n": 4, "nrow": 2, "attr": "Smiling=0,Eyeglasses=0"})
    assert other.headers["etag"] != r.headers["etag"] and not np.array_equal(decode(other), decode(r))
    # Unset attributes are drawn from the prior: no attr= is generate() without requests.
    np.testing.assert_array_equal(decode(conditional.get("/v1/faces?seed=3")), cgen.generate(1, 3)[0])
    assert conditional.get("/v1/faces?seed=3").headers["etag"] != conditional.get("/v1/faces?seed=3&attr=Black_Hair=1").headers["etag"]


def test_edits_move_along_the_directions(conditional, cgen, edited):
    r = conditional.get("/v1/faces", params={"seed": 5, "n": 2, "edit": "Smiling=2", "attr": "Black_Hair=1", "truncation": 0.8})
    assert r.status_code == 200, r.text
    expected = cgen.edit(5, {"Smiling": 2.0}, n=2, truncation=0.8, attributes={"Black_Hair": 1.0})
    np.testing.assert_array_equal(decode(r), grid(expected, 2))
    assert not np.array_equal(decode(r), grid(cgen.generate(2, 5, truncation=0.8, attributes={"Black_Hair": 1.0}), 2))
    # An edit of 0 moves nothing: the faces and the tag of no edit.
    still = conditional.get("/v1/faces", params={"seed": 5, "edit": "Smiling=0"})
    assert still.headers["etag"] == conditional.get("/v1/faces?seed=5").headers["etag"]
    # An unconditional model may have directions too.
    gen = edited.app.state.service.generator
    r = edited.get("/v1/faces", params=[("seed", 9), ("edit", "Smiling=-1.5"), ("edit", "Eyeglasses=1")])
    np.testing.assert_array_equal(decode(r), gen.edit(9, {"Smiling": -1.5, "Eyeglasses": 1.0})[0])
    assert r.headers["etag"] == edited.get("/v1/faces?seed=9&edit=Eyeglasses=1,Smiling=-1.50").headers["etag"]


def test_a_morph_with_attributes(conditional, cgen):
    asked = {"Eyeglasses": 1.0}
    frames = cgen.interpolate(3, 4, steps=5, attributes=asked)
    gif = conditional.get("/v1/morph", params={"seed_a": 3, "seed_b": 4, "steps": 5, "attr": "Eyeglasses=1"})
    assert gif.status_code == 200 and Image.open(io.BytesIO(gif.content)).n_frames == 5
    for attr, expected in (("Eyeglasses=1", frames), (None, cgen.interpolate(3, 4, steps=5))):
        for k in (0, 2, 4):
            params = {"seed_a": 3, "seed_b": 4, "steps": 5, "frame": k, "format": "png", **({"attr": attr} if attr else {})}
            r = conditional.get("/v1/morph", params=params)
            assert r.status_code == 200, r.text
            np.testing.assert_array_equal(decode(r), expected[k])


def test_model_lists_attributes_and_directions(conditional, conditional_model, edited, plain):
    info = conditional.get("/v1/model").json()
    space = json.loads(info["metadata"]["facegan.attributes"])
    assert info["attributes"] == {"names": list(ATTRIBUTES), "frequencies": space["frequencies"]}
    assert info["directions"] == {"names": list(DIRECTIONS)}
    assert info["metadata"]["facegan.format_version"] == "2"
    assert edited.get("/v1/model").json()["attributes"] == {"names": [], "frequencies": []}
    assert edited.get("/v1/model").json()["directions"] == {"names": list(DIRECTIONS)}
    assert plain.get("/v1/model").json()["directions"] == {"names": []}


@pytest.mark.parametrize("client, query, words", [
    ("conditional", "/v1/faces?attr=Smiling=1,Bald=1", "unknown attribute 'Bald'; this model's attributes are Smiling, Eyeglasses, Black_Hair, Blond_Hair"),
    ("conditional", "/v1/faces?attr=Smiling=2", "between 0 and 1"),
    ("conditional", "/v1/faces?attr=Smiling=-0.5", "between 0 and 1"),
    ("conditional", "/v1/faces?attr=Smiling", "NAME=VALUE"),
    ("conditional", "/v1/faces?attr=Smiling=nan", "finite"),
    ("conditional", "/v1/faces?attr=Smiling=1&attr=Smiling=0", "twice"),
    ("conditional", "/v1/faces?edit=Bald=1", "unknown direction 'Bald'"),
    ("conditional", "/v1/faces?edit=Smiling=inf", "finite"),
    ("conditional", "/v1/morph?edit=Smiling=1", "unknown parameter 'edit'"),
    ("conditional", "/v1/morph?attr=Black_Hair=3", "between 0 and 1"),
    ("conditional", "/v1/faces?seed=1&seed=2&attr=Black_Hair=1", "more than once"),
    ("conditional", "/v1/faces?n=65&attr=Black_Hair=1", "less than or equal to 64"),
    ("edited", "/v1/faces?attr=Smiling=1", "unconditional model (it has no attributes); its directions take edit="),
    ("plain", "/v1/faces?attr=Smiling=1", "unconditional model"),
    ("plain", "/v1/morph?attr=Smiling=1&frame=1&format=png", "unconditional model"),
    ("plain", "/v1/faces?edit=Smiling=1", "has no directions; run facegan-directions"),
])
def test_bad_attributes_and_edits_get_one_line_of_json(request, client, query, words):
    assert words in assert_json_error(request.getfixturevalue(client).get(query), 422)


def test_attributes_respect_the_response_size_cap(cgen):
    size = cgen.image_size
    with TestClient(create_app(cgen, Limits(max_response_bytes=estimate_bytes(size, size, 3, frames=4)))) as client:
        assert client.get("/v1/faces?n=1&attr=Black_Hair=1&edit=Smiling=1").status_code == 200
        assert "MiB" in assert_json_error(client.get("/v1/faces?n=16&attr=Black_Hair=1&edit=Smiling=1"), 422)


def test_the_real_server_with_a_conditional_model(conditional_model, cgen, tmp_path):
    """uvicorn's own query parsing (repeated and percent-encoded parameters) and the ready line's counts."""
    proc, url, line = start_server(conditional_model, stderr_path=tmp_path / "stderr.txt")
    try:
        assert "4 attribute(s), 2 direction(s)" in line
        asked = {"Smiling": 1.0, "Blond_Hair": 0.25}
        r = httpx.get(url + "v1/faces?seed=11&n=2&attr=Smiling%3D1&attr=Blond_Hair=0.25&edit=Eyeglasses%3D-1%2CSmiling%3D0.5", timeout=60)
        assert r.status_code == 200, r.text
        expected = cgen.edit(11, {"Eyeglasses": -1.0, "Smiling": 0.5}, n=2, attributes=asked)
        np.testing.assert_array_equal(decode(r), grid(expected, 8))
        assert "unknown attribute" in assert_json_error(httpx.get(url + "v1/faces?attr=Bald=1", timeout=60), 422)
    finally:
        stop_server(proc, tmp_path / "stderr.txt")
