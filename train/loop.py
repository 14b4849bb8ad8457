"""The DCGAN training loop: `train(model_cfg, train_cfg, run_dir)` is what `facegan-train` calls.

It reads top to bottom: devices, data, state, then per batch the step (`step.train_step`: (1)
update D, (2) update G), the non-finite guard, the log line, and per epoch a snapshot. Everything
a run needs to continue lives in its checkpoint (`state.State`), so a run stopped after k steps and
resumed (`resume.resume_from`) ends with the same weights as one that never stopped (on CPU).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from facegan.runtime.errors import FaceganError, UsageError, one_line
from facegan.runtime.latents import latents

from . import distributed, snapshot, step
from .collapse import CollapseDetector, Event
from .conditioning import Conditioning, check_resumed, conditioning
from .config import ModelConfig, TrainConfig
from .data import DataSpec, ImageData, load_data, load_labels, report_skipped
from .devices import autocast_for, pick_device
from .errors import CheckpointError, DataError, Interrupted
from .guard import NonFiniteGuard
from .interrupt import StopFlag
from .progress import Progress, metrics_text
from .rundir import RunDir
from .schedule import fit_schedules
from .sampling import generate, sampling_generator, save_grid
from .state import State, build_state


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # optimizer steps done in total
    epoch: int  # epochs completed
    last_checkpoint: Path
    checkpoint_step: int  # the step last_checkpoint holds (behind `step` if the run ended blown up)
    metrics: dict = field(default_factory=dict)  # the last metrics line
    data: ImageData | None = None  # the training data, for after-run pictures


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: dict | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
    on_epoch: Callable[[State, ImageData], None] | None = None,
) -> TrainResult:
    """Train (or continue, given a loaded checkpoint as `resume`) and return where things are.

    A new run creates `run_dir` once its data has loaded (`overwrite` lets it replace an earlier
    run there); a resumed run writes into the `run_dir` it came from. `on_epoch(state, data)` runs
    on rank 0 after each epoch's snapshot (the CLI's FID and pictures).
    """
    device, info = _devices(train_cfg)
    run, main = RunDir(run_dir), info.is_main
    say = echo if main else (lambda _msg: None)

    # Data: rank 0 builds the decode cache, the others then read it
    spec = _data_spec(model_cfg, train_cfg, run)
    data = _load_data_ranked(spec, info, show=main and not quiet)
    cond = _conditioning(train_cfg, spec, data)  # a conditional run: the chosen labels of every image
    if cond is not None:
        model_cfg = dataclasses.replace(model_cfg, num_attributes=len(cond.names))
    if resume is not None:
        check_resumed(cond, resume)
    batch_per_rank = train_cfg.batch_size // info.world_size
    batches_per_epoch = data.batches_per_epoch(batch_per_rank, info.world_size)  # DataError if < 1
    _check_same_data(resume, data)
    total_steps = train_cfg.steps if train_cfg.steps > 0 else train_cfg.epochs * batches_per_epoch
    num_epochs = math.ceil(total_steps / batches_per_epoch)
    if resume is None:  # warm-up and EMA horizon must fit in the run (a resumed run's already do)
        train_cfg, notes = fit_schedules(train_cfg, total_steps)
        for note in notes:
            say(note)
    if main:  # the data is usable: only now may a new run take (or --overwrite replace) its directory
        if resume is None:
            run.create(overwrite)
        skipped = report_skipped(data, run.skipped_files)
        if skipped:
            say(skipped)

    # State: seeded, or the checkpoint's. The noise is seeded per rank after the data loaded, so a
    # cache miss (whose DataLoader draws from the global RNG) and a hit train alike.
    torch.manual_seed(train_cfg.seed + info.rank)  # weights are seeded separately, by build_models
    s = build_state(model_cfg, train_cfg, device, total_steps)
    s.num_images, s.conditioning = len(data), cond
    if resume is not None:
        _load_resumed(s, resume, run, info)
    nets = step.step_networks(s, info)
    fixed_noise = torch.from_numpy(latents(train_cfg.seed, train_cfg.sample_count, model_cfg.latent_dim)).to(device)
    fixed_attributes = None if cond is None else cond.draw(len(fixed_noise), train_cfg.seed, device)
    if main:
        run.write_config(model_cfg, train_cfg)
        if not run.real_png.exists():
            save_grid(data.sample(min(train_cfg.sample_count, len(data))).float() / 255.0, run.real_png)
    say(f"data: {data.description}")
    if cond is not None:
        say(f"conditioned on {len(cond.names)} attributes: " + ", ".join(
            f"{name} {freq:.0%}" for name, freq in zip(cond.names, cond.summary["frequencies"])))
    say(f"training {train_cfg.preset} on {device.type} x{info.world_size}: "
        f"{total_steps} steps ({batches_per_epoch} per epoch), from step {s.step}")

    guard = NonFiniteGuard(run, info, say)
    collapse = CollapseDetector()
    real_spread = data.take(np.linspace(0, len(data) - 1, min(len(data), len(fixed_noise))).astype(int)).float() / 255.0

    def warn(event: Event | None) -> None:  # said once per kind, and kept in metrics.jsonl
        if event is not None and main:
            say(f"warning: {event.message}")
            run.append_metrics(event.to_metrics())
    checkpoint_step = s.step if resume is not None else None  # the step last.pt holds
    window_images, window_start = 0, time.perf_counter()
    progress = Progress("epoch {task.fields[epoch]}/" + str(num_epochs), main and not quiet, total=total_steps,
                        done=s.step, fields={"epoch": 0, "stats": ""}, echo=say)
    with StopFlag() as stop, progress:
        while s.step < total_steps:
            order = data.epoch_indices(s.epoch, batch_per_rank, train_cfg.seed, info.rank, info.world_size)[s.batch:]
            for real_u8, indices in zip(data.serve(order, train_cfg.seed), order):
                # (1) Update D, (2) Update G: one step on this batch (and its labels, when conditional)
                result = step.train_step(s, real_u8, nets, None if cond is None else cond.batch(indices))

                # Guard: a non-finite loss skips the step; MAX_BAD_STEPS in a row restore last.pt
                if guard.check(s, result):
                    break
                window_images += result.num_images * info.world_size

                # Log
                done = s.step >= total_steps
                if s.step % train_cfg.log_every == 0 or done or stop.requested:
                    s.metrics = _metrics(s, result, window_images / max(time.perf_counter() - window_start, 1e-9))
                    window_images, window_start = 0, time.perf_counter()
                    if main:
                        run.append_metrics(s.metrics)
                    warn(collapse.observe_step(s.step, result.real_logits, result.fake_logits,
                                               result.loss_g_adversarial.item()))
                    progress.log(f"step {s.step}/{total_steps} epoch {min(s.epoch + 1, num_epochs)}/{num_epochs}: "
                                 f"{metrics_text(s.metrics)}")
                progress.update(s.step, epoch=s.epoch + 1, stats=metrics_text(s.metrics))
                if done or stop.requested:
                    break

            # Save snapshot at the epoch's end (its time is not training time: images/s leaves it out)
            if s.batch >= batches_per_epoch:
                s.epoch, s.batch = s.epoch + 1, 0
                pause_start = time.perf_counter()
                if snapshot.save_snapshot(s, run, fixed_noise, info, say, epoch_end=True, healthy=guard.healthy):
                    checkpoint_step = s.step
                warn(collapse.observe_samples(s.step, generate(sampling_generator(s), fixed_noise, model_cfg.value_range,
                                                                   fixed_attributes),
                                              real_spread))
                if on_epoch is not None and main:
                    on_epoch(s, data)
                window_start += time.perf_counter() - pause_start
            if stop.requested:
                snapshot.save_snapshot(s, run, fixed_noise, info, say, epoch_end=False, healthy=guard.healthy)
                raise Interrupted(f"interrupted at step {s.step}; resume with --resume {run.path}")

        # Save the final snapshot. Decided from state every rank shares (not from files, which other
        # nodes may not see), since a snapshot is a collective operation. A run ending in a bad
        # streak keeps the last good checkpoint; with none at all, finite weights beat nothing.
        if s.step != checkpoint_step:
            healthy = guard.healthy or checkpoint_step is None
            if snapshot.save_snapshot(s, run, fixed_noise, info, say, epoch_end=False, healthy=healthy):
                checkpoint_step = s.step
    distributed.cleanup(info)
    if checkpoint_step is None:
        raise FaceganError(f"no checkpoint written: the weights were not finite at any snapshot (run directory {run.path})")
    return TrainResult(run.path, s.step, s.epoch, run.last, checkpoint_step, s.metrics, data)


def _devices(cfg: TrainConfig) -> tuple[torch.device, distributed.DistInfo]:
    """This process's device and place among torchrun's processes; refuses what cannot run."""
    device = pick_device(cfg.device)
    info = distributed.setup(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if info.enabled and (cfg.loss == "wgan-gp" or cfg.r1_gamma > 0):
        raise UsageError("--loss wgan-gp and --r1-gamma are not supported with torchrun yet (DDP cannot "
                         "double-backward); use --r1-gamma 0 or one process")
    autocast_for(device, cfg.amp)  # refuses --amp where it cannot run now, not after the data loaded
    if cfg.batch_size % info.world_size:
        raise FaceganError(f"--batch-size {cfg.batch_size} is not divisible by {info.world_size} processes")
    return device, info


def _data_spec(model_cfg: ModelConfig, cfg: TrainConfig, run: RunDir) -> DataSpec:
    return DataSpec(
        source=cfg.data,
        image_size=model_cfg.image_size,
        crop=cfg.crop,
        cache=cfg.cache,
        cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else run.path.parent / ".cache",
        workers=cfg.workers,
        seed=cfg.seed,
        toy_faces=cfg.toy_faces,
        labels=Path(cfg.labels) if cfg.labels else None,
    )


def _conditioning(cfg: TrainConfig, spec: DataSpec, data: ImageData) -> Conditioning | None:
    """The labels --condition names, row i for image i of `data`; None for an unconditional run."""
    if not cfg.condition:
        if cfg.labels:
            raise UsageError("--labels is read only for --condition NAMES (or all); add it, or drop --labels")
        return None
    return conditioning(cfg.condition, load_labels(spec, data))


def _load_data_ranked(spec: DataSpec, info: distributed.DistInfo, show: bool) -> ImageData:
    """Rank 0 loads (and on first use decodes into the cache) behind a progress bar; then the rest."""
    data = None
    if info.is_main:
        with Progress("preparing images", enabled=show, transient=True) as bar:
            data = load_data(spec, progress=bar.update, report=False)
    distributed.barrier(info)
    return data if data is not None else load_data(spec, report=False)


def _check_same_data(resume: dict | None, data: ImageData) -> None:
    """The position (epoch, batch) of a checkpoint only means something on the same data."""
    expected = int((resume or {}).get("data_position", {}).get("num_images", 0))
    if expected and expected != len(data):
        raise DataError(
            f"the data changed since the checkpoint: it was {expected} images, now {data.description}; "
            "resume needs the same data"
        )


def _load_resumed(s: State, ckpt: dict, run: RunDir, info: distributed.DistInfo) -> None:
    try:
        s.load(ckpt)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:  # a damaged or mismatched checkpoint
        raise CheckpointError(f"the checkpoint cannot be resumed: {type(e).__name__}: {one_line(e, 200)}") from e
    if info.is_main:
        run.rewind_metrics(s.step)
    if info.enabled:  # only rank 0's RNG was saved: give each rank its own stream again
        torch.manual_seed(s.train_cfg.seed + info.rank + 1_000_003 * s.step)


def _metrics(s: State, result: step.StepResult, images_per_s: float) -> dict:
    d_real, d_fake = result.d_outputs()
    return {
        "step": s.step,
        "epoch": s.epoch + 1,  # 1-based epoch of this step, as in samples/epoch-NNN.png
        "loss_d": result.loss_d.item(),
        "loss_g": result.loss_g.item(),
        "d_real": d_real,
        "d_fake": d_fake,
        "images_per_s": images_per_s,
        "lr_g": s.opt_g.param_groups[0]["lr"],
        "lr_d": s.opt_d.param_groups[0]["lr"],
    }


__all__ = ["TrainResult", "train"]
