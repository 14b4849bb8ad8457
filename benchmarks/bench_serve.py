"""The HTTP service under a bounded concurrent load on loopback, against in-process generation + encoding.

    .venv/bin/python benchmarks/bench_serve.py                    # dcgan 64x64, random DCGAN init
    .venv/bin/python benchmarks/bench_serve.py --concurrency 2    # two generation slots
    .venv/bin/python benchmarks/bench_serve.py --quick            # a few seconds, for CI smoke

Starts `facegan-serve` (python -m facegan.serve, port 0) on an exported model and loads it from
1, 2, 4 and 8 client threads, each sending a fixed number of GET /v1/faces requests (distinct
seeds, n faces each, PNG) back to back on one keep-alive connection. A 503 is counted, not retried:
it is the service refusing work beyond its slots. The baseline is the same work in this process:
FaceGenerator.generate(n) plus the same grid and PNG encoding (facegan.serve.encode), one call
at a time, with the same onnxruntime threads. The variants run in interleaved rounds; figures are
medians over rounds (throughput) and percentiles over all requests (latency).

Targets (issue 12): at >= 16 images per request the service keeps >= 80% of in-process images/s;
requests beyond the slots get their 503 within 100 ms (P99); the P99 of accepted requests with the
most clients stays within 2x the P99 at saturation (clients = slots).
"""

from __future__ import annotations

import http.client
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

READY = "(Ctrl-C to stop)"


def parse_args(argv: list[str] | None = None):
    p = common.parser(__doc__)
    common.add_model_arguments(p, "Serve")
    p.add_scaled("--clients", (1, 2, 4, 8), (1, 2), "Comma-separated client counts", type=common.integers)
    p.add_scaled("--images", (1, 16, 64), (1, 16), "Comma-separated faces per request", type=common.integers)
    p.add_scaled("--requests", 12, 3, "Requests per client per round")
    p.add_scaled("--rounds", 7, 1, "Interleaved rounds")
    p.add_argument("--concurrency", type=int, default=None, help="Server generation slots (default: the server's).")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads, server and baseline (default: one per core).")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The server and its clients


def start_server(model: Path, args) -> tuple[subprocess.Popen, str, int]:
    """facegan-serve on a free port; returns the process, host and port once it says it is ready."""
    flags = ["--port", "0", "--device", "cpu", "--max-n", str(max(args.images))]
    flags += ["--concurrency", str(args.concurrency)] if args.concurrency else []
    flags += ["--threads", str(args.threads)] if args.threads is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "facegan.serve", str(model), *flags], stdout=subprocess.PIPE)
    seen, deadline = b"", time.monotonic() + 120
    while READY.encode() not in seen:  # select: wait for the line, not a fixed time
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            raise SystemExit(f"facegan-serve did not start: {seen.decode(errors='replace')}")
        seen += chunk
    host, port = re.search(r"http://([\d.]+):(\d+)/", seen.decode()).groups()
    return proc, host, int(port)


def client_load(host: str, port: int, clients: int, requests: int, n: int, first_seed: int) -> dict:
    """`clients` threads x `requests` GETs each; wall time and every request's (status, seconds)."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.request("GET", "/healthz")
        conn.getresponse().read()  # connected before the clock starts
        mine = []
        barrier.wait()
        for r in range(requests):
            seed = first_seed + c * requests + r
            start = time.perf_counter()
            conn.request("GET", f"/v1/faces?n={n}&seed={seed}&format=png")
            response = conn.getresponse()
            response.read()
            mine.append((response.status, time.perf_counter() - start))
        conn.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return {"wall_s": time.perf_counter() - start, "requests": results}


def in_process(model: Path, n: int, calls: int, threads: int | None):
    """The baseline's per-call times: generate n faces + the service's grid and PNG encoding."""
    from facegan.runtime import FaceGenerator
    from facegan.runtime.images import grid
    from facegan.serve.encode import encode_image

    gen = FaceGenerator(model, device="cpu", threads=threads)
    seeds = iter(range(10**9, 2 * 10**9))

    def once() -> bytes:
        images = gen.generate(n, next(seeds))
        return encode_image(images[0] if n == 1 else grid(images, 8), "png")

    once()
    return lambda: common.time_calls(once, calls)


# ---------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    threads, info = common.torch_setup()
    info["threads"] = args.threads if args.threads is not None else threads
    with tempfile.TemporaryDirectory(prefix="facegan-bench-") as tmp:
        from facegan.export import export_onnx

        checkpoint = args.checkpoint or common.random_checkpoint(args.preset, Path(tmp), image_size=args.image_size, ngf=args.ngf)
        model = export_onnx(checkpoint, Path(tmp) / "model.onnx", verify=False).path
        proc, host, port = start_server(model, args)
        try:
            record = measure(model, host, port, args, info)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    return common.publish(record, render(record), args.results)


def measure(model: Path, host: str, port: int, args, info: dict) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/v1/model")
    import json

    model_info = json.loads(conn.getresponse().read())
    conn.close()
    slots = model_info["limits"]["concurrency"]
    rows, seed = [], 0
    for n in args.images:
        baseline = in_process(model, n, args.requests, args.threads)
        variants = {"in-process": baseline}
        for c in args.clients:
            def load(c=c):
                nonlocal seed
                seed += c * args.requests
                return client_load(host, port, c, args.requests, n, seed)

            load()  # warm-up: connections, the server's first runs at this batch size
            variants[c] = load
        runs: dict = {name: [] for name in variants}
        names = list(variants)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                runs[name].append(variants[name]())
        base_times = [t for times in runs["in-process"] for t in times]
        base_images_per_s = n / common.percentile(base_times, 50)
        rows.append({"n": n, "clients": 0, "requests": len(base_times), "accepted": len(base_times), "busy": 0,
                     "requests_per_s": 1 / common.percentile(base_times, 50), "images_per_s": base_images_per_s,
                     "ratio": 1.0, "p50_ms": common.percentile(base_times, 50) * 1e3,
                     "p99_ms": common.percentile(base_times, 99) * 1e3, "busy_p50_ms": None, "busy_p99_ms": None})
        for c in args.clients:
            rows.append(summarise(n, c, runs[c], base_images_per_s))
    record = {
        "bench": "serve", "quick": args.quick, "system": info,
        "model": {"preset": args.preset if args.checkpoint is None else "checkpoint", "image_size": model_info["image_size"],
                  "latent_dim": model_info["latent_dim"], "sha256": model_info["sha256"]},
        "settings": {"slots": slots, "requests_per_client": args.requests, "rounds": args.rounds,
                     "clients": list(args.clients), "images": list(args.images), "threads": args.threads},
        "results": rows,
    }
    record["targets"] = targets(rows, slots, max(args.clients))
    return record


def summarise(n: int, clients: int, runs: list[dict], base_images_per_s: float) -> dict:
    ok = [s for run in runs for status, s in run["requests"] if status == 200]
    busy = [s for run in runs for status, s in run["requests"] if status == 503]
    other = [status for run in runs for status, _ in run["requests"] if status not in (200, 503)]
    if other:
        raise SystemExit(f"unexpected statuses {sorted(set(other))} with {clients} clients, n={n}")
    per_round = [sum(1 for status, _ in run["requests"] if status == 200) / run["wall_s"] for run in runs]
    requests_per_s = common.percentile(per_round, 50)
    pct = lambda xs, q: common.percentile(xs, q) * 1e3 if xs else None  # noqa: E731
    return {"n": n, "clients": clients, "requests": len(ok) + len(busy), "accepted": len(ok), "busy": len(busy),
            "requests_per_s": requests_per_s, "images_per_s": requests_per_s * n,
            "ratio": requests_per_s * n / base_images_per_s, "p50_ms": pct(ok, 50), "p99_ms": pct(ok, 99),
            "busy_p50_ms": pct(busy, 50), "busy_p99_ms": pct(busy, 99)}


def targets(rows: list[dict], slots: int, most: int) -> list[dict]:
    """The issue's targets. Throughput is judged at saturation (clients = slots, no 503s): the
    service's own rate; the rows with more clients also pay for answering their 503s, shown apart."""
    out = []
    for n in sorted({r["n"] for r in rows if r["n"] >= 16}):
        at = {r["clients"]: r for r in rows if r["n"] == n and r["clients"]}
        if slots in at:
            out.append(common.target_row(f"images/s vs in-process, n={n}, saturation ({slots} client(s))", at[slots]["ratio"],
                                         0.8, "x"))
        if most in at and most > slots:
            out.append(common.target_row(f"images/s vs in-process, n={n}, {most} clients (503s unthrottled)",
                                         at[most]["ratio"], 0.8, "x", note="clients ignore Retry-After"))
    busy = [r["busy_p99_ms"] for r in rows if r["busy_p99_ms"] is not None]
    out.append(common.target_row("P99 latency of a 503 (clients > slots)", max(busy) if busy else None, 100.0, " ms",
                                 higher_is_better=False, note="the worst row"))
    for n in sorted({r["n"] for r in rows}):
        at = {r["clients"]: r for r in rows if r["n"] == n and r["clients"]}
        if slots in at and most in at and most > slots and at[slots]["p99_ms"] and at[most]["p99_ms"]:
            out.append(common.target_row(f"P99 accepted, {most} clients / {slots} (saturation), n={n}",
                                         at[most]["p99_ms"] / at[slots]["p99_ms"], 2.0, "x", higher_is_better=False))
    return out


def render(record: dict) -> str:
    m, s = record["model"], record["settings"]
    title = f"Serve: {m['preset']} {m['image_size']}x{m['image_size']} over HTTP, {s['slots']} slot(s)" + (
        " (--quick)" if record["quick"] else "")
    threads = "onnxruntime's default (one per core)" if s["threads"] is None else s["threads"]
    notes = [f"{s['requests_per_client']} requests per client per round, {s['rounds']} interleaved round(s); PNG; "
             "a 503 is counted and the client goes on at once (Retry-After ignored: the harshest load). "
             "'in-process' = FaceGenerator.generate + the same grid/PNG encoding, one call at a time.",
             f"onnxruntime threads (server and in-process): {threads}. The clients share the server's cores (loopback)."]
    out = [common.header(title, record["system"], notes)]
    out.append(common.markdown_table(
        ["Images/request", "Clients", "Requests", "Accepted", "503", "Requests/s", "Images/s", "vs in-process",
         "P50 ms", "P99 ms", "503 P50 ms", "503 P99 ms"],
        [[r["n"], "in-process" if not r["clients"] else r["clients"], r["requests"], r["accepted"], r["busy"],
          r["requests_per_s"], r["images_per_s"], r["ratio"], r["p50_ms"], r["p99_ms"], r["busy_p50_ms"], r["busy_p99_ms"]]
         for r in record["results"]],
    ))
    out += ["", common.targets_table(record["targets"])]
    return "\n".join(out)


if __name__ == "__main__":
    main()
