"""The export flow both formats share: build metadata, stage, verify, publish.

A format supplies its converted artifact, a `save(artifact, metadata, path)` and a parity check
`verify(path, loaded, ...)`; this module does the rest the same way for both, so an artifact is only
ever published at its final path after it passed parity, with the parity summary inside it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from facegan.runtime.metadata import build_metadata

from . import parity
from .core import ExportResult, LoadedGenerator, check_destination, parity_report_path, publish, staged_file


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

    On a parity failure the report is written beside `out_path` as `<name>.parity-failed.json`
    for diagnosis, and ParityMismatchError propagates with no artifact published (an artifact
    already at `out_path`, and its report, stay as they were).
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
                report = check(tmp, loaded, batch_sizes=batch_sizes, seeds=seeds, atol=atol, name=out_path.name)
            except parity.ParityMismatchError as e:
                parity.write_report(out_path, e.report)  # as <artifact>.parity-failed.json
                raise
            verify_s = time.perf_counter() - start
            # Only the metadata changes: the artifact that passed parity is written again unchanged.
            save(artifact, build_metadata(**meta_kwargs, parity=parity.summary(report)), tmp)
        metadata = build_metadata(**meta_kwargs, **({"parity": parity.summary(report)} if report else {}))
        publish(tmp, out_path)
    parity.write_report(out_path, report)
    return ExportResult(out_path, fmt, metadata, report, export_s, verify_s)


def export_all(
    exporters: dict[str, Callable[..., ExportResult]],
    checkpoint: Path,
    paths: dict[str, Path],
    **options,
) -> dict[str, ExportResult]:
    """Export several formats all or nothing: each to a staging folder beside its final path, and
    only when every one passed parity are they moved into place (with their reports).

    `exporters[fmt](checkpoint, path, **options)` is `export_onnx` / `export_torchscript` (or a
    partial of it). A failure of any format leaves every final path as it was; a parity failure
    still leaves `<artifact>.parity-failed.json` beside its final path, to diagnose it.
    """
    for final in paths.values():  # before anything is staged: an existing artifact needs force
        check_destination(final, bool(options.get("force", False)))
    staging: dict[Path, Path] = {}  # final folder -> its staging folder
    try:
        for final in paths.values():
            if final.parent not in staging:
                staging[final.parent] = Path(tempfile.mkdtemp(prefix=".facegan-export-", dir=final.parent))
        staged: dict[str, ExportResult] = {}
        for fmt, final in paths.items():
            try:
                staged[fmt] = exporters[fmt](checkpoint, staging[final.parent] / final.name, **{**options, "force": True})
            except parity.ParityMismatchError:
                failed = parity_report_path(staging[final.parent] / final.name, passed=False)
                if failed.exists():
                    os.replace(failed, parity_report_path(final, passed=False))
                raise
        results = {}
        for fmt, final in paths.items():
            publish(staged[fmt].path, final)
            parity.write_report(final, staged[fmt].parity)
            results[fmt] = dataclasses.replace(staged[fmt], path=final)
        return results
    finally:
        for folder in staging.values():
            shutil.rmtree(folder, ignore_errors=True)
