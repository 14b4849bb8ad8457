"""The resume policy: what `--resume` continues from, and which settings it lets change.

    run_dir = resume_run_dir(path, out=out, name=name, overwrite=overwrite)   # the run's own folder
    model_cfg, train_cfg, ckpt = resume_from(path, train_overrides, model_overrides)
    train(model_cfg, train_cfg, run_dir, resume=ckpt)

A resumed run keeps its config and its directory: only config.RESUME_CHANGEABLE settings (how long
and how it runs) may change; a flag that repeats the run's own value is fine, any other is a
usage error, so no flag given with --resume is silently ignored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facegan.runtime.errors import UsageError

from .checkpoint import RESUME_STATE, load_checkpoint
from .config import RESUME_CHANGEABLE, ModelConfig, TrainConfig, from_dict
from .errors import CheckpointError
from .rundir import RunDir

RESUME_NEEDS = (*RESUME_STATE, "data_position")


def resume_run_dir(path: Path, out: Path | None = None, name: str | None = None, overwrite: bool = False) -> Path:
    """The run directory `path` (a run or one of its checkpoints) continues in.

    --out and --name may repeat the run's own parent folder and name, so the original command with
    --resume added works; other values, and --overwrite, are usage errors.
    """
    run = RunDir.of_checkpoint(path).path
    if out is not None and Path(out).expanduser().resolve() != run.parent.resolve():
        raise UsageError(f"--out does not apply to --resume: the run keeps its directory {run} (not under {out})")
    if name is not None and name != run.name:
        raise UsageError(f"--name does not apply to --resume: the run keeps its directory {run} (not {name})")
    if overwrite:
        raise UsageError("--overwrite does not apply to --resume: the run keeps its directory")
    return run


def resume_from(
    path: Path, train_overrides: dict | None = None, model_overrides: dict | None = None
) -> tuple[ModelConfig, TrainConfig, dict]:
    """Configs and checkpoint to continue a run, with the RESUME_CHANGEABLE overrides applied."""
    ckpt = load_checkpoint(path)
    missing = [k for k in RESUME_NEEDS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it holds no {', '.join(missing)} (it can still be exported)")
    try:
        model_cfg = from_dict(ModelConfig, ckpt["model_config"])
        train_cfg = from_dict(TrainConfig, ckpt["train_config"])
        model_cfg.validate()
        train_cfg.validate()
    except (TypeError, ValueError) as e:  # a damaged or hand-edited config: not the user's flags
        raise CheckpointError(f"{path} holds a config this facegan cannot use: {e}") from e
    given = {k: v for k, v in (train_overrides or {}).items() if v is not None}
    # A new length must lie ahead; --epochs alone sets it in passes again (a saved --steps would win).
    if "epochs" in given and "steps" not in given:
        given["steps"] = 0
        if given["epochs"] <= int(ckpt["epoch"]):
            raise UsageError(f"--epochs {given['epochs']} is not beyond the {ckpt['epoch']} epochs this run completed")
    if given.get("steps", 0) and given["steps"] <= int(ckpt["step"]):
        raise UsageError(f"--steps {given['steps']} is not beyond the {ckpt['step']} steps this run has done")
    fixed = [k for k, v in given.items() if k not in RESUME_CHANGEABLE and getattr(train_cfg, k, v) != v]
    fixed += [k for k, v in (model_overrides or {}).items() if v is not None and getattr(model_cfg, k, v) != v]
    if fixed:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(fixed))
        raise UsageError(f"{flags} cannot change when resuming (the run keeps its own config); start a new run instead")
    train_cfg = dataclasses.replace(train_cfg, **{k: v for k, v in given.items() if k in RESUME_CHANGEABLE})
    train_cfg.validate()
    return model_cfg, train_cfg, ckpt


__all__ = ["resume_from", "resume_run_dir"]
