"""facegan.web's static server (web/static_server.py) and its CLI, `python -m facegan.web DIR`.

Against a real server on 127.0.0.1 at a free port: a background thread for the library, a child
process for the CLI, whose ready line on stdout is the event the test waits for (never a sleep).
No browser and no model: a folder of small stand-in files with a web export's names.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_for_output

from facegan.web import static_server

TIMEOUT_S = 60.0
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
             "Cross-Origin-Resource-Policy": "same-origin"}
TYPES = {
    "index.html": "text/html; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "ort/ort.wasm.min.mjs": "text/javascript; charset=utf-8",
    "ort/ort-wasm-simd-threaded.wasm": "application/wasm",
    "config.json": "application/json",
    "model.onnx": "application/octet-stream",
    "face.png": "image/png",
}


@pytest.fixture
def site(tmp_path) -> Path:
    """A folder shaped like a web export, a sub-folder without index.html, and a secret beside it."""
    folder = tmp_path / "site"
    for name in TYPES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"content of {name}".encode())
    (folder / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("do not serve")
    return folder


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET `path` exactly as written (http.client normalises nothing, so `..` reaches the server).

    The headers come back as the message object, whose keys ignore case as HTTP's do."""
    host, port = re.match(r"http://([^/]+):(\d+)/", url).groups()
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_each_file_of_a_web_export_has_its_mime_type(site):
    server, url = static_server.start(site)
    with server:
        assert server.server_address[0] == "127.0.0.1" and url == f"http://127.0.0.1:{server.server_address[1]}/"
        for name, mime in TYPES.items():
            status, headers, body = get(url, "/" + name)
            assert (status, headers["Content-Type"], body) == (200, mime, f"content of {name}".encode()), name
        status, headers, body = get(url, "/")
        assert (status, headers["Content-Type"], body) == (200, TYPES["index.html"], b"content of index.html")


@pytest.mark.parametrize("isolated", [False, True])
def test_headers_with_and_without_isolation(site, isolated):
    server, url = static_server.start(site, isolated=isolated)
    with server:
        for path in ("/", "/ort/ort-wasm-simd-threaded.wasm", "/missing.js"):  # errors carry them too
            status, headers, _ = get(url, path)
            assert status == (404 if path == "/missing.js" else 200)
            assert headers["Cache-Control"] == "no-cache" and headers["X-Content-Type-Options"] == "nosniff"
            for key, value in ISOLATION.items():
                assert headers.get(key) == (value if isolated else None), (path, key)
        # no-cache means "revalidate": an unchanged file still answers 304.
        _, headers, _ = get(url, "/model.onnx")
        status, _, body = get(url, "/model.onnx", {"If-Modified-Since": headers["Last-Modified"]})
        assert (status, body) == (304, b"")


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/ort/../../secret.txt", "/..%2fsecret.txt",
                                  "/ort/..%5C..%5Csecret.txt", "/../site/index.html"])
def test_a_path_that_climbs_is_refused(site, path):
    server, url = static_server.start(site)
    with server:
        status, _, body = get(url, path)
        assert status == 404 and b"do not serve" not in body and b"content of" not in body


def test_no_directory_listing_and_a_stopped_server_lets_the_port_go(site):
    server, url = static_server.start(site)
    with server:
        status, _, body = get(url, "/empty/")
        assert status == 404 and b"Directory listing" not in body
        thread = server.thread
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        get(url, "/")


def test_a_folder_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        static_server.make_server(tmp_path / "nowhere", port=0)


# ---------------------------------------------------------------------------------------------
# python -m facegan.web


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facegan.web", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("isolated", [False, True])
def test_the_cli_says_its_url_when_listening_and_stops_on_ctrl_c(site, isolated):
    process = cli(site, "--port", "0", *(["--isolated"] if isolated else []))
    try:
        said = wait_for_output(process.stdout.fileno(), "Ctrl-C to stop)\n", TIMEOUT_S)
        (line,) = said.splitlines()
        url = re.fullmatch(rf"facegan\.web: serving {re.escape(str(site))} at (http://127\.0\.0\.1:\d+/) \((.+); Ctrl-C to stop\)",
                           line)
        assert url, line
        assert ("several wasm threads" if isolated else "one wasm thread") in url.group(2)
        status, headers, body = get(url.group(1), "/ort/ort.wasm.min.mjs")
        assert (status, headers["Content-Type"]) == (200, TYPES["ort/ort.wasm.min.mjs"])
        assert headers.get("Cross-Origin-Embedder-Policy") == ("require-corp" if isolated else None)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "GET /ort/ort.wasm.min.mjs" in err and err.splitlines()[-1] == "facegan.web: stopped"  # no traceback


def test_the_cli_stops_on_sigterm_too(site):
    process = cli(site, "--port", "0")
    try:
        wait_for_output(process.stdout.fileno(), "Ctrl-C to stop)\n", TIMEOUT_S)
        process.terminate()
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and err.splitlines() == ["facegan.web: stopped"], err


def one_error_line(*args: str, code: int) -> str:
    done = subprocess.run([sys.executable, "-m", "facegan.web", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == code, done
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("facegan.web: error: ")
    return done.stderr


def test_the_cli_refuses_a_dir_that_is_no_web_export(site, tmp_path):
    assert "not a folder" in one_error_line(tmp_path / "nowhere", code=2)
    assert "has no index.html" in one_error_line(site / "empty", code=2)
    assert "--port" in one_error_line(site, "--port", "70000", code=2)
    assert "unrecognized arguments" in one_error_line(site, "--threads", "4", code=2)


def test_the_cli_says_when_the_port_is_taken(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        line = one_error_line(site, "--port", taken.getsockname()[1], code=1)
    assert "cannot listen on 127.0.0.1:" in line


def test_the_cli_help_and_version():
    done = subprocess.run([sys.executable, "-m", "facegan.web", "--help"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0 and "--isolated" in done.stdout and "COOP/COEP" in done.stdout
    done = subprocess.run([sys.executable, "-m", "facegan.web", "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0 and done.stdout.startswith("facegan ")

