"""A static server for a web export: the right MIME types, and the headers multi-threaded wasm needs.

    python -m facegan.web runs/celeba-web --isolated          # the CLI (web/__main__.py)
    server, url = start(Path("runs/celeba-web"), isolated=True)   # tests, benchmarks: a background thread
    with server:                                              # stops it: shutdown, close, join
        ...

`python -m http.server` serves `.mjs` and `.wasm` with whatever MIME types the OS knows (a browser
refuses a module script or streaming wasm compilation under the wrong one) and never sends the
cross-origin isolation headers, so the page can use only one wasm thread. This server, from the
standard library alone (facegan.web imports nothing else):
- serves one folder: fixed MIME types for what a web export holds (TYPES; others as `mimetypes`
  guesses), `Cache-Control: no-cache` (a re-export is seen at once; unchanged files still get 304),
  `X-Content-Type-Options: nosniff`; no directory listings;
- with `isolated`, sends COOP same-origin, COEP require-corp and CORP same-origin on every response,
  so the page is `crossOriginIsolated` and onnxruntime-web may start wasm threads;
- refuses any path with a `..` segment (404), encoded or not, instead of quietly mapping it into the
  folder; symbolic links inside the folder are followed, as by any static host;
- binds 127.0.0.1 by default (never every interface unless asked); port 0 takes a free port.
"""

from __future__ import annotations

import http.server
import mimetypes
import os
import socket
import threading
import urllib.parse
from http import HTTPStatus
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# What a web export holds; text in UTF-8, as export writes it. Fixed here, never read from the OS.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
# Cross-origin isolation (what `isolated` adds): SharedArrayBuffer, hence wasm threads, in the page.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
COMMON_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler with fixed MIME types, the headers above, no listings, no `..`.

    Configured by subclassing (see `make_server`): `directory` is passed per request by the server.
    """

    extra_headers: dict[str, str] = COMMON_HEADERS
    quiet = True  # no access log on stderr (tests, benchmarks); the CLI logs

    def guess_type(self, path: str | os.PathLike) -> str:
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix in TYPES:
            return TYPES[suffix]
        guessed, _ = mimetypes.guess_type(os.fspath(path), strict=False)
        return guessed or "application/octet-stream"

    def send_head(self):
        if has_parent_segment(self.path):
            self.send_error(HTTPStatus.NOT_FOUND, "No such file")
            return None
        return super().send_head()

    def list_directory(self, path):  # a folder without index.html: not found, never a listing
        self.send_error(HTTPStatus.NOT_FOUND, "No such file")
        return None

    def end_headers(self) -> None:
        for key, value in self.extra_headers.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def has_parent_segment(request_path: str) -> bool:
    """Whether the path of a request target (query and fragment aside) climbs with `..`, even encoded."""
    path = urllib.parse.unquote(request_path.split("?", 1)[0].split("#", 1)[0])
    return ".." in path.replace("\\", "/").split("/")


class StaticServer(http.server.ThreadingHTTPServer):
    """One folder over HTTP, a thread per connection. `with server:` stops it (and its thread)."""

    daemon_threads = True
    thread: threading.Thread | None = None  # set by `start`

    @property
    def url(self) -> str:
        """The page's URL, with the port really bound (http://[::1]:8000/ for IPv6)."""
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def stop(self) -> None:
        """Stop serving: end `serve_forever` (when a `start` thread runs it), close the socket, join."""
        if self.thread is not None:
            self.shutdown()
            self.thread.join()
            self.thread = None
        self.server_close()

    def __exit__(self, *exc) -> None:
        self.stop()


def make_server(
    folder: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, isolated: bool = False, quiet: bool = True,
) -> StaticServer:
    """A bound (not yet serving) server for `folder`; `isolated` adds ISOLATION_HEADERS.

    Raises FileNotFoundError for a folder that does not exist and OSError for an address it cannot
    bind (a port in use); checking for index.html is the CLI's business.
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    headers = {**COMMON_HEADERS, **(ISOLATION_HEADERS if isolated else {})}
    handler = type("Handler", (StaticHandler,), {"extra_headers": headers, "quiet": quiet})

    class Server(StaticServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        def finish_request(self, request, client_address) -> None:
            handler(request, client_address, self, directory=str(folder))

    return Server((host, port), handler)


def start(folder: Path, *, host: str = DEFAULT_HOST, port: int = 0, isolated: bool = False) -> tuple[StaticServer, str]:
    """Serve `folder` from a background thread (quietly, at a free port by default): (server, url).

    The server accepts connections once this returns (the socket is listening before the thread
    starts). Stop it with `server.stop()` or `with server:`.
    """
    server = make_server(folder, host=host, port=port, isolated=isolated, quiet=True)
    server.thread = threading.Thread(target=server.serve_forever, name=f"facegan.web {server.url}", daemon=True)
    server.thread.start()
    return server, server.url


__all__ = [
    "COMMON_HEADERS", "DEFAULT_HOST", "DEFAULT_PORT", "ISOLATION_HEADERS", "TYPES", "StaticHandler", "StaticServer",
    "has_parent_segment", "make_server", "start",
]
