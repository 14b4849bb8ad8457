"""Self-describing checkpoints: atomic writes, safe loads.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
`torch.load(weights_only=True)`: no unpickling of code, ever. Layout (format_version 1):

    format            "facegan.checkpoint"
    format_version    1
    model_config      dict (ModelConfig)
    train_config      dict (TrainConfig)
    generator         G state_dict
    generator_ema     EMA G state_dict, or None; ema_updates: EMA updates done (decay warm-up)
    discriminator     D state_dict
    optimizer_g/_d    optimizer state_dicts
    scheduler_g/_d    LR scheduler state_dicts
    step, epoch       optimizer steps done; epochs completed
    data_position     {"epoch": e, "batch": b}: the next batch to train on
    rng               {"torch": ByteTensor, "cuda": [ByteTensor...]}
    metrics           last logged metrics (dict of floats)
    attributes        conditional models only: runtime.attributes.summarize of the conditioned labels
                      (names in input order, frequencies, rows, prior), copied into exported models
    facegan_version   str
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import zipfile
from pathlib import Path

import torch

from facegan.runtime import __version__
from facegan.runtime.files import atomic_path

from .errors import CheckpointError

FORMAT = "facegan.checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model_config", "train_config", "generator", "discriminator", "step", "epoch")
# The attribute recipe of conditional checkpoints written before each of these keys existed.
TRAINED_WITHOUT = {"attribute_fake_weight": 0.0, "attribute_balance": False, "attribute_uniform_classes": False}
# What a resume needs beyond REQUIRED (a checkpoint without them still exports).
RESUME_STATE = ("optimizer_g", "optimizer_d", "scheduler_g", "scheduler_d")


def build_checkpoint(
    model_cfg,
    train_cfg,
    *,
    generator: dict,
    discriminator: dict,
    generator_ema: dict | None = None,
    ema_updates: int = 0,
    optimizers: dict | None = None,
    step: int = 0,
    epoch: int = 0,
    batch: int = 0,
    num_images: int = 0,
    rng: dict | None = None,
    metrics: dict | None = None,
    attributes: dict | None = None,
) -> dict:
    """The checkpoint dict, the one place its keys are spelled (the loop, tests and benchmarks use it).

    `optimizers` holds the training state a resume needs: `optimizer_g`, `optimizer_d`,
    `scheduler_g`, `scheduler_d` state dicts; without it the checkpoint exports but cannot resume.
    """
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": dataclasses.asdict(train_cfg),
        "generator": generator,
        "generator_ema": generator_ema,
        "ema_updates": int(ema_updates),
        "discriminator": discriminator,
        "step": int(step),
        "epoch": int(epoch),
        "data_position": {"epoch": int(epoch), "batch": int(batch), "num_images": int(num_images)},
        "metrics": dict(metrics or {}),
        "facegan_version": __version__,
    }
    if optimizers is not None:
        state.update({k: optimizers[k] for k in RESUME_STATE})
    if rng is not None:
        state["rng"] = rng
    if attributes is not None:
        state["attributes"] = attributes
    return state


def save_checkpoint(state: dict, path: Path) -> None:
    """Write `state` (from `build_checkpoint`) to `path` atomically; the previous file survives a crash."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a facegan checkpoint; raise CheckpointError with one clear line if not."""
    path = Path(path)
    if path.is_dir():
        path = resolve_checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives; anything else is foreign or cut short
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or foreign file)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
        first = lines[0] if lines else "unsupported content"
        raise CheckpointError(
            f"{path} is not a safe facegan checkpoint (it would need to unpickle code: {first[:160]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or foreign file: {type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a facegan checkpoint")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {state.get('format_version')!r}; "
            f"this facegan reads version {FORMAT_VERSION}"
        )
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path} is missing {', '.join(missing)}")
    wrong = [f"{k} is {type(state[k]).__name__}, not {_TYPES[k][1]}" for k in _TYPES
             if k in state and not isinstance(state[k], _TYPES[k][0])]
    if wrong:
        raise CheckpointError(f"{path} is a damaged facegan checkpoint: {'; '.join(wrong)}")
    model_cfg = state["model_config"]
    if model_cfg.get("num_attributes", 0) and "conditional_recipe" not in model_cfg:
        state["model_config"] = {**model_cfg, "conditional_recipe": 1}  # written by facegan 0.2.0
    if model_cfg.get("num_attributes", 0):  # what conditional runs of 0.2 and 0.3 trained with, for the keys they lack
        state["train_config"] = {**TRAINED_WITHOUT, **state["train_config"]}
    return state


# What each field must be: anything else is a damaged or hand-edited file, refused in one line
# here rather than failing somewhere deep in training or export with a traceback.
_TYPES = {
    "model_config": (dict, "dict"),
    "train_config": (dict, "dict"),
    "generator": (dict, "dict"),
    "discriminator": (dict, "dict"),
    "generator_ema": ((dict, type(None)), "dict or None"),
    "step": (int, "int"),
    "epoch": (int, "int"),
    "data_position": (dict, "dict"),
}


def generator_weights(ckpt: dict, weights: str = "auto") -> tuple[str, dict]:
    """The generator a checkpoint means to ship: `("ema", state_dict)` or `("raw", state_dict)`.

    "auto" prefers the EMA weights when the run kept them; "ema" insists on them; "raw" takes the
    trained weights.
    """
    ema = ckpt.get("generator_ema")
    if weights == "ema" and ema is None:
        raise CheckpointError("the checkpoint holds no EMA generator weights (trained without EMA); use --weights raw")
    return ("ema", ema) if ema is not None and weights != "raw" else ("raw", ckpt["generator"])


def resolve_checkpoint_path(path: Path) -> Path:
    """A run directory means its checkpoints/last.pt; a file means itself."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.pt"
        if not candidate.is_file():
            raise CheckpointError(f"{path} is a folder without checkpoints/last.pt")
        return candidate
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()






__all__ = ["FORMAT_VERSION", "CheckpointError", "RESUME_STATE", "build_checkpoint", "generator_weights", "load_checkpoint", "resolve_checkpoint_path", "save_checkpoint", "sha256_file"]
