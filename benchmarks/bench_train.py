"""Training speed: images/s of the DCGAN step (eager, channels_last, torch.compile, bf16 autocast) and of the data pipeline.

    .venv/bin/python benchmarks/bench_train.py            # dcgan preset, 64x64, batch 128
    .venv/bin/python benchmarks/bench_train.py --quick    # tiny model and data, for CI smoke

The step: `facegan.train.step.train_step`, the one `train()` calls (normalise, (1) update D,
(2) update G, scheduler steps), on a state from `facegan.train.state.build_state` (which applies
channels_last), with the networks compiled by `step_networks` as in the loop. Without --quick,
one end-to-end `train()` run (eager) cross-checks against the loop's logged images/s, which also
counts data loading and logging. Variants run in interleaved rounds; ratios are against eager
from the same run.

The data pipeline: a folder of 178x218 JPEG files (CelebA's size; toy faces upscaled) served one
epoch at a time, decoded every epoch by a DataLoader over the files versus read from the uint8
memory-mapped decode cache, again interleaved.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import common

EAGER = "eager"
VARIANTS = {
    "eager": dict(channels_last=False, compile=False, amp=False),
    "channels_last": dict(channels_last=True, compile=False, amp=False),
    "compile": dict(channels_last=False, compile=True, amp=False),
    "compile + channels_last": dict(channels_last=True, compile=True, amp=False),
    "amp (bf16)": dict(channels_last=False, compile=False, amp=True),
    "amp (bf16) + channels_last": dict(channels_last=True, compile=False, amp=True),
}
QUICK_VARIANTS = ("eager", "channels_last", "amp (bf16)")  # compiling takes tens of seconds: opt in with --variants
JPEG_SIZE = (178, 218)  # CelebA aligned images, width x height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="dcgan", help="Training preset (default: dcgan).")
    p.add_argument("--image-size", type=int, help="Image size (default: the preset's, 64; quick: 32).")
    p.add_argument("--width", type=int, help="ngf = ndf (default: the preset's, 64; quick: 8).")
    p.add_argument("--batch-size", type=int, help="Images per step (default: the preset's, 128; quick: 16).")
    p.add_argument("--variants", help=f"Comma-separated step variants (default: all of {', '.join(VARIANTS)}; quick: {','.join(QUICK_VARIANTS)}).")
    p.add_argument("--rounds", type=int, help="Interleaved rounds (default: 6; quick: 2).")
    p.add_argument("--steps-per-round", type=int, help="Steps per variant per round (default: 3; quick: 2).")
    p.add_argument("--warmup-steps", type=int, help="Untimed steps per variant, compile included (default: 2; quick: 1).")
    p.add_argument("--jpeg-files", type=int, help="JPEG files for the data pipeline (default: 512; quick: 64).")
    p.add_argument("--workers", type=int, default=2, help="DataLoader processes decoding JPEGs (default: 2, as training).")
    p.add_argument("--no-loop-check", action="store_true", help="Skip the end-to-end train() cross-check.")
    p.add_argument("--results", type=Path, default=common.DEFAULT_RESULTS, help="JSON-lines file to append to.")
    p.add_argument("--quick", action="store_true", help="A short run with a tiny model, for CI smoke tests.")
    args = p.parse_args(argv)
    q = args.quick
    args.image_size = args.image_size or (32 if q else None)
    args.width = args.width or (8 if q else None)
    args.batch_size = args.batch_size or (16 if q else None)
    args.variants = tuple(args.variants.split(",")) if args.variants else (QUICK_VARIANTS if q else tuple(VARIANTS))
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    args.rounds = args.rounds or (2 if q else 6)
    args.steps_per_round = args.steps_per_round or (2 if q else 3)
    args.warmup_steps = args.warmup_steps or (1 if q else 2)
    args.jpeg_files = args.jpeg_files or (64 if q else 512)
    args.loop_check = not (args.no_loop_check or q)
    return args


# ---------------------------------------------------------------------------------------------
# The training step


def loop_check(model_cfg, train_cfg, folder: Path, steps: int) -> float:
    """images/s of the last logged window of a real `train()` run, eager, on in-memory toy faces."""
    from facegan.train.loop import train

    # Enough faces that no epoch ends (and no snapshot is written) inside the timed window.
    cfg = dataclasses.replace(
        train_cfg, data="toy-faces", toy_faces=train_cfg.batch_size * (2 * steps + 1), steps=2 * steps, epochs=1,
        log_every=steps, cache=False, workers=0, channels_last=False, compile=False, sample_count=4,
    )
    train(model_cfg, cfg, folder / "loop-check", quiet=True, echo=lambda _msg: None)
    lines = (folder / "loop-check" / "metrics.jsonl").read_text().splitlines()
    return float(json.loads(lines[-1])["images_per_s"])  # the second window: warm-up excluded


# ---------------------------------------------------------------------------------------------
# The data pipeline


def write_jpegs(folder: Path, n: int) -> Path:
    """`n` 178x218 JPEG files of toy faces, upscaled (quality 90, as CelebA's files roughly are)."""
    from PIL import Image

    from facegan.train.toyfaces import toy_faces

    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, 64):
        for j, face in enumerate(toy_faces(min(64, n - start), 64, seed=1, start=start)):
            Image.fromarray(face).resize(JPEG_SIZE, Image.BICUBIC).save(folder / f"{start + j:06d}.jpg", quality=90)
    return folder


def epoch_call(data, batch_size: int):
    """One full epoch of uint8 batches, the way the loop asks for them; returns images served."""
    epochs = itertools.count()

    def call() -> int:
        return sum(len(b) for b in data.batches(next(epochs), batch_size, seed=0))

    return call


# ---------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\..*")
    import torch

    from facegan.train.config import resolve
    from facegan.train.data import DataSpec, load_data

    # torch.compile logs "No CUDA runtime is found" on CPU-only machines: expected, not news.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

    threads = common.cpu_count()
    torch.set_num_threads(threads)
    info = common.system_info(threads)
    model_over = {"image_size": args.image_size, "ngf": args.width, "ndf": args.width}
    model_cfg, train_cfg = resolve(args.preset, model_over, {"batch_size": args.batch_size, "device": "cpu"})
    batch = train_cfg.batch_size
    notes = [
        f"torch.set_num_threads({threads}) (the core count).",
        "Step: facegan.train.step.train_step, the step train() runs, on a state from build_state; "
        "images/s = batch / median step time.",
        f"{args.warmup_steps} untimed warm-up step(s) per variant (torch.compile's compile time is reported separately); "
        f"{args.rounds} interleaved rounds of {args.steps_per_round} steps.",
    ]

    # Training step variants
    pool = common.real_batches(model_cfg.image_size, batch)
    steps, compile_s = {}, {}
    for name in args.variants:
        cfg = dataclasses.replace(train_cfg, **VARIANTS[name])
        steps[name] = common.make_step(model_cfg, cfg, pool)
        start = time.perf_counter()
        for _ in range(args.warmup_steps):
            steps[name]()
        compile_s[name] = time.perf_counter() - start
    timings = common.interleaved(steps, batch, args.rounds, args.steps_per_round, warmup_calls=0)
    base = timings[EAGER].items_per_s if EAGER in timings else None
    step_rows = [
        {**t.summary(), "variant": name, "images_per_s": t.items_per_s, "step_ms": t.p50_ms,
         "vs_eager": (t.items_per_s / base) if base else None, "warmup_s": compile_s[name]}
        for name, t in timings.items()
    ]

    with tempfile.TemporaryDirectory(prefix="facegan-bench-") as tmp:
        tmp = Path(tmp)
        loop_ips = loop_check(model_cfg, train_cfg, tmp, steps=2 * args.steps_per_round) if args.loop_check else None

        # Data pipeline: decode every epoch vs the memory-mapped cache
        folder = write_jpegs(tmp / "jpegs", args.jpeg_files)
        spec = DataSpec(str(folder), image_size=model_cfg.image_size, workers=args.workers, cache=False)
        decoded = load_data(spec)
        start = time.perf_counter()
        cached = load_data(dataclasses.replace(spec, cache=True, cache_dir=tmp / "cache"))
        cache_build_s = time.perf_counter() - start
        data_batch = min(batch, args.jpeg_files // 2)
        epoch_images = decoded.batches_per_epoch(data_batch) * data_batch
        pipes = {f"JPEG decode every epoch (DataLoader, {args.workers} workers)": epoch_call(decoded, data_batch),
                 "uint8 memory-mapped cache": epoch_call(cached, data_batch)}
        cache_calls = common.calls_for(pipes["uint8 memory-mapped cache"], 0.2, max_calls=200)
        per_round = {name: (cache_calls if "cache" in name else 1) for name in pipes}
        pipe_timings = common.interleaved(pipes, epoch_images, 2 if args.quick else 5, per_round, warmup_calls=1)
        del cached  # release the memory map before the folder goes

    decode_ips = next(t.items_per_s for n, t in pipe_timings.items() if "JPEG" in n)
    pipe_rows = [{**t.summary(), "variant": n, "images_per_s": t.items_per_s, "epoch_ms": t.p50_ms,
                  "vs_decode": t.items_per_s / decode_ips} for n, t in pipe_timings.items()]

    targets = []
    opt_in = [r for r in step_rows if r["variant"] != EAGER]
    if base and opt_in:
        best = max(opt_in, key=lambda r: r["images_per_s"])
        targets.append(common.target_row("best opt-in training path vs eager", best["vs_eager"], 1.25, "x",
                                         note=f"best: {best['variant']}"))
    cache_ratio = next(r["vs_decode"] for r in pipe_rows if "cache" in r["variant"])
    targets.append(common.target_row("cached data pipeline vs JPEG decoding", cache_ratio, 10.0, "x"))

    record = {
        "bench": "train",
        "quick": args.quick,
        "system": info,
        "model": {"preset": args.preset, "config": dataclasses.asdict(model_cfg), "batch_size": batch},
        "settings": {"variants": list(args.variants), "rounds": args.rounds, "steps_per_round": args.steps_per_round,
                     "warmup_steps": args.warmup_steps, "jpeg_files": args.jpeg_files, "workers": args.workers,
                     "data_batch_size": data_batch},
        "step_results": step_rows,
        "loop_check_images_per_s": loop_ips,
        "pipeline_results": pipe_rows,
        "cache_build_s": cache_build_s,
        "targets": targets,
        "notes": notes,
    }
    print(render(record))
    common.append_jsonl(args.results, record)
    print(f"\nappended to {args.results}")
    return record


def render(record: dict) -> str:
    cfg, s = record["model"]["config"], record["settings"]
    title = (f"Training: {record['model']['preset']} {cfg['image_size']}x{cfg['image_size']}, ngf=ndf={cfg['ngf']}, "
             f"batch {record['model']['batch_size']}" + (" (--quick)" if record["quick"] else ""))
    out = [common.header(title, record["system"], record["notes"])]
    out.append(common.markdown_table(
        ["Step variant", "Images/s", "Step P50 ms", "P90 ms", "Steps timed", "vs eager", "Warm-up s (incl. compile)"],
        [[r["variant"], r["images_per_s"], r["p50_ms"], r["p90_ms"], r["calls"],
          "-" if r["vs_eager"] is None else f"{r['vs_eager']:.2f}x", r["warmup_s"]] for r in record["step_results"]],
    ))
    if record["loop_check_images_per_s"] is not None:
        out.append(f"\nCross-check, real `facegan.train.loop.train()` (eager, logged window after warm-up): "
                   f"{record['loop_check_images_per_s']:.1f} images/s.")
    out.append(f"\nData pipeline: {s['jpeg_files']} JPEG files of 178x218 -> {cfg['image_size']} px, "
               f"batches of {s['data_batch_size']}, one epoch per call; building the cache took {record['cache_build_s']:.2f} s once.\n")
    out.append(common.markdown_table(
        ["Data pipeline", "Images/s", "Epoch P50 ms", "Epochs timed", "vs decoding"],
        [[r["variant"], r["images_per_s"], r["p50_ms"], r["calls"], f"{r['vs_decode']:.1f}x"] for r in record["pipeline_results"]],
    ))
    out.append("")
    out.append(common.targets_table(record["targets"]))
    return "\n".join(out)


if __name__ == "__main__":
    main()
