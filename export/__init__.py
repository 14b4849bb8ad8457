"""facegan.export: turn a training checkpoint into an ONNX or TorchScript generator, checked for parity.

    from facegan.export import export_onnx, export_torchscript, verify_onnx
    result = export_onnx(Path("runs/celeba"), Path("runs/celeba-g.onnx"))
    result.path, result.metadata, result.parity   # artifact, facegan.* metadata, parity report

Every artifact carries the runtime's metadata contract (`facegan.runtime.metadata`) and has been
compared with the eager generator at several batch sizes and seeds before it reaches its path.
Names are imported lazily so `facegan-export --help` starts without loading torch.
"""

from __future__ import annotations

__all__ = [
    "ExportError",
    "ExportResult",
    "ParityMismatchError",
    "default_artifact_path",
    "export_onnx",
    "export_torchscript",
    "load_generator",
    "verify_onnx",
    "verify_torchscript",
]

_WHERE = {
    "ExportError": "core",
    "ExportResult": "core",
    "default_artifact_path": "core",
    "load_generator": "core",
    "ParityMismatchError": "parity",
    "verify_onnx": "parity",
    "verify_torchscript": "parity",
    "export_onnx": "onnx",
    "export_torchscript": "torchscript",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
