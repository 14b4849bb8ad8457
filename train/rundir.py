"""The run directory: every file a training run writes, named in one place.

    runs/<name>/
        config.json          the resolved config (what --dry-run prints)
        metrics.jsonl        one JSON line per logged step, plus FID lines
        samples/real.png     real images; samples/epoch-NNN.png: the fixed-noise grid after epoch NNN
        samples/attributes-NNN.png   conditional runs: the same faces with each attribute on and off
        directions.json      facegan-directions: one latent direction per attribute, for edits
        checkpoints/last.pt  the latest good state; checkpoints/epoch-NNN.pt: one per epoch (--keep)
        loss.png  progress.gif  real-vs-fake.png  morph.gif  skipped-files.txt

`RunDir(path)` only names things; `create` makes a new run, `check_new` says whether one may be
made there. Metrics are appended, rewound and read only through it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from facegan.runtime import __version__
from facegan.runtime.errors import FaceganError
from facegan.runtime.files import atomic_path

from .config import ModelConfig, TrainConfig

BUILTIN_DATA = ("celeba", "toy-faces")  # --data values that are not folders


def default_run_name(data: str) -> str:
    """`celeba`, `toy-faces`, or the folder's name."""
    return data if data in BUILTIN_DATA else (Path(data).resolve().name or "run")


def resolved_config(model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict:
    """The config as written to config.json and printed by --dry-run."""
    return {"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train_cfg), "facegan_version": __version__}


@dataclasses.dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> RunDir:
        """The run a checkpoint belongs to (runs/<name>/checkpoints/x.pt -> runs/<name>); a folder is itself."""
        checkpoint = Path(checkpoint)
        if checkpoint.is_dir():
            return cls(checkpoint)
        return cls(checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent)

    # -- names ------------------------------------------------------------------------------------
    @property
    def config_json(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def real_png(self) -> Path:
        return self.samples / "real.png"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def loss_png(self) -> Path:
        return self.path / "loss.png"

    @property
    def progress_gif(self) -> Path:
        return self.path / "progress.gif"

    @property
    def real_vs_fake(self) -> Path:
        return self.path / "real-vs-fake.png"

    @property
    def morph_gif(self) -> Path:
        return self.path / "morph.gif"

    @property
    def skipped_files(self) -> Path:
        return self.path / "skipped-files.txt"

    @property
    def directions_json(self) -> Path:
        return self.path / "directions.json"

    def epoch_samples(self, epoch: int) -> Path:
        return self.samples / f"epoch-{epoch:03d}.png"

    def attribute_samples(self, epoch: int) -> Path:
        return self.samples / f"attributes-{epoch:03d}.png"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:03d}.pt"

    def sample_grids(self) -> list[Path]:
        """samples/epoch-NNN.png in epoch order."""
        return _by_epoch(self.samples, ".png")

    def epoch_checkpoints(self) -> list[Path]:
        """checkpoints/epoch-NNN.pt in epoch order."""
        return _by_epoch(self.checkpoints, ".pt")

    # -- a new run --------------------------------------------------------------------------------
    def check_new(self, overwrite: bool) -> None:
        """Raise unless this may become a new run: absent or empty, or a run and `overwrite`.

        Touches nothing, so the CLI can say "exists" at once, before any data is loaded.
        """
        if not (self.path.exists() and any(self.path.iterdir())):
            return
        if not overwrite:
            raise FaceganError(
                f"run directory {self.path} exists; pass --resume {self.path} to continue it, "
                "--overwrite to replace it, or --name for a new one"
            )
        if not self.config_json.is_file() and not self.checkpoints.is_dir():
            raise FaceganError(f"{self.path} does not look like a facegan run directory; refusing to overwrite it")

    def create(self, overwrite: bool) -> None:
        """Make the folder for a new run, emptying an old run there only if `overwrite`.

        Training calls this after its data loaded, so a typo in --data never costs the run that
        --overwrite was going to replace.
        """
        self.check_new(overwrite)
        if self.path.exists() and any(self.path.iterdir()):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
        """config.json, and the folders the run fills."""
        self.samples.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.config_json.write_text(json.dumps(resolved_config(model_cfg, train_cfg), indent=2) + "\n")

    # -- metrics ----------------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")

    def rewind_metrics(self, step: int) -> None:
        """Drop metrics lines logged after `step` (and a torn last line), atomically.

        A run killed between snapshots logged steps its checkpoint does not hold; resuming replays
        them. Without this, metrics.jsonl and loss.png would show those steps twice, once from
        weights that no longer exist.
        """
        if not self.metrics.is_file():
            return
        lines = self.metrics.read_text().splitlines()
        kept = [line for line in lines if (n := _step_of(line)) is not None and n <= step]
        if len(kept) != len(lines):
            with atomic_path(self.metrics) as tmp:
                tmp.write_text("".join(line + "\n" for line in kept))

    def prune(self, keep: int) -> None:
        """Keep the newest `keep` per-epoch checkpoints (0 keeps all); last.pt is never touched."""
        if keep <= 0:
            return
        for old in self.epoch_checkpoints()[:-keep]:
            old.unlink(missing_ok=True)


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def _by_epoch(folder: Path, suffix: str) -> list[Path]:
    # By number, not by name: epoch-1000 sorts before epoch-999.
    files = [p for p in folder.glob(f"epoch-*{suffix}") if p.name[6 : -len(suffix)].isdigit()]
    return sorted(files, key=lambda p: int(p.name[6 : -len(suffix)]))


__all__ = ["RunDir", "default_run_name", "resolved_config"]
