"""`facegan-export --format web`: one static folder that draws faces in the browser.

    result = export_web(Path("runs/celeba"))                  # runs/celeba-web/, onnxruntime-web from the CDN
    result = export_web(Path("runs/celeba"), Path("site"), ort_web=Path("node_modules/onnxruntime-web/dist"))
    result.path, result.files, result.ort, result.model.parity

The folder holds the demo page (index.html, page.js), the JavaScript runtime (facegan.js), the
ONNX model (model.onnx: the same checked artifact `--format onnx` writes, metadata and parity
summary inside) and config.json, which tells the page where the model and onnxruntime-web are.
By default the page loads onnxruntime-web from jsDelivr at the version facegan's JavaScript is
tested with (`facegan.web.ort_web_version`, pinned once in web/package.json). A pip user has no
node_modules, so the CDN is the default; `ort_web` names a folder holding onnxruntime-web's dist
files (from `npm install onnxruntime-web`, or its npm tarball) and the three the page loads
(ORT_FILES, about 14 MB) are copied into ort/: then nothing comes from a CDN.

All or nothing: the model is converted and checked in memory first, then the folder is built
under a temporary name beside its destination and renamed into place only when complete. An
existing folder is replaced only with `force`, and only if it is empty or an earlier web export
(never a folder of someone's other files). A parity failure leaves `<folder>.parity-failed.json`
beside the destination, as `--format onnx` leaves its report; nothing else is left behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from facegan.runtime.errors import UsageError
from facegan.runtime.files import atomic_folder
from facegan.web import PAGE_ASSETS, asset, ort_web_version
from facegan.web.static_server import DEFAULT_HOST, DEFAULT_PORT

from .errors import ExportError
from .generator import load_generator
from .onnx import check_opset, stage_onnx
from .options import DEFAULT_BATCH_SIZES, DEFAULT_OPSET, DEFAULT_SEEDS, ExportOptions
from .publish import ExportResult, default_artifact_path, run_name

MODEL_NAME = "model.onnx"
CONFIG_NAME = "config.json"
ORT_FOLDER = "ort"
# What the page loads of onnxruntime-web's dist/ (the plain wasm build; dist/ as a whole is 136 MB).
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
CDN_URL = "https://cdn.jsdelivr.net/npm/onnxruntime-web@{version}/dist/"


@dataclass(frozen=True)
class WebExportResult:
    """What a web export wrote."""

    path: Path  # the folder, at its final path
    files: tuple[str, ...]  # every file in it, relative, sorted ("ort/..." with a vendored onnxruntime-web)
    ort: str  # where the page loads onnxruntime-web from: the CDN URL, or "./ort/"
    model: ExportResult  # the model inside (path: <folder>/model.onnx), its metadata and parity report
    size_bytes: int  # all files together


def cdn_url() -> str:
    """onnxruntime-web's dist/ on jsDelivr at the pinned version (an exact x.y.z, never a range)."""
    version = ort_web_version()
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ExportError(f"facegan.web pins onnxruntime-web as {version!r}, not an exact version; cannot name a CDN URL")
    return CDN_URL.format(version=version)


def default_web_path(checkpoint: Path) -> Path:
    """`<run>-web`, where `--format onnx` would put `<run>-g.onnx` (next to the run directory)."""
    return default_artifact_path(checkpoint, "onnx").with_name(run_name(checkpoint) + "-web")


def check_ort_web(folder: Path) -> Path:
    """`folder` if it holds every file of ORT_FILES, else UsageError saying which are missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--ort-web {folder} is not a folder; give onnxruntime-web's dist folder (e.g. node_modules/onnxruntime-web/dist)")
    missing = [name for name in ORT_FILES if not (folder / name).is_file()]
    if missing:
        raise UsageError(
            f"--ort-web {folder} lacks {', '.join(missing)}; give onnxruntime-web's dist folder "
            f"(e.g. node_modules/onnxruntime-web/dist after npm install onnxruntime-web@{ort_web_version()})"
        )
    return folder


def is_web_export(folder: Path) -> bool:
    """Whether `folder` looks like what export_web writes (the only non-empty folder force replaces)."""
    return (folder / CONFIG_NAME).is_file() and (folder / "index.html").is_file()


def check_web_destination(path: Path, force: bool) -> None:
    """Refuse a file, a folder we must not replace, or a place we cannot write; create nothing."""
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise ExportError(f"{path} already exists; pass --force to replace it")
        if not is_web_export(path):
            raise ExportError(f"{path} is not a facegan web export (no {CONFIG_NAME} and index.html); not replacing it")
    existing = next(p for p in path.parents if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise ExportError(f"cannot write to {path.parent}: {existing} is not a folder")
    try:  # a real probe: permission bits lie on some file systems and for root
        os.rmdir(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".probe", dir=existing))
    except OSError as e:
        raise ExportError(f"cannot write to {path.parent}: {e.strerror or e}") from e


def web_config(metadata: dict[str, str], ort: str) -> dict:
    """config.json: what the page loads, and the model's facegan.* metadata for anyone reading it."""
    return {"backend": "wasm", "model": MODEL_NAME, "ort": ort, "metadata": metadata}


def open_hint(path: Path) -> str:
    """How to open the folder: over HTTP (a page from file:// cannot fetch the model), preferably
    from facegan.web's server, whose --isolated headers let the page run several wasm threads."""
    import shlex

    folder = shlex.quote(str(path))
    return (
        f"open it over HTTP (a page opened from file:// cannot load the model):\n"
        f"  python -m facegan.web {folder} --isolated\n"
        f"  then http://{DEFAULT_HOST}:{DEFAULT_PORT}/ (--isolated: cross-origin isolated, so the page runs several wasm threads)\n"
        f"  or, with one wasm thread: python -m http.server -d {folder} {DEFAULT_PORT}"
    )


def export_web(
    checkpoint: Path,
    out: Path | None = None,
    *,
    ort_web: Path | None = None,
    opset: int = DEFAULT_OPSET,
    dtype: str = "fp32",
    output: str = "float",
    weights: str = "auto",
    verify: bool = True,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    atol: float | None = None,
    force: bool = False,
) -> WebExportResult:
    """Write the web folder of `checkpoint` at `out` (default `default_web_path`), all or nothing.

    Options as `export_onnx`. Raises UsageError (bad options, an `ort_web` folder without
    ORT_FILES), ExportError (an existing folder without force, one that is not a web export,
    an unwritable place), CheckpointError or ParityMismatchError; none leaves a folder behind.
    """
    options = ExportOptions(dtype, output, verify, batch_sizes, seeds, atol)
    check_opset(opset)
    if ort_web is not None:
        check_ort_web(ort_web)
    ort = f"./{ORT_FOLDER}/" if ort_web is not None else cdn_url()
    pages = {name: asset(name) for name in PAGE_ASSETS}
    if missing := [name for name, file in pages.items() if not file.is_file()]:
        raise ExportError(f"this facegan install lacks its web files {', '.join(missing)} (facegan.web); reinstall facegan")
    path = Path(out) if out is not None else default_web_path(checkpoint)
    path = path.resolve()
    check_web_destination(path, force)  # before the slow part

    # The model, converted and checked in memory. Named after the folder, so a failed check leaves
    # its report as <folder>.parity-failed.json beside it, never inside a half-made folder.
    loaded = load_generator(checkpoint, weights)
    staged = stage_onnx(loaded, path, options, opset=opset)
    config = json.dumps(web_config(staged.result.metadata, ort), indent=2, sort_keys=True) + "\n"

    def build(folder: Path) -> None:
        for name, file in pages.items():
            (folder / name).write_bytes(file.read_bytes())
        (folder / MODEL_NAME).write_bytes(staged.data)
        (folder / CONFIG_NAME).write_text(config, encoding="utf-8")
        if ort_web is not None:
            (folder / ORT_FOLDER).mkdir()
            for name in ORT_FILES:
                shutil.copyfile(Path(ort_web) / name, folder / ORT_FOLDER / name)

    atomic_folder(path, build)
    files = tuple(sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()))
    model = dataclasses.replace(staged.result, path=path / MODEL_NAME)
    size = sum((path / f).stat().st_size for f in files)
    return WebExportResult(path=path, files=files, ort=ort, model=model, size_bytes=size)


__all__ = [
    "CDN_URL", "CONFIG_NAME", "MODEL_NAME", "ORT_FILES", "ORT_FOLDER", "WebExportResult", "cdn_url", "check_ort_web",
    "check_web_destination", "default_web_path", "export_web", "is_web_export", "open_hint",
    "web_config",
]
