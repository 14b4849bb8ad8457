"""`facegan-export`: export a checkpoint's generator to ONNX and/or TorchScript, checked for parity.

Parses flags, calls `export_onnx` / `export_torchscript`, prints a parity table per artifact (or,
with --json, only JSON on stdout). Exit codes: 0 exported and verified, 1 failure (bad checkpoint,
existing output, unwritable folder, parity over tolerance: nothing left at the output path),
2 usage error. Also `python -m facegan.export`.
"""

from __future__ import annotations

import functools
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import fail, make_app, require_extra, version_callback

TOOL = "facegan-export"

app = make_app("Export a trained facegan generator to ONNX and/or TorchScript, verified against the eager model.")


class Format(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"
    all = "all"


class DType(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"


class Output(str, Enum):
    float = "float"
    uint8 = "uint8"


class Weights(str, Enum):
    ema = "ema"
    raw = "raw"


def _int_list(name: str, minimum: int):
    def parse(value: str) -> list[int]:
        try:
            items = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from None
        if not items or min(items) < minimum:
            raise typer.BadParameter(f"expected integers >= {minimum}, got {value!r}")
        return items

    parse.__name__ = f"parse_{name}"
    return parse


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint file, or a run directory (meaning its checkpoints/last.pt).", metavar="CHECKPOINT_OR_RUN_DIR", show_default=False)],
    format: Annotated[Format, typer.Option("--format", "-f", help="Artifact to write: onnx, torchscript, or all (both).")] = Format.onnx,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the artifacts (default: next to the run directory, or beside the checkpoint file).", file_okay=False)] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset to pin (18 or newer).", min=18)] = 18,
    dtype: Annotated[DType, typer.Option(help="Compute precision: fp16 is meant for CUDA; input and output stay float32.")] = DType.fp32,
    output: Annotated[Output, typer.Option(help="Output kind: float (NCHW, model value range) or uint8 (NHWC RGB, ready to display).")] = Output.float,
    atol: Annotated[Optional[float], typer.Option(help="Parity tolerance on the max absolute difference (levels for uint8); default per precision: 1e-4 fp32, 2e-2 fp16, 1 level uint8.", min=0.0)] = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes to check parity at (export traces at batch 2).")] = "1,3,64",
    seeds: Annotated[str, typer.Option(help="Comma-separated latent seeds to check parity with.")] = "0,1,2",
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the parity check (the artifact then records no parity).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object (per format: path, times, parity report) and nothing else on stdout.")] = False,
    weights: Annotated[Optional[Weights], typer.Option(help="Generator weights to export: ema or raw (default: ema when the checkpoint has them).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing artifacts.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", help="Show the facegan version and exit.", callback=version_callback, is_eager=True)] = None,
) -> None:
    """Export the generator of CHECKPOINT_OR_RUN_DIR (eval mode; the discriminator is not exported)."""
    batch_list = _int_list("batch_sizes", 1)(batch_sizes) if not no_verify else []
    seed_list = _int_list("seeds", 0)(seeds) if not no_verify else []

    from facegan.runtime.errors import FaceganError

    from . import core, parity
    from .onnx import export_onnx
    from .pipeline import export_all
    from .torchscript import export_torchscript

    formats = list(core.FORMATS) if format is Format.all else [format.value]
    if "onnx" in formats:
        import onnx

        if opset > onnx.defs.onnx_opset_version():
            fail(TOOL, f"--opset {opset} is newer than the installed onnx {onnx.__version__} knows "
                       f"(up to {onnx.defs.onnx_opset_version()})", code=2)
    common = dict(
        dtype=dtype.value, output=output.value, weights=weights.value if weights else "auto",
        verify=not no_verify, atol=atol, force=force,
    )
    if not no_verify:
        common.update(batch_sizes=batch_list, seeds=seed_list)
    results: dict[str, dict] = {}
    try:
        paths = {fmt: core.default_artifact_path(checkpoint, fmt, out) for fmt in formats}
        exporters = {"onnx": functools.partial(export_onnx, opset=opset), "torchscript": export_torchscript}
        # All or nothing: with --format all, a TorchScript failure must not leave a new .onnx behind.
        for fmt, result in export_all(exporters, checkpoint, paths, **common).items():
            results[fmt] = _result_dict(result)
            if not json_output:
                _print_result(result, parity)
    except parity.ParityMismatchError as e:
        if json_output:
            results[e.report["format"]] = {"path": None, "parity": json.loads(parity.report_json(e.report))}
            typer.echo(json.dumps(results, indent=2, sort_keys=True))
        else:
            _console().print(parity.render_table(e.report))
        fail(TOOL, e)
    except FaceganError as e:
        fail(TOOL, e)
    if json_output:
        typer.echo(json.dumps(results, indent=2, sort_keys=True))


def _result_dict(result) -> dict:
    from .parity import report_json

    return {
        "path": str(result.path),
        "size_bytes": result.path.stat().st_size,
        "export_s": round(result.export_s, 3),
        "verify_s": round(result.verify_s, 3),
        "parity": json.loads(report_json(result.parity)) if result.parity is not None else None,
    }


def _print_result(result, parity) -> None:
    console = _console()
    if result.parity is not None:
        console.print(parity.render_table(result.parity))
        verdict = (
            f"parity passed: {result.parity['num_cases']} case(s), max abs diff "
            f"{result.parity['max_abs_diff']:.3g} (atol {result.parity['atol']:g})"
        )
    else:
        verdict = "parity not checked (--no-verify)"
    size_mb = result.path.stat().st_size / 1e6
    console.print(
        f"wrote {result.path} ({result.format}, {size_mb:.1f} MB) in {result.export_s:.1f} s "
        f"(+{result.verify_s:.1f} s parity); {verdict}",
        highlight=False, soft_wrap=True,
    )


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:  # pipes and logs: wide enough that no parity column is cut
        console = Console(highlight=False, width=max(console.width, 120))
    return console


def main() -> None:
    require_extra(["torch", "onnx", "onnxscript", "onnxruntime", "rich"], "export", TOOL)
    app(prog_name=TOOL)


if __name__ == "__main__":
    main()
