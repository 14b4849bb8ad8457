"""Every error facegan-serve answers is one line of JSON, `{"error": "..."}`, never HTML or a traceback.

    install_error_handlers(app)

FastAPI's own validation errors (422) and Starlette's 404/405 are rewritten to that shape too, so
a client needs one way to read a failure. Status codes: 422 for a bad or out-of-range parameter
(an unknown one, a response over the size cap), 404/405 for a wrong route or method, 503 with
Retry-After when every generation slot is busy, 504 when a generation outlasts the timeout, 500
for anything unexpected (logged with its traceback on the server, not sent).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from facegan.runtime.errors import FaceganError, UsageError, one_line

from .caching import NO_STORE
from .limits import Busy, TimedOut

log = logging.getLogger("facegan.serve")
MAX_SHOWN_INPUT = 40  # characters of a refused value quoted back in the message


def error_response(status: int, message: object, headers: dict[str, str] | None = None) -> JSONResponse:
    """`{"error": message}` in one line, never cached."""
    text = one_line(message) if isinstance(message, BaseException) else " ".join(str(message).split())
    return JSONResponse({"error": text}, status_code=status, headers={"Cache-Control": NO_STORE, **(headers or {})})


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one sentence: `n: Input should be ... (got '100')`."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "header", "body")]
        name = ".".join(loc) or "request"
        text = f"{name}: {error.get('msg', 'invalid')}"
        if isinstance(error.get("input"), str):
            shown = error["input"] if len(error["input"]) <= MAX_SHOWN_INPUT else error["input"][:MAX_SHOWN_INPUT] + "..."
            text += f" (got {shown!r})"
        parts.append(text)
    return "; ".join(parts) or "invalid request"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, validation_message(exc))


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path[:100]!r}; see /v1/model and /healthz"
    return error_response(exc.status_code, detail, dict(exc.headers or {}))


async def _usage(request: Request, exc: UsageError) -> JSONResponse:
    return error_response(422, exc)


async def _busy(request: Request, exc: Busy) -> JSONResponse:
    return error_response(503, exc, {"Retry-After": str(exc.retry_after_s)})


async def _timed_out(request: Request, exc: TimedOut) -> JSONResponse:
    return error_response(504, exc)


async def _facegan(request: Request, exc: FaceganError) -> JSONResponse:
    log.error("%s %s: %s", request.method, request.url.path, one_line(exc))
    return error_response(500, exc)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, f"internal error ({type(exc).__name__}); see the server's log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through `error_response` (handlers are chosen by the exception's class)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(UsageError, _usage)  # TooLarge and unknown parameters included
    app.add_exception_handler(Busy, _busy)
    app.add_exception_handler(TimedOut, _timed_out)
    app.add_exception_handler(FaceganError, _facegan)
    app.add_exception_handler(Exception, _internal)


__all__ = ["error_response", "install_error_handlers", "validation_message"]
