"""facegan.serve: faces over HTTP from an exported model, on FastAPI + uvicorn (the `serve` extra).

    facegan-serve celeba-g.onnx --port 8000        # or: python -m facegan.serve celeba-g.onnx

    from facegan.runtime import FaceGenerator
    from facegan.serve import Limits, create_app
    app = create_app(FaceGenerator("celeba-g.onnx"), Limits(concurrency=2))   # any ASGI server

Builds on facegan.runtime (and facegan.web's page files) only: never torch, train or export.
"""

__all__ = ["Limits", "create_app"]


def __getattr__(name: str):
    # Imported on first use, so `python -m facegan.serve` checks the extra before importing fastapi.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Limits":
        from .limits import Limits

        return Limits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
