"""The demo page at `/`: facegan.web's page files and a `/config.json` pointing it at this server.

    add_page_routes(app, lambda: {"backend": "http", "api": "/v1", "metadata": {...}})

Each file of `facegan.web.PAGE_ASSETS` gets a route of its own, fixed when the app is built: no
part of a request's path is ever looked up on disk. The files are read when asked for, so a page
installed after the server started is served, and a missing one is a clean 404 in JSON. Query
strings are ignored here (a page URL may carry its own state, `/?seed=7`). With
backend "http" the page asks this server for its faces, so it needs no onnxruntime-web and no CDN.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import FastAPI, Response

from facegan.web import PAGE_ASSETS, asset

from .caching import NO_CACHE
from .handlers import error_response

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".json": "application/json"}


def json_response(value: object, cache_control: str, status: int = 200) -> Response:
    body = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": cache_control})


def asset_response(name: str) -> Response:
    """One of the page's files, or a JSON 404 when this install has no such file."""
    file = asset(name)
    if not file.is_file():
        return error_response(404, f"this facegan install has no demo page file {name!r}")
    suffix = name[name.rfind("."):]
    return Response(file.read_bytes(), media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
                    headers={"Cache-Control": NO_CACHE})


def add_page_routes(app: FastAPI, config: Callable[[], dict]) -> None:
    """GET / (index.html), /config.json from `config()`, and /NAME for each page file."""

    def route(path: str, name: str) -> None:
        async def serve_asset() -> Response:
            return asset_response(name)

        app.add_api_route(path, serve_asset, methods=["GET"], include_in_schema=False)

    route("/", "index.html")
    for name in PAGE_ASSETS:
        route(f"/{name}", name)

    async def config_json() -> Response:
        return json_response(config(), NO_CACHE)

    app.add_api_route("/config.json", config_json, methods=["GET"], include_in_schema=False)


__all__ = ["add_page_routes", "asset_response", "json_response"]
