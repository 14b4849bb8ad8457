"""Where artifacts go and how they get there: naming, destination checks, staging, publishing.

    export_artifacts(checkpoint, {path: stage_onnx}, options, weights="auto", force=False)

checks every destination first (an existing artifact needs `force`, the folder must be writable),
loads the checkpoint once, lets each format stage its artifact in memory (`stage`: convert, embed
the metadata, check parity, embed the parity summary) and only when all of them passed writes them,
with their reports, all or nothing (`publish`). Nothing is created at a destination before that,
not even its folder, so a failed export leaves no half-written or wrong artifact, nor an empty
`--out` folder. A parity failure leaves `<artifact>.parity-failed.json` beside the path, to
diagnose it; an artifact already at the path, and its report, stay as they were.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from facegan.runtime.files import atomic_path, atomic_write_text

from .errors import ExportError, ParityMismatchError
from .generator import ExportModule, LoadedGenerator, build_export_module, example_inputs, load_generator
from .metadata import artifact_metadata
from .options import FORMATS, ExportOptions, check_choice
from .parity import report_json, summary

SUFFIXES = {"onnx": "-g.onnx", "torchscript": "-g.ts.pt"}  # one per FORMATS entry


@dataclass(frozen=True)
class ExportResult:
    """What an export produced."""

    path: Path  # the artifact, at its final path
    format: str  # "onnx" or "torchscript"
    metadata: dict  # the facegan.* key/value map written into the artifact
    parity: dict | None  # the full parity report, or None with verify=False
    export_s: float  # seconds spent converting and serialising the artifact
    verify_s: float  # seconds spent on parity checks (0 with verify=False)
    notes: tuple[str, ...] = ()  # what the user should hear about this export (LoadedGenerator.notes)


@dataclass(frozen=True)
class StagedArtifact:
    """An artifact ready to publish: its bytes, verified, and the result it will report."""

    result: ExportResult
    data: bytes


# stager(loaded, final path, options) -> StagedArtifact: a format's `stage_onnx` / `stage_torchscript`
Stager = Callable[[LoadedGenerator, Path, ExportOptions], StagedArtifact]


def run_name(checkpoint: Path) -> str:
    """The name artifacts are derived from: the run directory's name, else the checkpoint stem.

    `run/checkpoints/last.pt` and `run/` are "run"; another file in `run/checkpoints/`, e.g.
    `snapshot-000120.pt`, is "run-snapshot-000120" so exports of two snapshots never collide.
    """
    checkpoint = Path(checkpoint).resolve()  # `last.pt` typed inside checkpoints/ is the same file
    if checkpoint.is_dir():
        return checkpoint.name
    if checkpoint.parent.name == "checkpoints":
        run = checkpoint.parent.parent.name
        return run if checkpoint.stem == "last" else f"{run}-{checkpoint.stem}"
    return checkpoint.stem


def default_artifact_path(checkpoint: Path, fmt: str, out_dir: Path | None = None) -> Path:
    """`<run>-g.onnx` / `<run>-g.ts.pt`, next to the run directory (or the file) unless `out_dir`."""
    check_choice("format", fmt, FORMATS)
    checkpoint = Path(checkpoint).resolve()
    if out_dir is None:
        if checkpoint.is_dir():
            out_dir = checkpoint.parent
        elif checkpoint.parent.name == "checkpoints":
            out_dir = checkpoint.parent.parent.parent
        else:
            out_dir = checkpoint.parent
    return Path(out_dir) / (run_name(checkpoint) + SUFFIXES[fmt])


def parity_report_path(artifact: Path, passed: bool = True) -> Path:
    """Where the parity report of `artifact` is written: `<artifact>.parity.json`.

    A failed check writes `<artifact>.parity-failed.json` instead, so the report of an artifact
    already at that path (which a failed overwrite leaves in place) keeps describing it.
    """
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + (".parity.json" if passed else ".parity-failed.json"))


def check_destination(path: Path, force: bool) -> None:
    """Refuse an existing artifact (unless force) or a folder we could not write; create nothing."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"output path {path} is a folder; give a file name")
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; pass --force to overwrite it")
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise ExportError(f"cannot write to {path.parent}: {existing} is not a folder")
    try:
        # Probe with a real file: permission bits lie on some file systems and for root. The probe
        # goes in the nearest folder that exists, since the destination's is made only to publish.
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"cannot write to {path.parent}: {e.strerror or e}") from e


def stage(
    fmt: str,
    loaded: LoadedGenerator,
    path: Path,
    options: ExportOptions,
    *,
    convert: Callable[[ExportModule, tuple], object],
    serialize: Callable[[object, dict[str, str]], bytes],
    check: Callable[..., dict],
    versions: dict[str, str],
) -> StagedArtifact:
    """Convert, serialise with metadata, check parity (unless not `options.verify`), in memory.

    `convert(module, example_inputs)` makes the format's object, `serialize(object, metadata)` its bytes,
    `check(data, loaded, artifact=name, batch_sizes=, seeds=, atol=)` its parity report. On a parity
    failure the report is written as `<path>.parity-failed.json` and ParityMismatchError propagates.
    """
    start = time.perf_counter()
    artifact = convert(build_export_module(loaded, options.dtype, options.output), example_inputs(loaded))
    metadata = artifact_metadata(loaded, options, versions)
    data = serialize(artifact, metadata)
    export_s = time.perf_counter() - start
    report, verify_s = None, 0.0
    if options.verify:
        start = time.perf_counter()
        try:
            report = check(data, loaded, artifact=path.name, batch_sizes=options.batch_sizes,
                           seeds=options.seeds, atol=options.atol)
        except ParityMismatchError as e:
            atomic_write_text(parity_report_path(path, passed=False), report_json(e.report))
            raise
        verify_s = time.perf_counter() - start
        # Only the metadata changes: the artifact that passed parity is serialised again unchanged.
        metadata = artifact_metadata(loaded, options, versions, parity=summary(report))
        data = serialize(artifact, metadata)
    return StagedArtifact(ExportResult(path, fmt, metadata, report, export_s, verify_s, loaded.notes), data)


def publish(staged: Sequence[StagedArtifact]) -> list[ExportResult]:
    """Write every staged artifact and its `.parity.json`; the renames come only after all writes.

    A stale `.parity-failed.json` goes; after `--no-verify` so does an earlier `.parity.json`,
    which would describe another file.
    """
    with contextlib.ExitStack() as stack:  # each atomic_path renames on a clean exit, removes on error
        for s in staged:
            stack.enter_context(atomic_path(s.result.path)).write_bytes(s.data)
            if s.result.parity is not None:
                report = stack.enter_context(atomic_path(parity_report_path(s.result.path)))
                report.write_text(report_json(s.result.parity), encoding="utf-8")
    for s in staged:
        parity_report_path(s.result.path, passed=False).unlink(missing_ok=True)
        if s.result.parity is None:
            parity_report_path(s.result.path).unlink(missing_ok=True)
    return [s.result for s in staged]


def export_artifacts(
    checkpoint: Path, stagers: Mapping[Path, Stager], options: ExportOptions, *, weights: str, force: bool
) -> list[ExportResult]:
    """Export the generator of `checkpoint` to every path with its stager, all or nothing."""
    for path in stagers:  # before the slow part: an existing artifact needs force
        check_destination(path, force)
    loaded = load_generator(checkpoint, weights)
    return publish([stager(loaded, Path(path), options) for path, stager in stagers.items()])


__all__ = [
    "SUFFIXES", "ExportResult", "StagedArtifact", "Stager", "check_destination", "default_artifact_path",
    "export_artifacts", "parity_report_path", "publish", "run_name", "stage",
]
