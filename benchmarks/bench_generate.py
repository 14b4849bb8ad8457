"""Generation speed: PyTorch eager vs TorchScript vs onnxruntime, against this machine's matmul ceiling.

    .venv/bin/python benchmarks/bench_generate.py                 # dcgan 64x64, random DCGAN init
    .venv/bin/python benchmarks/bench_generate.py --checkpoint runs/celeba
    .venv/bin/python benchmarks/bench_generate.py --quick         # a few seconds, for CI smoke

Measures images/s and per-call latency (P50, P90, P99) of every variant at batch sizes 1, 16, 64
and 256, interleaved in rounds; ratios are against PyTorch eager fp32 from the same run. The same
run measures the fp32 GEMM rate and reports each variant's achieved GFLOP/s as a fraction of it, and
the runtime's cold start (import + model load + first image) in fresh processes. Prints Markdown
tables and appends one JSON line to the results file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

EAGER = "torch eager fp32"
ORT_DEFAULT = "onnxruntime CPU (runtime defaults)"
GEMM = "fp32 GEMM"  # the ceiling, timed inside the rounds as well
PARITY_ATOL = 1e-3  # a benchmark of a wrong model is worthless: eager and artifacts must agree

COLD_START_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from facegan.runtime import FaceGenerator
t1 = time.perf_counter()
gen = FaceGenerator(sys.argv[1], device="cpu")
t2 = time.perf_counter()
gen.generate(1, seed=0)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_image_s": t3 - t2, "total_s": t3 - t0,
                  "torch_imported": "torch" in sys.modules}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = common.parser(__doc__)
    common.add_model_arguments(p, "Benchmark")
    p.add_scaled("--batch-sizes", (1, 16, 64, 256), (1, 16), "Comma-separated batch sizes", type=common.integers)
    p.add_scaled("--rounds", 7, 2, "Interleaved timing rounds")
    p.add_scaled("--round-s", 0.25, 0.03, "Seconds per variant per round", type=float)
    p.add_scaled("--cold-starts", 7, 1, "Fresh processes for cold start")
    p.add_scaled("--gemm-n", 2048, 512, "Matrix side of the GEMM ceiling")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The model and its artifacts


def export_artifacts(checkpoint: Path, folder: Path, fp16: bool) -> dict[str, Path]:
    """ONNX fp32 (+ fp16 for CUDA) and TorchScript files; parity is checked below, cheaply."""
    from facegan.export import export_onnx, export_torchscript

    out = {
        "onnx": export_onnx(checkpoint, folder / "g.onnx", verify=False).path,
        "torchscript": export_torchscript(checkpoint, folder / "g.ts.pt", verify=False).path,
    }
    if fp16:
        out["onnx_fp16"] = export_onnx(checkpoint, folder / "g-fp16.onnx", dtype="fp16", verify=False).path
    return out


# ---------------------------------------------------------------------------------------------
# Variants: name -> a zero-argument call that makes one batch


def cpu_sessions(onnx_path: Path, threads: int) -> dict:
    """onnxruntime CPU sessions: the runtime's defaults and the thread settings worth comparing."""
    import onnxruntime as ort

    from facegan.runtime.session import make_session, session_options

    sessions = {ORT_DEFAULT: make_session(onnx_path, "cpu")}
    sessions["onnxruntime CPU, 1 thread"] = make_session(onnx_path, "cpu", threads=1)
    sessions[f"onnxruntime CPU, {threads} threads"] = make_session(onnx_path, "cpu", threads=threads)
    # Spinning keeps idle pool threads busy-waiting for the next op: fast on a quiet machine,
    # but on a shared 2-core box they compete with the thread doing the work.
    opts = session_options(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions[f"onnxruntime CPU, {threads} threads, no spinning"] = ort.InferenceSession(
        str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return sessions


def cuda_variants(paths: dict[str, Path], z: np.ndarray) -> dict:
    """onnxruntime CUDA: fp32, fp16, and fp32 with I/O binding (input and output stay on the GPU)."""
    import onnxruntime as ort

    from facegan.runtime.session import make_session

    fp32 = make_session(paths["onnx"], "cuda", strict=True)
    fp16 = make_session(paths["onnx_fp16"], "cuda", strict=True)
    z_gpu = ort.OrtValue.ortvalue_from_numpy(z, "cuda", 0)
    binding = fp32.io_binding()
    binding.bind_ortvalue_input("z", z_gpu)
    binding.bind_output("images", "cuda", 0)

    def bound() -> None:
        fp32.run_with_iobinding(binding)  # returns after the GPU is done (synchronous run)

    return {
        "onnxruntime CUDA fp32": lambda: fp32.run(None, {"z": z}),
        "onnxruntime CUDA fp16": lambda: fp16.run(None, {"z": z}),
        "onnxruntime CUDA fp32, I/O binding": bound,
    }


def has_cuda() -> tuple[bool, str]:
    """Whether onnxruntime can run on a GPU here, and if not, why (for the note)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, "onnxruntime CUDA variants skipped: no CUDAExecutionProvider (needs onnxruntime-gpu and a GPU)"
    import torch

    if not torch.cuda.is_available():
        return False, "onnxruntime CUDA variants skipped: torch sees no CUDA device"
    return True, ""


def check_parity(generator, ts_module, sessions: dict, latent_dim: int) -> float:
    """Largest |difference| between eager and every artifact at batch 2; raise if over PARITY_ATOL."""
    import torch

    z = common_latents(2, latent_dim)
    with torch.inference_mode():
        ref = generator(torch.from_numpy(z)).numpy()
        outs = {"torchscript": ts_module(torch.from_numpy(z)).numpy()}
    outs.update({name: s.run(None, {"z": z})[0] for name, s in sessions.items()})
    worst = max(float(np.abs(out - ref).max()) for out in outs.values())
    if worst > PARITY_ATOL:
        raise RuntimeError(f"artifacts disagree with eager by {worst:.3g} > {PARITY_ATOL}: not benchmarking a wrong model")
    return worst


def common_latents(n: int, dim: int) -> np.ndarray:
    from facegan.runtime.latents import latents

    return latents(0, n, dim)


# ---------------------------------------------------------------------------------------------
# Where the time goes inside onnxruntime

# onnxruntime may fuse an activation into a Gemm/Conv/MatMul and rename the op (FusedGemm, ...)
COMPUTE_OPS = ("ConvTranspose", "MatMul", "Gemm", "Conv", "FusedGemm", "FusedConv", "FusedMatMul")


def layer_profile(onnx_path: Path, batch: int, calls: int, layer_flops: list[int]) -> list[dict]:
    """onnxruntime's own per-node kernel times at `batch` with the runtime's default session.

    Runs apart from the timed rounds (profiling costs a little). The k-th compute node in execution
    order is matched with the k-th generator layer of `layer_flops` for its GFLOP/s; when the
    counts differ (an unexpected graph), GFLOP/s is left out rather than guessed.
    """
    import onnxruntime as ort

    from facegan.runtime.session import session_options

    with tempfile.TemporaryDirectory(prefix="facegan-profile-") as tmp:
        opts = session_options(None)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        z = common_latents(batch, session.get_inputs()[0].shape[1])
        for _ in range(3):  # warm-up runs are profiled too: dropped below by counting calls
            session.run(None, {"z": z})
        for _ in range(calls):
            session.run(None, {"z": z})
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, dict] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        node = per_node.setdefault(e["name"][: -len("_kernel_time")], {"op": e["args"]["op_name"], "us": []})
        node["us"].append(e["dur"])
    rows = []
    for name, node in per_node.items():  # insertion order = execution order
        timed = node["us"][-calls:]  # the last `calls` runs: warm-up left out
        rows.append({"node": name, "op": node["op"], "ms": common.percentile([t / 1000 for t in timed], 50)})
    total_ms = sum(r["ms"] for r in rows)
    compute = [r for r in rows if r["op"] in COMPUTE_OPS]
    for r in rows:
        r["share"] = r["ms"] / total_ms if total_ms else 0.0
        r["gflops"] = None
    if len(compute) == len(layer_flops):
        for r, flops in zip(compute, layer_flops):
            r["gflops"] = flops * batch / (r["ms"] / 1000) / 1e9
    return rows


# ---------------------------------------------------------------------------------------------
# A CPU shared with other work

BUSY_LOOP = "print('busy', flush=True)\nwhile True: pass"


def shared_cpu(onnx_path: Path, batch_sizes, rounds: int, round_s: float) -> list[dict]:
    """The runtime's default threads against threads=1 while another process keeps one core busy.

    The case the README's threads advice is about: an app generating beside other work. The
    neighbour is a Python busy loop (one core at 100%), started before and killed after the rounds.
    """
    from facegan.runtime.session import make_session

    sessions = {"runtime defaults": make_session(onnx_path, "cpu"), "threads=1": make_session(onnx_path, "cpu", threads=1)}
    latent_dim = sessions["threads=1"].get_inputs()[0].shape[1]
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdout=subprocess.PIPE, text=True)
    rows = []
    try:
        neighbour.stdout.readline()  # it is spinning once it has said so
        for batch in batch_sizes:
            z = common_latents(batch, latent_dim)
            variants = {name: (lambda s_: lambda: s_.run(None, {"z": z}))(s) for name, s in sessions.items()}
            per_round = {n: common.calls_for(fn, round_s) for n, fn in variants.items()}
            timings = common.interleaved(variants, batch, rounds, per_round, warmup_calls=1)
            default = timings["runtime defaults"].items_per_s
            rows += [{"variant": name, "batch_size": batch, "images_per_s": t.items_per_s,
                      "vs_defaults": t.items_per_s / default} for name, t in timings.items()]
    finally:
        neighbour.kill()
        neighbour.wait()
    return rows


# ---------------------------------------------------------------------------------------------
# Cold start


def cold_start(onnx_path: Path, repeats: int) -> dict:
    """Import + load + first image in `repeats` fresh processes: medians, and the process wall time."""
    runs, walls = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COLD_START_SNIPPET, str(onnx_path)], capture_output=True, text=True, check=False
        )
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"cold-start snippet failed: {done.stderr.strip().splitlines()[-1:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = lambda key: common.percentile([r[key] for r in runs], 50)  # noqa: E731
    return {
        "repeats": repeats,
        "import_s": median("import_s"),
        "load_s": median("load_s"),
        "first_image_s": median("first_image_s"),
        "total_s": median("total_s"),
        "process_wall_s": common.percentile(walls, 50),
        "torch_imported": any(r["torch_imported"] for r in runs),
    }


# ---------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads, info = common.torch_setup()
    import torch

    from facegan.export import load_generator
    from facegan.runtime.generator import FaceGenerator

    cuda, cuda_note = has_cuda()
    notes = [
        f"torch.set_num_threads({threads}) (the core count); onnxruntime thread settings per row.",
        "Warm-up excluded; variants interleaved in rounds, order rotated each round; images/s = batch / P50 latency.",
        f"Ratios are against '{EAGER}' at the same batch size in this run.",
    ]
    if cuda_note:
        notes.append(cuda_note)

    with tempfile.TemporaryDirectory(prefix="facegan-bench-") as tmp:
        tmp = Path(tmp)
        overrides = {"image_size": args.image_size, "ngf": args.ngf}
        checkpoint = args.checkpoint or common.random_checkpoint(args.preset, tmp, **overrides)
        paths = export_artifacts(checkpoint, tmp, fp16=cuda)
        loaded = load_generator(checkpoint)
        model_cfg = loaded.model_config
        g = loaded.generator
        g_cl = load_generator(checkpoint).generator.to(memory_format=torch.channels_last)
        ts = torch.jit.load(str(paths["torchscript"]), map_location="cpu")  # traced and frozen at export
        sessions = cpu_sessions(paths["onnx"], threads)
        max_diff = check_parity(g, ts, sessions, loaded.latent_dim)
        face_gen = FaceGenerator(paths["onnx"], device="cpu")

        from facegan.train.config import ModelConfig, from_dict

        layer_flops = common.generator_layer_flops(from_dict(ModelConfig, model_cfg))
        flops = sum(layer_flops)
        gemm = common.matmul_gflops(args.gemm_n, repeats=3 if args.quick else 7)
        gemm_fn, gemm_flops = common.gemm_call(args.gemm_n, gemm["library"])

        rows = []
        for batch in args.batch_sizes:
            z = common_latents(batch, loaded.latent_dim)
            zt = torch.from_numpy(z)

            def torch_call(module, x):
                def call():
                    with torch.inference_mode():
                        return module(x)

                return call

            variants = {
                EAGER: torch_call(g, zt),
                # z is 2-D; the weights and every activation after the 1x1 stem are channels_last
                "torch eager fp32, channels_last": torch_call(g_cl, zt),
                "TorchScript (frozen)": torch_call(ts, zt),
            }
            for name, s in sessions.items():
                variants[name] = (lambda s_: lambda: s_.run(None, {"z": z}))(s)
            variants["FaceGenerator.generate_from_latents (uint8, runtime defaults)"] = lambda: face_gen.generate_from_latents(z)
            if cuda:
                variants.update(cuda_variants(paths, z))
            # The GEMM rides along in the rounds too: a machine slowed by its neighbours slows it alike,
            # so "of GEMM, same rounds" separates the model's efficiency from the machine's load.
            variants[GEMM] = gemm_fn
            for fn in variants.values():  # warm-up before sizing the rounds
                fn()
            per_round = {n: common.calls_for(fn, args.round_s) for n, fn in variants.items()}
            timings = common.interleaved(variants, batch, args.rounds, per_round, warmup_calls=1)
            round_gemm_gflops = gemm_flops / common.percentile(timings.pop(GEMM).times_s, 50) / 1e9
            eager_ips = timings[EAGER].items_per_s
            for name, t in timings.items():
                achieved = t.items_per_s * flops / 1e9
                on_gpu = "CUDA" in name
                rows.append({
                    **t.summary(),
                    "variant": name,
                    "batch_size": batch,
                    "images_per_s": t.items_per_s,
                    "vs_eager": t.items_per_s / eager_ips,
                    "gflops": achieved,
                    "ceiling_fraction": None if on_gpu else achieved / gemm["ceiling_gflops"],
                    "round_gemm_gflops": round_gemm_gflops,
                    "round_gemm_fraction": None if on_gpu else achieved / round_gemm_gflops,
                })
        profile_batch = 64 if 64 in args.batch_sizes else max(args.batch_sizes)
        profile = {"batch_size": profile_batch,
                   "layers": layer_profile(paths["onnx"], profile_batch, 3 if args.quick else 20, layer_flops)}
        shared = shared_cpu(paths["onnx"], args.batch_sizes, args.rounds, args.round_s)
        cold = cold_start(paths["onnx"], args.cold_starts)

    targets = check_targets(rows, cold, threads)
    record = {
        "bench": "generate",
        "quick": args.quick,
        "system": info,
        "model": {"preset": args.preset if args.checkpoint is None else "checkpoint", "checkpoint": str(args.checkpoint or ""),
                  "config": model_cfg, "flops_per_image": flops},
        "settings": {"batch_sizes": list(args.batch_sizes), "rounds": args.rounds, "round_s": args.round_s},
        "parity_max_abs_diff": max_diff,
        "gemm": gemm,
        "results": rows,
        "onnxruntime_profile": profile,
        "shared_cpu": shared,
        "cold_start": cold,
        "targets": targets,
        "notes": notes,
    }
    return common.publish(record, render(record), args.results)


def check_targets(rows: list[dict], cold: dict, threads: int) -> list[dict]:
    """The issue's targets, from this run's numbers."""
    by = {(r["variant"], r["batch_size"]): r for r in rows}
    batches = sorted({r["batch_size"] for r in rows})
    out = []
    if 1 in batches:
        out.append(common.target_row("onnxruntime CPU vs torch eager, batch 1", by[(ORT_DEFAULT, 1)]["vs_eager"], 2.0, "x"))
    for b in [b for b in batches if b >= 64]:
        out.append(common.target_row(f"onnxruntime CPU / matmul ceiling, batch {b}", by[(ORT_DEFAULT, b)]["ceiling_fraction"], 0.85, ""))
    for b in batches:
        cpu = {n: r for (n, bb), r in by.items() if bb == b and n.startswith("onnxruntime CPU")}
        best = max(cpu.values(), key=lambda r: r["images_per_s"])
        share = cpu[ORT_DEFAULT]["images_per_s"] / best["images_per_s"]
        out.append(common.target_row(f"runtime defaults vs fastest onnxruntime CPU setting, batch {b}", share, 0.95, "",
                                     note=f"fastest: {best['variant']}"))
    out.append(common.target_row("runtime cold start (import + load + first image)", cold["total_s"], 0.5, " s",
                                 higher_is_better=False, note=f"process wall incl. interpreter start: {cold['process_wall_s']:.3f} s"))
    return out


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.0f}%"


def render(record: dict) -> str:
    info, gemm, cold = record["system"], record["gemm"], record["cold_start"]
    cfg = record["model"]["config"]
    title = (f"Generation: {record['model']['preset']} {cfg['image_size']}x{cfg['image_size']}, ngf={cfg['ngf']}, "
             f"latent {cfg['latent_dim']}" + (" (--quick)" if record["quick"] else ""))
    notes = record["notes"] + [
        f"Generator: {record['model']['flops_per_image'] / 1e9:.3f} GFLOP per image (ConvTranspose/Linear MACs x 2).",
        f"fp32 GEMM ceiling ({gemm['n']}x{gemm['n']} sgemm, best of {gemm['repeats']}): "
        + ", ".join(f"{lib} {gemm[lib + '_gflops']:.1f}" for lib in common.GEMM_LIBRARIES if lib + "_gflops" in gemm)
        + f" GFLOP/s; ceiling ({gemm['library']}) = {gemm['ceiling_gflops']:.1f} GFLOP/s "
        f"= {gemm['ceiling_gflops'] * 1e9 / record['model']['flops_per_image']:.0f} images/s.",
        f"Parity before timing: max |eager - artifact| = {record['parity_max_abs_diff']:.2g}.",
    ]
    out = [common.header(title, info, notes)]
    table = [
        [r["variant"], r["batch_size"], r["images_per_s"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["calls"],
         f"{r['vs_eager']:.2f}x", _percent(r["ceiling_fraction"]), _percent(r["round_gemm_fraction"])]
        for r in record["results"]
    ]
    out.append(common.markdown_table(
        ["Variant", "Batch", "Images/s", "P50 ms", "P90 ms", "P99 ms", "Calls", "vs eager", "of GEMM ceiling",
         "of GEMM, same rounds"], table))
    gemm_rounds = {r["batch_size"]: r["round_gemm_gflops"] for r in record["results"]}
    out.append("\nGEMM median inside the rounds (GFLOP/s), by batch size: "
               + ", ".join(f"{b}: {g:.1f}" for b, g in sorted(gemm_rounds.items())) + "\n")
    profile = record["onnxruntime_profile"]
    out.append(f"\nonnxruntime per node, runtime defaults, batch {profile['batch_size']} (its own profiler, "
               "median kernel time per call):\n")
    ceiling = gemm["ceiling_gflops"]
    out.append(common.markdown_table(
        ["Node", "Op", "ms per call", "Share", "GFLOP/s", "of GEMM ceiling"],
        [[r["node"], r["op"], r["ms"], f"{100 * r['share']:.1f}%", "-" if r["gflops"] is None else f"{r['gflops']:.0f}",
          "-" if r["gflops"] is None else _percent(r["gflops"] / ceiling)] for r in profile["layers"]],
    ))
    out.append("\nonnxruntime CPU with one core kept busy by another process (a busy loop):\n")
    out.append(common.markdown_table(
        ["Variant", "Batch", "Images/s", "vs runtime defaults"],
        [[r["variant"], r["batch_size"], r["images_per_s"], f"{r['vs_defaults']:.2f}x"] for r in record["shared_cpu"]],
    ))
    out.append("")
    out.append(common.markdown_table(
        ["Cold start (median of %d fresh processes)" % cold["repeats"], "Seconds"],
        [["import facegan.runtime", cold["import_s"]], ["FaceGenerator(path) (session + metadata)", cold["load_s"]],
         ["first generate(1)", cold["first_image_s"]], ["**total**", cold["total_s"]],
         ["process wall time (interpreter start included)", cold["process_wall_s"]]],
    ))
    out.append(f"\ntorch imported by the runtime snippet: {'YES (bug)' if cold['torch_imported'] else 'no'}\n")
    out.append(common.targets_table(record["targets"]))
    return "\n".join(out)


if __name__ == "__main__":
    main()
