"""`facegan-export`: export a checkpoint's generator to ONNX and/or TorchScript, checked for parity.

Parses flags, calls `export_formats` (or `export_web` for `--format web`, a static folder with the
demo page), prints a parity table per artifact (or, with --json, only JSON on stdout). Exit codes: 0 exported and verified, 1 failure (bad checkpoint, existing output,
unwritable folder, parity over tolerance: nothing left at the output path), 2 usage error (the
library's UsageError included). Also `python -m facegan.export`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import choice_enum, exit_codes, make_app, require_extra, version_callback
from facegan.runtime.errors import UsageError

from .options import DEFAULT_OPSET, DTYPES, FORMATS, MIN_OPSET, OUTPUTS, WEB_FORMAT, WEIGHTS

TOOL = "facegan-export"

app = make_app(
    "Export a trained facegan generator to ONNX and/or TorchScript, verified against the eager model, "
    "or as a static web folder that draws faces in the browser."
)

Format = choice_enum("Format", (*FORMATS, "all", WEB_FORMAT))
DType = choice_enum("DType", DTYPES)
Output = choice_enum("Output", OUTPUTS)
Weights = choice_enum("Weights", WEIGHTS)


def _int_list(value: str) -> list[int]:
    """Comma-separated integers; their ranges are the library's to check."""
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as e:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from e


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint file, or a run directory (meaning its checkpoints/last.pt).", metavar="CHECKPOINT_OR_RUN_DIR", show_default=False)],
    format: Annotated[Format, typer.Option("--format", "-f", help="Artifact to write: onnx, torchscript, all (onnx and torchscript), or web (a static folder: demo page, JavaScript runtime, ONNX model; not part of all).")] = Format.onnx,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the artifacts (default: next to the run directory, or beside the checkpoint file). With --format web, the web folder itself (default: <run>-web there).", file_okay=False)] = None,
    ort_web: Annotated[Optional[Path], typer.Option("--ort-web", help="With --format web: vendor onnxruntime-web from this folder of its dist files (e.g. node_modules/onnxruntime-web/dist); the three files the page loads are copied into ort/. Default: the page loads them from jsDelivr at the pinned version.", file_okay=False)] = None,
    opset: Annotated[int, typer.Option(help=f"ONNX opset to pin ({MIN_OPSET} or newer).")] = DEFAULT_OPSET,
    dtype: Annotated[DType, typer.Option(help="Compute precision: fp16 is meant for CUDA; input and output stay float32.")] = DType.fp32,
    output: Annotated[Output, typer.Option(help="Output kind: float (NCHW, model value range) or uint8 (NHWC RGB, ready to display).")] = Output.float,
    atol: Annotated[Optional[float], typer.Option(help="Parity tolerance on the max absolute difference (levels for uint8); default per precision: 1e-4 fp32, 2e-2 fp16, 1 level uint8.")] = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes to check parity at (export traces at batch 2).")] = "1,3,64",
    seeds: Annotated[str, typer.Option(help="Comma-separated latent seeds to check parity with.")] = "0,1,2",
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the parity check (the artifact then records no parity).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object (per format: path, times, parity report) and nothing else on stdout.")] = False,
    weights: Annotated[Weights, typer.Option(help="Generator weights to export: ema, raw, or auto (ema when the checkpoint has them).")] = Weights.auto,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing artifacts (with --format web: replace an earlier web folder).")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", help="Show the facegan version and exit.", callback=version_callback, is_eager=True)] = None,
) -> None:
    """Export the generator of CHECKPOINT_OR_RUN_DIR (eval mode; the discriminator is not exported)."""
    batch_list, seed_list = _int_list(batch_sizes), _int_list(seeds)

    from . import parity
    from .errors import ParityMismatchError
    from .formats import export_formats

    if format.value == WEB_FORMAT:
        _export_web(checkpoint, out, ort_web=ort_web, opset=opset, dtype=dtype.value, output=output.value,
                    weights=weights.value, verify=not no_verify, batch_sizes=batch_list, seeds=seed_list,
                    atol=atol, force=force, json_output=json_output)
        return
    with exit_codes(TOOL):
        if ort_web is not None:
            raise UsageError("--ort-web applies to --format web only")
        try:
            # All or nothing: with --format all, a TorchScript failure must not leave a new .onnx behind.
            results = export_formats(
                checkpoint, FORMATS if format.value == "all" else (format.value,), out, opset=opset,
                dtype=dtype.value, output=output.value, weights=weights.value, verify=not no_verify,
                batch_sizes=batch_list, seeds=seed_list, atol=atol, force=force,
            )
        except ParityMismatchError as e:
            if json_output:
                failed = {e.report["format"]: {"path": None, "parity": json.loads(parity.report_json(e.report))}}
                typer.echo(json.dumps(failed, indent=2, sort_keys=True))
            else:
                _console().print(parity.render_table(e.report))
            raise
    for note in dict.fromkeys(n for r in results.values() for n in r.notes):  # once, not once per format
        typer.echo(note, err=True)
    if json_output:
        typer.echo(json.dumps({fmt: _result_dict(r, parity) for fmt, r in results.items()}, indent=2, sort_keys=True))
    else:
        for result in results.values():
            _print_result(result, parity)


def _export_web(checkpoint: Path, out: Path | None, *, json_output: bool, **options) -> None:
    from . import parity
    from .errors import ParityMismatchError
    from .web import export_web, open_hint

    with exit_codes(TOOL):
        try:
            result = export_web(checkpoint, out, **options)
        except ParityMismatchError as e:
            if json_output:
                failed = {WEB_FORMAT: {"path": None, "parity": json.loads(parity.report_json(e.report))}}
                typer.echo(json.dumps(failed, indent=2, sort_keys=True))
            else:
                _console().print(parity.render_table(e.report))
            raise
    for note in result.model.notes:
        typer.echo(note, err=True)
    if json_output:
        record = {**_result_dict(result.model, parity), "path": str(result.path), "size_bytes": result.size_bytes,
                  "files": list(result.files), "ort": result.ort}
        typer.echo(json.dumps({WEB_FORMAT: record}, indent=2, sort_keys=True))
        return
    console = _console()
    if result.model.parity is not None:
        console.print(parity.render_table(result.model.parity))
    names = dict.fromkeys(f if "/" not in f else f.split("/")[0] + "/" for f in result.files)
    where = "./ort/ (vendored)" if not result.ort.startswith("http") else result.ort
    console.print(
        f"wrote {result.path} (web, {result.size_bytes / 1e6:.1f} MB: {', '.join(names)}) in "
        f"{result.model.export_s:.1f} s (+{result.model.verify_s:.1f} s parity); {_verdict(result.model)}; "
        f"onnxruntime-web from {where}",
        highlight=False, soft_wrap=True,
    )
    console.print(open_hint(result.path), highlight=False, soft_wrap=True)


def _result_dict(result, parity) -> dict:
    return {
        "path": str(result.path),
        "size_bytes": result.path.stat().st_size,
        "export_s": round(result.export_s, 3),
        "verify_s": round(result.verify_s, 3),
        "parity": json.loads(parity.report_json(result.parity)) if result.parity is not None else None,
    }


def _print_result(result, parity) -> None:
    console = _console()
    if result.parity is not None:
        console.print(parity.render_table(result.parity))
    verdict = _verdict(result)
    size_mb = result.path.stat().st_size / 1e6
    console.print(
        f"wrote {result.path} ({result.format}, {size_mb:.1f} MB) in {result.export_s:.1f} s "
        f"(+{result.verify_s:.1f} s parity); {verdict}",
        highlight=False, soft_wrap=True,
    )


def _verdict(result) -> str:
    if result.parity is None:
        return "parity not checked (--no-verify)"
    return (
        f"parity passed: {result.parity['num_cases']} case(s), max abs diff "
        f"{result.parity['max_abs_diff']:.3g} (atol {result.parity['atol']:g})"
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
