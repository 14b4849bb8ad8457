"""`python -m facegan.web DIR`: serve a web export (`facegan-export RUN --format web`) over HTTP.

    python -m facegan.web runs/celeba-web                 # http://127.0.0.1:8000/, one wasm thread
    python -m facegan.web runs/celeba-web --isolated      # COOP/COEP: the page uses several wasm threads
    python -m facegan.web runs/celeba-web --port 0 --host 0.0.0.0

Instead of `python -m http.server`: fixed MIME types for .mjs/.wasm, no-cache, and with
`--isolated` the cross-origin isolation headers (web/static_server.py says what and why). Prints one
line with the URL once it listens; Ctrl-C (or SIGTERM) stops it, exit 0. A DIR that does not exist
or has no index.html, or a bad flag, exits 2; a port in use exits 1; each with one line on stderr.
argparse, not typer: facegan.web imports nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import signal
import sys
from pathlib import Path
from typing import NoReturn

from .static_server import DEFAULT_HOST, DEFAULT_PORT, make_server

TOOL = "facegan.web"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as every facegan tool, not usage + error
        self.exit(2, f"{TOOL}: error: {message} (see python -m {TOOL} --help)\n")


def version() -> str:
    try:
        return f"facegan {importlib.metadata.version('facegan')}"
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "facegan (not installed)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog=f"python -m {TOOL}", description="Serve a web export (facegan-export RUN --format web) over HTTP.",
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path, metavar="DIR", help="The folder to serve: a web export, with its index.html.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port to listen on (0 = any free port; default {DEFAULT_PORT}).")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"Address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for every interface).")
    p.add_argument("--isolated", action="store_true",
                   help="Send COOP/COEP/CORP headers, so the page is cross-origin isolated and runs several wasm threads.")
    p.add_argument("--version", action="version", version=version(), help="Print the version and exit.")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port {args.port} is not a port (0 to 65535)")
    if not args.dir.is_dir():
        p.exit(2, f"{TOOL}: error: {args.dir} is not a folder; give a web export (facegan-export RUN --format web)\n")
    if not (args.dir / "index.html").is_file():
        p.exit(2, f"{TOOL}: error: {args.dir} has no index.html; give a web export (facegan-export RUN --format web)\n")
    return args


def _interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = make_server(args.dir, host=args.host, port=args.port, isolated=args.isolated, quiet=False)
    except OSError as e:  # a port in use, an address not on this machine
        print(f"{TOOL}: error: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    mode = "cross-origin isolated: several wasm threads" if args.isolated else "not isolated: one wasm thread; --isolated for more"
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell's background job starts with it ignored
        signal.signal(signum, _interrupt)
    try:
        print(f"{TOOL}: serving {args.dir} at {server.url} ({mode}; Ctrl-C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"{TOOL}: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
