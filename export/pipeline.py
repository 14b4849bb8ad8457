"""The export flow both formats share: build metadata, stage, verify, publish.

A format supplies its converted artifact, a `save(artifact, metadata, path)` and a parity check
`verify(path, loaded, ...)`; this module does the rest the same way for both, so an artifact is only
ever published at its final path after it passed parity, with the parity summary inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from facegan.runtime.metadata import build_metadata

from . import parity
from .core import ExportResult, LoadedGenerator, publish, staged_file


def write_verified(
    fmt: str,
    artifact: object,
    loaded: LoadedGenerator,
    out_path: Path,
    *,
    save: Callable[[object, dict[str, str], Path], None],
    check: Callable[..., dict],
    dtype: str,
    output: str,
    versions: dict[str, str],
    verify: bool,
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    atol: float | None,
    export_s: float,
) -> ExportResult:
    """Save `artifact` to a temp file, check parity (unless not `verify`), then rename into place.

    On a parity failure the report is still written beside `out_path` for diagnosis, and
    ParityMismatchError propagates with no artifact published.
    """
    meta_kwargs = dict(
        model_config=loaded.model_config, preset=loaded.preset, weights=loaded.weights,
        train_step=loaded.train_step, train_epoch=loaded.train_epoch,
        checkpoint_sha256=loaded.checkpoint_sha256, output_dtype="uint8" if output == "uint8" else "float32",
        dtype=dtype, versions=versions,
    )
    start = time.perf_counter()
    with staged_file(out_path) as tmp:
        save(artifact, build_metadata(**meta_kwargs), tmp)
        export_s += time.perf_counter() - start
        report, verify_s = None, 0.0
        if verify:
            start = time.perf_counter()
            try:
                report = check(tmp, loaded, batch_sizes=batch_sizes, seeds=seeds, atol=atol)
            except parity.ParityMismatchError as e:
                e.report["artifact"] = out_path.name
                parity.write_report(out_path, e.report)
                raise
            report["artifact"] = out_path.name
            verify_s = time.perf_counter() - start
            # Only the metadata changes: the artifact that passed parity is written again unchanged.
            save(artifact, build_metadata(**meta_kwargs, parity=parity.summary(report)), tmp)
        metadata = build_metadata(**meta_kwargs, **({"parity": parity.summary(report)} if report else {}))
        publish(tmp, out_path)
    parity.write_report(out_path, report)
    return ExportResult(out_path, fmt, metadata, report, export_s, verify_s)
