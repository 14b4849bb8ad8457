"""Export speed: seconds to export and parity-check the generator as ONNX and as TorchScript.

    .venv/bin/python benchmarks/bench_export.py                  # dcgan 64x64, random DCGAN init
    .venv/bin/python benchmarks/bench_export.py --checkpoint runs/celeba
    .venv/bin/python benchmarks/bench_export.py --quick          # tiny model, one round, for CI smoke

Each round exports with the library's defaults (`export_onnx` / `export_torchscript`, verify=True:
parity at batch sizes 1, 3, 64 on seeds 0, 1, 2) and splits the wall time into conversion
(`ExportResult.export_s`), parity checking (`verify_s`) and the rest (loading the checkpoint,
writing). Formats alternate in rotated order; medians over rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common

FORMATS = ("onnx", "torchscript")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common.parser(__doc__)
    common.add_model_arguments(p, "Export")
    p.add_scaled("--rounds", 4, 1, "Exports per format; the first is reported apart as the cold one")
    return p.parse_args(argv)


def export_once(fmt: str, checkpoint: Path, folder: Path) -> dict:
    """One export with parity check; its wall time split into conversion, verification and the rest."""
    from facegan.export.onnx import export_onnx
    from facegan.export.torchscript import export_torchscript

    fn, suffix = (export_onnx, ".onnx") if fmt == "onnx" else (export_torchscript, ".ts.pt")
    start = time.perf_counter()
    result = fn(checkpoint, folder / f"g{suffix}", verify=True, force=True)
    wall_s = time.perf_counter() - start
    return {"wall_s": wall_s, "export_s": result.export_s, "verify_s": result.verify_s,
            "size_mb": result.path.stat().st_size / 1e6, "parity_ok": bool(result.parity)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads, info = common.torch_setup()
    runs: dict[str, list[dict]] = {f: [] for f in FORMATS}
    with tempfile.TemporaryDirectory(prefix="facegan-bench-") as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint or common.random_checkpoint(args.preset, tmp, image_size=args.image_size, ngf=args.ngf)
        from facegan.export import load_generator

        model_cfg = load_generator(checkpoint).model_config
        for r in range(args.rounds):
            order = FORMATS[r % 2:] + FORMATS[: r % 2]
            for fmt in order:
                runs[fmt].append(export_once(fmt, checkpoint, tmp))

    for fmt in FORMATS:
        for x in runs[fmt]:
            x["other_s"] = x["wall_s"] - x["export_s"] - x["verify_s"]  # per round, then the median

    def median(fmt: str, key: str) -> float:
        # Round 0 is each format's first export in this process: its warm-up is reported apart
        # (first_wall_s), so the medians are of the warm rounds when there are any.
        warm = runs[fmt][1:] or runs[fmt]
        return common.percentile([x[key] for x in warm], 50)

    rows = [
        {"format": fmt, "rounds": len(runs[fmt]), "first_wall_s": runs[fmt][0]["wall_s"], "wall_s": median(fmt, "wall_s"),
         "export_s": median(fmt, "export_s"), "verify_s": median(fmt, "verify_s"), "other_s": median(fmt, "other_s"),
         "size_mb": runs[fmt][-1]["size_mb"], "parity_ok": all(x["parity_ok"] for x in runs[fmt]), "runs": runs[fmt]}
        for fmt in FORMATS
    ]
    record = {
        "bench": "export",
        "quick": args.quick,
        "system": info,
        "model": {"preset": args.preset if args.checkpoint is None else "checkpoint", "checkpoint": str(args.checkpoint or ""),
                  "config": model_cfg},
        "settings": {"rounds": args.rounds},
        "results": rows,
        "notes": [f"torch.set_num_threads({threads}) (the core count).",
                  "Library defaults: verify=True, parity at batch sizes 1, 3, 64 on seeds 0, 1, 2; medians over the "
                  "rounds after the first. 'First export' is the first of its format in the process (ONNX runs first, "
                  "so it alone pays torch's one-off warm-up: what a one-shot `facegan-export --format onnx` sees)."],
    }
    return common.publish(record, render(record), args.results)


def render(record: dict) -> str:
    cfg = record["model"]["config"]
    title = (f"Export: {record['model']['preset']} {cfg['image_size']}x{cfg['image_size']}, ngf={cfg['ngf']}"
             + (" (--quick)" if record["quick"] else ""))
    out = [common.header(title, record["system"], record["notes"])]
    out.append(common.markdown_table(
        ["Format", "First export s", "Total s", "Convert s", "Parity check s", "Other s", "File MB", "Parity passed", "Rounds"],
        [[r["format"], r["first_wall_s"], r["wall_s"], r["export_s"], r["verify_s"], r["other_s"], r["size_mb"],
          "yes" if r["parity_ok"] else "no", r["rounds"]] for r in record["results"]],
    ))
    return "\n".join(out)


if __name__ == "__main__":
    main()
