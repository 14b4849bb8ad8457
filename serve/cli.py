"""facegan-serve: faces over HTTP from an exported model (FastAPI + uvicorn, no PyTorch).

    facegan-serve celeba-g.onnx                          # http://127.0.0.1:8000/ : the demo page
    facegan-serve celeba-g.onnx --port 0 --concurrency 2 --cors-origin https://example.org
    curl 'http://127.0.0.1:8000/v1/faces?seed=7&n=16' -o faces.png

Loads the model and binds the port before serving: a missing or invalid model, or a port in use,
exits 1 with one line; a bad flag exits 2. Prints one line with the URL once it accepts requests;
Ctrl-C (or SIGTERM) lets the requests in flight finish, then exits 0. Also `python -m facegan.serve`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import choice_enum, exit_codes, make_app, require_extra, version_callback
from facegan.runtime.session import DEVICES

from .limits import Limits

TOOL = "facegan-serve"
DEFAULTS = Limits()

app = make_app("Serve faces from an exported facegan ONNX model over HTTP, with the demo page at /.")
Device = choice_enum("Device", DEVICES)


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="Exported facegan ONNX model (.onnx).", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0 = any free port).")] = 8000,
    concurrency: Annotated[int, typer.Option(min=1, help="Generations at once; more requests get 503 with Retry-After.")] = DEFAULTS.concurrency,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds a request may wait for its images before a 504.")] = DEFAULTS.timeout_s,
    cors_origin: Annotated[Optional[list[str]], typer.Option(metavar="ORIGIN", help="Origin allowed to call the API from a browser (repeatable; * for any). Default: none.")] = None,
    threads: Annotated[Optional[int], typer.Option(min=0, help="onnxruntime intra-op threads per generation (0 = one per core, the default).")] = None,
    max_n: Annotated[int, typer.Option(min=1, help="Most faces one /v1/faces request may ask for.")] = DEFAULTS.max_n,
    max_steps: Annotated[int, typer.Option(min=2, help="Most frames one /v1/morph request may ask for.")] = DEFAULTS.max_steps,
    max_response_mb: Annotated[float, typer.Option(min=0.001, help="Largest response, in MiB (estimated before generating).")] = DEFAULTS.max_response_bytes / 2**20,
    device: Annotated[Device, typer.Option(help="Where to run: auto (CUDA when available), cpu or cuda.")] = Device.auto,
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Serve MODEL: /v1/faces, /v1/morph, /v1/model, /healthz and the demo page at /."""
    from facegan.runtime.generator import FaceGenerator

    from . import server
    from .app import create_app

    with exit_codes(TOOL):
        limits = Limits(max_n=max_n, max_steps=max_steps, max_response_bytes=max(1, int(max_response_mb * 2**20)),
                        concurrency=concurrency, timeout_s=timeout)
        gen = FaceGenerator(model, device=device.value, threads=threads)
        web_app = create_app(gen, limits, cors_origins=tuple(cors_origin or ()))
        sock = server.listen(host, port)

    def ready(url: str) -> None:
        size = f"{gen.image_size}x{gen.image_size}"
        extras = "".join(f", {len(names)} {what}" for names, what in ((gen.attributes, "attribute(s)"), (gen.directions, "direction(s)")) if names)
        typer.echo(f"{TOOL}: serving {model.name} ({size}{extras}, {gen.providers[0]}, {concurrency} slot(s)) at {url} (Ctrl-C to stop)")

    server.run(web_app, sock, on_ready=ready, timeout_s=timeout)
    typer.echo(f"{TOOL}: stopped", err=True)


def main() -> None:
    require_extra(["fastapi", "uvicorn"], "serve", TOOL)
    app(prog_name=TOOL)


__all__ = ["app", "main"]
