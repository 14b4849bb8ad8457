"""What the benchmark scripts share: machine facts, interleaved timing, percentiles, tables, JSON lines.

The scripts in this folder are run directly (`python benchmarks/bench_generate.py`), so they import
this module as `common`. The method, as in nanoGPT's bench.py and onnxruntime_perf_test:

- warm-up calls are run and thrown away before anything is timed;
- variants are timed in interleaved rounds (A B C, B C A, C A B, ...), so a slow patch of a shared
  machine hits every variant alike instead of whichever happened to run then;
- every figure is a median or a percentile of per-call times, and ratios are taken against a
  baseline measured in the same run, never against numbers from another day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results.jsonl"


# ---------------------------------------------------------------------------------------------
# Machine facts


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides fp32/bf16 speed on x86


def cpu_flags() -> list[str]:
    """Which of SIMD_FLAGS this CPU has (the same code runs 2.5x apart on AVX2 and AVX-512 machines)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in SIMD_FLAGS if f in have]
    except OSError:
        pass
    return []


def package_version(name: str) -> str:
    """Installed version of a distribution, or "-" when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def system_info(threads: int | None = None) -> dict:
    """What a reader needs to judge the numbers: CPU, threads, date, library versions."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": cpu_count(),
        "threads": threads if threads is not None else cpu_count(),
        "load_avg_1min": round(load, 2),  # a busy shared machine shows up here
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "onnxruntime": package_version("onnxruntime") if package_version("onnxruntime") != "-" else package_version("onnxruntime-gpu"),
        "numpy": package_version("numpy"),
    }


def header(title: str, info: dict, notes: Sequence[str] = ()) -> str:
    """A Markdown heading plus one line of machine facts and any notes."""
    facts = (
        f"CPU: {info['cpu']} ({info['cores']} cores; {' '.join(info.get('cpu_flags', [])) or 'no AVX2'}), threads: {info['threads']}, date: {info['date']}, "
        f"load avg (1 min) at start: {info['load_avg_1min']}, Python {info['python']}, torch {info['torch']}, "
        f"onnxruntime {info['onnxruntime']}, numpy {info['numpy']}"
    )
    lines = [f"## {title}", "", facts, ""]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines + ([""] if notes else []))


def torch_setup() -> tuple[int, dict]:
    """Import torch quietly and give it one thread per core; returns (threads, `system_info`).

    What every script does first, so their numbers share one thread setting. torch's own
    deprecation and future warnings are machine noise here, not findings.
    """
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\..*")
    import torch

    threads = cpu_count()
    torch.set_num_threads(threads)
    return threads, system_info(threads)


# ---------------------------------------------------------------------------------------------
# Command lines

def integers(text: str) -> tuple[int, ...]:
    """"1,16,64" -> (1, 16, 64): the type of comma-separated size options."""
    return tuple(int(v) for v in text.split(",") if v.strip())


class Parser(argparse.ArgumentParser):
    """argparse with scaled options: each declares its full and its --quick default once, and its
    help states both; parse_args fills in whichever applies where the option was not given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scaled: dict[str, tuple] = {}  # dest -> (full, quick)

    def add_scaled(self, flag: str, full, quick, help: str, type=int) -> None:
        """`flag` defaults to `full`, or to `quick` under --quick; full None leaves it to the preset."""
        shown = lambda v: "the preset's" if v is None else ",".join(map(str, v)) if isinstance(v, tuple) else str(v)  # noqa: E731
        action = self.add_argument(flag, type=type, default=None, help=f"{help} (default: {shown(full)}; quick: {shown(quick)}).")
        self.scaled[action.dest] = (full, quick)

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        for dest, (full, quick) in self.scaled.items():
            if getattr(parsed, dest) is None:
                setattr(parsed, dest, quick if parsed.quick else full)
        return parsed


def parser(doc: str) -> Parser:
    """A script's parser, described by the first paragraph of its docstring, with --results and --quick."""
    p = Parser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON-lines file to append to.")
    p.add_argument("--quick", action="store_true", help="A short run with a tiny model, for CI smoke tests.")
    return p


def add_model_arguments(p: Parser, verb: str) -> None:
    """--checkpoint, or the random model to `verb` instead: --preset, --image-size, --ngf (tiny under --quick)."""
    p.add_argument("--checkpoint", type=Path, help=f"{verb} this checkpoint (file or run folder) instead of a random one.")
    p.add_argument("--preset", default="dcgan", help="Preset of the random model (default: dcgan).")
    p.add_scaled("--image-size", None, 32, "Image size of the random model")
    p.add_scaled("--ngf", None, 8, "Generator width of the random model")


# ---------------------------------------------------------------------------------------------
# Models to measure


def random_checkpoint(preset: str, folder: Path, **model_overrides) -> Path:
    """A checkpoint of a DCGAN-initialised (untrained) model of `preset`: speed does not need training.

    `model_overrides` that are None keep the preset's value (`--image-size` not given).
    """
    from facegan.train.checkpoint import build_checkpoint, save_checkpoint
    from facegan.train.config import resolve
    from facegan.train.models import build_models

    model_cfg, train_cfg = resolve(preset, model_overrides, {})
    g, d = build_models(model_cfg, seed=0)
    state = build_checkpoint(model_cfg, train_cfg, generator=g.state_dict(), discriminator=d.state_dict())
    path = folder / "random.pt"
    save_checkpoint(state, path)
    return path


def make_step(model_cfg, train_cfg, real_batches: list):
    """A zero-argument callable doing one `facegan.train.step.train_step` on the next batch of `real_batches`."""
    import torch

    from facegan.train.state import build_state
    from facegan.train.step import step_networks, train_step

    s = build_state(model_cfg, train_cfg, torch.device("cpu"), total_steps=10**6)
    nets = step_networks(s)  # compiled when train_cfg.compile, as in train()
    import itertools

    batches = itertools.cycle(real_batches)

    def step() -> None:
        train_step(s, next(batches), nets).finite  # noqa: B018  the loop's guard reads `finite` every step

    return step


def real_batches(image_size: int, batch_size: int, count: int = 2) -> list:
    """`count` uint8 (B, 3, H, W) batches of toy faces: training speed does not depend on content."""
    import torch

    from facegan.train.toyfaces import toy_faces

    faces = toy_faces(batch_size * count, image_size)  # (N, H, W, 3)
    t = torch.from_numpy(faces).permute(0, 3, 1, 2).contiguous()
    return list(t.split(batch_size))


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Timing:
    """Per-call wall times of one variant, in seconds, and how many items each call made."""

    name: str
    items_per_call: int  # images per call (the batch size), or images per epoch
    times_s: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.times_s, 50) * 1e3

    @property
    def p90_ms(self) -> float:
        return percentile(self.times_s, 90) * 1e3

    @property
    def p99_ms(self) -> float:
        return percentile(self.times_s, 99) * 1e3

    @property
    def items_per_s(self) -> float:
        """Throughput at the median call time: robust to the odd call a busy machine stretches."""
        return self.items_per_call / percentile(self.times_s, 50)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "items_per_call": self.items_per_call,
            "calls": len(self.times_s),
            "items_per_s": self.items_per_s,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
        }


def time_calls(fn: Callable[[], object], calls: int) -> list[float]:
    """Wall time of each of `calls` calls of `fn`, in seconds."""
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def calls_for(fn: Callable[[], object], budget_s: float, min_calls: int = 1, max_calls: int = 1000) -> int:
    """How many calls of `fn` fit in `budget_s`, judged from the fastest of up to 3 calls (after warm-up).

    The fastest, because one call stretched by a busy neighbour would otherwise size every round.
    """
    one_s = float("inf")
    spent_s = 0.0
    for _ in range(3):
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        one_s, spent_s = min(one_s, took), spent_s + took
        if spent_s > budget_s:
            break
    return max(min_calls, min(max_calls, int(budget_s / max(one_s, 1e-6))))


def interleaved(
    variants: dict[str, Callable[[], object]],
    items_per_call: int,
    rounds: int,
    calls_per_round: dict[str, int] | int,
    warmup_calls: int = 2,
) -> dict[str, Timing]:
    """Time every variant in `rounds` rounds, rotating the order each round; warm-up excluded.

    Each round runs `calls_per_round` back-to-back calls of each variant (an int for all, or a
    count per variant so a fast and a slow variant get a similar share of each round).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(variants)
    for name in names:
        for _ in range(warmup_calls):
            variants[name]()
    per = calls_per_round if isinstance(calls_per_round, dict) else {n: calls_per_round for n in names}
    timings = {n: Timing(n, items_per_call) for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            timings[name].times_s += time_calls(variants[name], per[name])
    return timings


# ---------------------------------------------------------------------------------------------
# Output


def fmt(value: float | int | str | None, digits: int = 3) -> str:
    """A number with `digits` significant digits (no scientific notation for ordinary sizes)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; numbers are formatted with `fmt`, right-aligned."""
    cells = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    numeric = [all(not isinstance(row[i], str) or row[i] == "-" for row in rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if numeric[i] and rows else "---" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def append_jsonl(path: Path, record: dict) -> Path:
    """Append `record` as one JSON line to `path` (created with its folder if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True, default=_json_default) + "\n")
    return path


def publish(record: dict, text: str, results: Path) -> dict:
    """Print a run's tables (`text`), append its `record` to the `results` JSON lines; return the record."""
    print(text)
    append_jsonl(results, record)
    print(f"\nappended to {results}")
    return record


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def target_row(name: str, measured: float | None, target: float, unit: str, higher_is_better: bool = True, note: str = "") -> dict:
    """One checked target: measured vs wanted, met or not (None when it was not measured)."""
    met = None if measured is None else (measured >= target if higher_is_better else measured <= target)
    return {"target": name, "measured": measured, "wanted": target, "unit": unit,
            "higher_is_better": higher_is_better, "met": met, "note": note}


def targets_table(rows: Sequence[dict]) -> str:
    """The checked targets as a Markdown table."""
    body = []
    for r in rows:
        want = ("≥ " if r["higher_is_better"] else "< ") + fmt(r["wanted"]) + r["unit"]
        got = "-" if r["measured"] is None else fmt(r["measured"]) + r["unit"]
        met = "not measured" if r["met"] is None else ("yes" if r["met"] else "**no**")
        body.append([r["target"], got, want, met, r["note"] or ""])
    return markdown_table(["Target", "Measured", "Wanted", "Met", "Note"], body)


# ---------------------------------------------------------------------------------------------
# The compute ceiling


def generator_layer_flops(cfg) -> list[int]:
    """FLOPs (2 x multiply-accumulates) per image of each ConvTranspose2d/Linear layer of the
    generator of `cfg` (a ModelConfig), in forward order: the stem, then every upsampling block.

    Counted from the layer shapes, the way the Generator builds them
    (`facegan.train.models.feature_multipliers`); BatchNorm, ReLU and Tanh are a rounding error
    (<1%) and are left out. A transposed convolution does in_ch * out_ch * k * k MACs per *input*
    pixel.
    """
    from facegan.train.models import feature_multipliers

    mults = feature_multipliers(cfg.image_size)
    c0 = cfg.ngf * mults[0]
    # stem: z -> (ngf*mults[0]) x 4 x 4; as a 4x4 deconv of a 1x1 map or a Linear, the same MACs
    macs = [cfg.latent_dim * c0 * 16]
    side = 4
    channels = [cfg.ngf * m for m in mults] + [cfg.channels]
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        macs.append(side * side * c_in * c_out * 4 * 4)  # 4x4 kernel, stride 2: side -> 2 * side
        side *= 2
    return [2 * m for m in macs]


def generator_flops_per_image(cfg) -> int:
    """FLOPs of one image through the generator: classic DCGAN 64x64, ngf=64, latent 100 does
    104.6 M MACs = 0.209 GFLOP (see `generator_layer_flops`)."""
    return sum(generator_layer_flops(cfg))


GEMM_LIBRARIES = ("torch", "numpy", "onnxruntime")


def gemm_call(n: int, library: str) -> tuple[Callable[[], object], float]:
    """A zero-argument n x n fp32 matrix multiply with `library`, and its FLOPs.

    "onnxruntime" runs a one-node MatMul graph on the CPU provider: MLAS's sgemm, the kernel
    onnxruntime's ConvTranspose itself is built on, and the fastest of the three on the 2-core
    AMD EPYC (about 1.8x numpy's OpenBLAS and 2.1x torch there).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if library == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return (lambda: torch.mm(ta, tb)), 2.0 * n**3
    if library == "numpy":
        return (lambda: a @ b), 2.0 * n**3
    if library == "onnxruntime":
        import onnxruntime as ort
        from onnx import TensorProto, helper

        def value(name: str):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n])

        node = helper.make_node("MatMul", ["a", "b"], ["c"])
        graph = helper.make_graph([node], "sgemm", [value("a"), value("b")], [value("c")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return (lambda: session.run(None, {"a": a, "b": b})), 2.0 * n**3
    raise ValueError(f"library must be one of {', '.join(GEMM_LIBRARIES)}, got {library!r}")


def matmul_gflops(n: int = 2048, repeats: int = 5) -> dict:
    """This machine's fp32 matrix-multiply rate: best of `repeats` n x n sgemms per library.

    The highest of torch, numpy and onnxruntime (MLAS) is the ceiling variants are measured
    against: the best rate the installed stack reaches on this machine is the honest bar. torch
    uses its current thread count, numpy its BLAS's own, onnxruntime one thread per core.
    """
    best = {}
    for library in GEMM_LIBRARIES:
        fn, flops = gemm_call(n, library)
        fn()  # warm-up: thread pools, page faults
        best[library] = flops / min(time_calls(fn, repeats)) / 1e9
    fastest = max(best, key=best.get)
    return {"n": n, "repeats": repeats, **{f"{lib}_gflops": rate for lib, rate in best.items()},
            "ceiling_gflops": best[fastest], "library": fastest}

