"""facegan.export: turn a training checkpoint into an ONNX or TorchScript generator, checked for parity.

    from facegan.export import export_onnx, export_torchscript, export_web, verify_onnx
    result = export_onnx(Path("runs/celeba"), Path("runs/celeba-g.onnx"))
    result.path, result.metadata, result.parity   # artifact, facegan.* metadata, parity report
    site = export_web(Path("runs/celeba"))       # runs/celeba-web/: demo page, JS runtime, model

Every artifact carries the runtime's metadata contract (`facegan.runtime.metadata`) and has been
compared with the eager generator at several batch sizes and seeds before it reaches its path.

Layout, in import order: options (choices, checks; no torch), errors, generator (checkpoint ->
eval generator -> export module), metadata (the contract as written), parity (cases, tolerances,
reports; runners come from the formats), publish (names, destinations, staging, all-or-nothing
writes), onnx and torchscript (convert, serialise, read metadata, run), formats (several at once),
web (the ONNX model plus the page, as one folder), cli. Names are imported lazily so
`facegan-export --help` starts without loading torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "ParityError",
    "ParityMismatchError",
    "WebExportResult",
    "default_artifact_path",
    "export_formats",
    "export_onnx",
    "export_torchscript",
    "export_web",
    "load_generator",
    "verify_onnx",
    "verify_torchscript",
]

_WHERE = {
    "ExportError": "errors",
    "ParityError": "errors",
    "ParityMismatchError": "errors",
    "ExportOptions": "options",
    "ExportResult": "publish",
    "default_artifact_path": "publish",
    "load_generator": "generator",
    "export_formats": "formats",
    "export_onnx": "onnx",
    "verify_onnx": "onnx",
    "export_torchscript": "torchscript",
    "verify_torchscript": "torchscript",
    "export_web": "web",
    "WebExportResult": "web",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
