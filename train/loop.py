"""The DCGAN training loop: run directories, the step, logging, snapshots and exact resume.

`train(model_cfg, train_cfg, run_dir)` is what `facegan-train` calls. Everything it needs to
continue lives in the checkpoint, so `resume_from(checkpoint)` rebuilds the same state and a run
stopped after k steps and resumed ends with the same weights as one that never stopped (on CPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision.utils import save_image

from facegan.runtime import __version__
from facegan.runtime.errors import FaceganError, UsageError
from facegan.runtime.latents import latents

from . import distributed, losses
from .checkpoint import build_checkpoint, load_checkpoint, save_checkpoint
from .config import RESUME_CHANGEABLE, ModelConfig, TrainConfig, from_dict
from .data import DataSpec, ImageData, load_data, normalize, report_skipped
from .ema import EMA
from .errors import CheckpointError, DataError, Interrupted
from .models import Discriminator, Generator, build_models
from .schedule import make_scheduler

MAX_BAD_STEPS = 3  # non-finite losses in a row before restoring the last good checkpoint


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # optimizer steps done in total
    epoch: int  # epochs completed
    last_checkpoint: Path
    checkpoint_step: int  # the step last_checkpoint holds (behind `step` if the run ended blown up)
    metrics: dict = field(default_factory=dict)  # the last metrics line
    data: ImageData | None = None  # the training data, for after-run pictures


# ---------------------------------------------------------------------------------------------
# Run directories


def default_run_name(data: str) -> str:
    """`celeba`, `toy-faces`, or the folder's name."""
    return data if data in ("celeba", "toy-faces") else (Path(data).resolve().name or "run")


def check_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Raise unless `run_dir` may become a new run: absent or empty, or a run and `overwrite`.

    Touches nothing, so the CLI can say "exists" at once, before any data is loaded.
    """
    run_dir = Path(run_dir)
    if not (run_dir.exists() and any(run_dir.iterdir())):
        return
    if not overwrite:
        raise FaceganError(
            f"run directory {run_dir} exists; pass --resume {run_dir} to continue it, "
            "--overwrite to replace it, or --name for a new one"
        )
    if not (run_dir / "config.json").is_file() and not (run_dir / "checkpoints").is_dir():
        raise FaceganError(f"{run_dir} does not look like a facegan run directory; refusing to overwrite it")


def prepare_run_dir(out: Path, name: str, overwrite: bool) -> Path:
    """Create runs/<name>/ for a new run, emptying an old run there only if `overwrite`.

    `train` calls this after its data loaded, so a typo in --data never costs the run that
    --overwrite was going to replace.
    """
    run_dir = Path(out) / name
    check_run_dir(run_dir, overwrite)
    if run_dir.exists() and any(run_dir.iterdir()):
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory a checkpoint belongs to (runs/<name>/checkpoints/x.pt -> runs/<name>)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        return checkpoint
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def resolved_config(model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict:
    """The config as written to config.json and printed by --dry-run."""
    return {"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train_cfg), "facegan_version": __version__}


# ---------------------------------------------------------------------------------------------
# Devices and small pure helpers


def pick_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is missing is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FaceganError("--device cuda asked for, but torch sees no CUDA device")
    if name == "mps" and not torch.backends.mps.is_available():
        raise FaceganError("--device mps asked for, but MPS is not available")
    return torch.device(name)


def autocast_for(device: torch.device, amp: bool):
    """The mixed-precision context of the step: bf16 autocast on CUDA or CPU with --amp, else none.

    bf16 keeps fp32's exponent range, so GAN losses need no gradient scaler. On a CPU with bf16
    instructions (AVX512-BF16, AMX) oneDNN runs the convolutions in bf16: the dcgan training step
    measured 1.7x eager on the 2-core AMD EPYC (1.9x with channels_last). Elsewhere bf16 is
    emulated and slower: a speed opt-in to measure (benchmarks/bench_train.py) before relying on it.
    """
    if not amp:
        return nullcontext()
    if device.type not in ("cuda", "cpu"):
        raise FaceganError(f"--amp runs on CUDA or the CPU, not on {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def steps_total(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """Optimizer steps the run will make: --steps when given, else all epochs."""
    return cfg.steps if cfg.steps > 0 else cfg.epochs * batches_per_epoch


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _is_finite(*values: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


# ---------------------------------------------------------------------------------------------
# Training state


@dataclass
class State:
    """Everything that changes during training, i.e. what a checkpoint holds."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    g: Generator
    d: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    ema: EMA | None
    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs completed
    batch: int = 0  # next batch within `epoch`
    num_images: int = 0  # size of the data set: a resume must find the same data
    metrics: dict = field(default_factory=dict)

    def to_checkpoint(self) -> dict:
        return build_checkpoint(
            self.model_cfg,
            self.train_cfg,
            generator=self.g.state_dict(),
            discriminator=self.d.state_dict(),
            generator_ema=self.ema.module.state_dict() if self.ema else None,
            ema_updates=self.ema.num_updates if self.ema else 0,
            optimizers={
                "optimizer_g": self.opt_g.state_dict(),
                "optimizer_d": self.opt_d.state_dict(),
                "scheduler_g": self.sched_g.state_dict(),
                "scheduler_d": self.sched_d.state_dict(),
            },
            step=self.step,
            epoch=self.epoch,
            batch=self.batch,
            num_images=self.num_images,
            rng=rng_state(),
            metrics=self.metrics,
        )

    def load(self, ckpt: dict) -> None:
        self.g.load_state_dict(ckpt["generator"])
        self.d.load_state_dict(ckpt["discriminator"])
        self.opt_g.load_state_dict(ckpt["optimizer_g"])
        self.opt_d.load_state_dict(ckpt["optimizer_d"])
        self.sched_g.load_state_dict(ckpt["scheduler_g"])
        self.sched_d.load_state_dict(ckpt["scheduler_d"])
        if self.ema is not None and ckpt.get("generator_ema") is not None:
            self.ema.load_state_dict(ckpt["generator_ema"], ckpt.get("ema_updates", 0))
        self.step = int(ckpt["step"])
        self.epoch = int(ckpt["data_position"]["epoch"])
        self.batch = int(ckpt["data_position"]["batch"])
        self.metrics = dict(ckpt.get("metrics") or {})
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])


def build_state(model_cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device, total_steps: int) -> State:
    g, d = build_models(model_cfg, train_cfg.seed)
    g, d = g.to(device), d.to(device)
    if train_cfg.channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    betas = (train_cfg.beta1, train_cfg.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=train_cfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=train_cfg.lr_d, betas=betas)
    sched = dict(schedule=train_cfg.lr_schedule, warmup_steps=train_cfg.warmup_steps)
    g_steps = max(1, total_steps // train_cfg.n_critic)  # G steps once per n_critic D steps
    return State(
        model_cfg,
        train_cfg,
        g,
        d,
        opt_g,
        opt_d,
        make_scheduler(opt_g, total_steps=g_steps, **sched),
        make_scheduler(opt_d, total_steps=total_steps, **sched),
        EMA(g, train_cfg.ema) if train_cfg.ema > 0 else None,
    )




RESUME_NEEDS = ("optimizer_g", "optimizer_d", "scheduler_g", "scheduler_d", "data_position")


def resume_from(
    path: Path, train_overrides: dict | None = None, model_overrides: dict | None = None
) -> tuple[ModelConfig, TrainConfig, dict]:
    """Configs and checkpoint to continue a run; only RESUME_CHANGEABLE settings may change.

    Raises ValueError naming the flags that would change anything else (a flag that repeats the
    run's own value is fine), so no flag given with --resume is silently ignored.
    """
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
        raise CheckpointError(f"{path} holds a config this facegan cannot use: {e}") from None
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


# ---------------------------------------------------------------------------------------------
# The loop


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

    A new run creates `run_dir` once its data has loaded (`prepare_run_dir`; `overwrite` lets it
    replace an earlier run there); a resumed run writes into the `run_dir` it came from.
    """
    device = pick_device(train_cfg.device)
    dist_info = distributed.setup(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    if dist_info.enabled and train_cfg.loss == "wgan-gp":
        raise FaceganError("--loss wgan-gp is not supported with torchrun yet (DDP cannot double-backward)")
    autocast = autocast_for(device, train_cfg.amp)
    if train_cfg.batch_size % dist_info.world_size:
        raise FaceganError(f"--batch-size {train_cfg.batch_size} is not divisible by {dist_info.world_size} processes")
    run_dir = Path(run_dir)
    main = dist_info.is_main
    say = echo if main else (lambda _msg: None)
    torch.manual_seed(train_cfg.seed + dist_info.rank)  # per-rank noise; weights are seeded separately

    # Data: rank 0 builds the decode cache, the others then read it.
    spec = DataSpec(
        source=train_cfg.data,
        image_size=model_cfg.image_size,
        crop=train_cfg.crop,
        cache=train_cfg.cache,
        cache_dir=Path(train_cfg.cache_dir) if train_cfg.cache_dir else run_dir.parent / ".cache",
        workers=train_cfg.workers,
        seed=train_cfg.seed,
        toy_faces=train_cfg.toy_faces,
    )
    data = _load_data_ranked(spec, dist_info, show=not quiet and _is_terminal())
    batch_per_rank = train_cfg.batch_size // dist_info.world_size
    batches_per_epoch = data.batches_per_epoch(batch_per_rank, dist_info.world_size)  # DataError if < 1
    expected = int((resume or {}).get("data_position", {}).get("num_images", 0))
    if expected and expected != len(data):  # the position (epoch, batch) only means something on the same data
        raise DataError(
            f"the data changed since the checkpoint: it was {expected} images, now {data.description}; "
            "resume needs the same data"
        )
    if main:  # the data is usable: only now may a new run take (or --overwrite replace) its directory
        if resume is None:
            prepare_run_dir(run_dir.parent, run_dir.name, overwrite)
        skipped = report_skipped(data, run_dir)
        if skipped:
            say(skipped)
    total_steps = steps_total(train_cfg, batches_per_epoch)

    s = build_state(model_cfg, train_cfg, device, total_steps)
    s.num_images = len(data)
    if resume is not None:
        try:
            s.load(resume)
        except (KeyError, RuntimeError, ValueError, TypeError) as e:  # a damaged or mismatched checkpoint
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"the checkpoint cannot be resumed: {type(e).__name__}: {first}") from None
        if main:
            rewind_metrics(run_dir / "metrics.jsonl", s.step)
        if dist_info.enabled:  # only rank 0's RNG was saved: give each rank its own stream again
            torch.manual_seed(train_cfg.seed + dist_info.rank + 1_000_003 * s.step)
    g_train, d_train = _wrap(s.g, train_cfg, dist_info, device), _wrap(s.d, train_cfg, dist_info, device)
    fixed_noise = torch.from_numpy(latents(train_cfg.seed, train_cfg.sample_count, model_cfg.latent_dim)).to(device)
    value_range = model_cfg.value_range

    if main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(resolved_config(model_cfg, train_cfg), indent=2) + "\n")
        if not (run_dir / "samples" / "real.png").exists():
            real = data.sample(min(train_cfg.sample_count, len(data)))
            save_image(real.float() / 255.0, run_dir / "samples" / "real.png", nrow=_nrow(len(real)))
    say(f"data: {data.description}")
    say(
        f"training {train_cfg.preset} on {device.type} x{dist_info.world_size}: "
        f"{total_steps} steps ({batches_per_epoch} per epoch), from step {s.step}"
    )

    stop = _StopFlag()
    metrics_file = run_dir / "metrics.jsonl"
    bad_steps = 0
    restored_steps: list[int] = []  # steps the guard rails restored to, in order
    checkpoint_step = s.step if resume is not None else None  # the step last.pt holds
    window_images, window_start = 0, time.perf_counter()
    progress = _Progress(main and not quiet, total_steps, s.step, math.ceil(total_steps / batches_per_epoch), say)

    with stop, progress:
        while s.step < total_steps:
            batches = data.batches(s.epoch, batch_per_rank, train_cfg.seed, s.batch, dist_info.rank, dist_info.world_size)
            for real_u8 in batches:
                real = normalize(real_u8.to(device, non_blocking=True), value_range)
                if train_cfg.channels_last:
                    real = real.contiguous(memory_format=torch.channels_last)
                n = real.shape[0]

                # (1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss)
                noise = torch.randn(n, model_cfg.latent_dim, device=device)
                real_target, fake_target = losses.d_targets(n, train_cfg.label_smoothing, train_cfg.label_noise, device)
                with autocast:
                    fake = g_train(noise)
                    real_logits = d_train(real)
                    fake_logits = d_train(fake.detach())
                    loss_d = losses.d_loss(train_cfg.loss, real_logits.float(), fake_logits.float(), real_target, fake_target)
                if train_cfg.loss == "wgan-gp":
                    loss_d = loss_d + train_cfg.gp_weight * losses.gradient_penalty(s.d, real, fake.detach())
                s.opt_d.zero_grad(set_to_none=True)
                loss_d.backward()

                # (2) Update G: maximise log D(G(z)) (non-saturating), every n_critic steps
                update_g = (s.step + 1) % train_cfg.n_critic == 0
                loss_g = torch.zeros((), device=device)
                if _is_finite(loss_d):
                    _clip(s.d, train_cfg.grad_clip)
                    s.opt_d.step()
                    if update_g:
                        with autocast:
                            loss_g = losses.g_loss(train_cfg.loss, d_train(fake).float())
                        s.opt_g.zero_grad(set_to_none=True)
                        loss_g.backward()
                        if _is_finite(loss_g):
                            _clip(s.g, train_cfg.grad_clip)
                            s.opt_g.step()
                            if s.ema is not None:
                                s.ema.update(s.g)
                s.sched_d.step()
                if update_g:  # each schedule counts its own optimizer's steps
                    s.sched_g.step()

                # Guard rails: a non-finite loss skips the step; too many in a row restore last.pt
                if not _is_finite(loss_d, loss_g):
                    bad_steps += 1
                    say(f"step {s.step + 1}: non-finite loss (D {loss_d.item()}, G {loss_g.item()}); step skipped")
                    if bad_steps >= MAX_BAD_STEPS:
                        _restore_last_good(s, run_dir, say, restored_steps, dist_info)
                        bad_steps = 0
                        break
                else:
                    bad_steps = 0
                s.step += 1
                s.batch += 1
                window_images += n * dist_info.world_size

                # Log
                done = s.step >= total_steps
                if s.step % train_cfg.log_every == 0 or done or stop.requested:
                    elapsed_s = time.perf_counter() - window_start
                    s.metrics = {
                        "step": s.step,
                        "epoch": s.epoch + 1,  # 1-based epoch of this step, as in samples/epoch-NNN.png
                        "loss_d": loss_d.item(),
                        "loss_g": loss_g.item(),
                        "d_real": losses.d_outputs(train_cfg.loss, real_logits.detach().float()),
                        "d_fake": losses.d_outputs(train_cfg.loss, fake_logits.detach().float()),
                        "images_per_s": window_images / max(elapsed_s, 1e-9),
                        "lr_g": s.opt_g.param_groups[0]["lr"],
                        "lr_d": s.opt_d.param_groups[0]["lr"],
                    }
                    window_images, window_start = 0, time.perf_counter()
                    if main:
                        with open(metrics_file, "a") as f:
                            f.write(json.dumps(s.metrics) + "\n")
                progress.update(s)
                if done or stop.requested:
                    break

            if s.batch >= batches_per_epoch:  # the epoch ran to its end
                s.epoch += 1
                s.batch = 0
                # Save snapshot (its time is not training time: images/s leaves it out)
                pause_start = time.perf_counter()
                if _snapshot(s, run_dir, fixed_noise, dist_info, epoch_file=True, say=say, healthy=bad_steps == 0):
                    checkpoint_step = s.step
                if on_epoch is not None and main:
                    on_epoch(s, data)
                window_start += time.perf_counter() - pause_start
            if stop.requested:
                _snapshot(s, run_dir, fixed_noise, dist_info, epoch_file=False, say=say, healthy=bad_steps == 0)
                raise Interrupted(f"interrupted at step {s.step}; resume with --resume {run_dir}")
        # Decided from state every rank shares (not from files, which other nodes may not see),
        # since a snapshot is a collective operation. A run ending in a bad streak keeps the last
        # good checkpoint; with none at all, finite weights are better than nothing.
        if s.step != checkpoint_step:
            healthy = bad_steps == 0 or checkpoint_step is None
            if _snapshot(s, run_dir, fixed_noise, dist_info, epoch_file=False, say=say, healthy=healthy):
                checkpoint_step = s.step
    distributed.cleanup(dist_info)
    if checkpoint_step is None:
        raise FaceganError(f"no checkpoint written: the weights were not finite at any snapshot (run directory {run_dir})")
    return TrainResult(run_dir, s.step, s.epoch, run_dir / "checkpoints" / "last.pt", checkpoint_step, s.metrics, data)


def _load_data_ranked(spec: DataSpec, info: distributed.DistInfo, show: bool) -> ImageData:
    """Rank 0 loads (and on first use decodes into the cache) behind a progress bar; then the rest."""
    data = None
    if info.is_main:
        with _Bar("preparing images", enabled=show) as bar:
            data = load_data(spec, progress=bar.update, report=False)
    distributed.barrier(info)
    return data if data is not None else load_data(spec, report=False)


def _wrap(module: nn.Module, cfg: TrainConfig, info: distributed.DistInfo, device: torch.device) -> nn.Module:
    """The module as the step calls it: compiled and/or DDP-wrapped; state stays on the original."""
    wrapped = module
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
    if cfg.compile:
        wrapped = torch.compile(wrapped)
    return wrapped


def _clip(module: nn.Module, max_norm: float) -> None:
    if max_norm > 0:
        nn.utils.clip_grad_norm_(module.parameters(), max_norm)


def _nrow(n: int) -> int:
    return max(1, int(math.sqrt(n)))


@torch.no_grad()
def _save_samples(s: State, fixed_noise: torch.Tensor, path: Path) -> None:
    """Fixed-noise grid from the EMA generator if there is one, in eval mode (as exported)."""
    g = s.ema.module if s.ema is not None else s.g
    was_training = g.training
    g.eval()
    lo, hi = s.model_cfg.value_range
    images = (g(fixed_noise).float() - lo) / (hi - lo)
    g.train(was_training)
    save_image(images.clamp(0, 1), path, nrow=_nrow(len(fixed_noise)))


def _snapshot(
    s: State, run_dir: Path, fixed_noise: torch.Tensor, info: distributed.DistInfo, epoch_file: bool, say,
    healthy: bool = True,
) -> bool:
    """Samples and checkpoints of the current state, on rank 0; never of a state that went bad.
    Returns whether they were written (the same answer on every rank).

    During a streak of non-finite losses (`healthy` False), or with NaN/inf weights, the weights
    may already be garbage (an update can blow D up while its own loss was still finite): that
    must not become last.pt, which the guard rails restore and --resume continues from. Such a
    snapshot is skipped and said.
    """
    distributed.average_buffers(s.g, info)
    distributed.average_buffers(s.d, info)
    ok = healthy and _is_finite(*s.g.parameters(), *s.d.parameters())  # on every rank: the weights are the same everywhere
    if not info.is_main:
        distributed.barrier(info)
        return ok
    if not ok:
        say(f"step {s.step}: losses or weights are not finite; no checkpoint written")
        distributed.barrier(info)
        return False
    ckpt_dir = run_dir / "checkpoints"
    state = s.to_checkpoint()
    if epoch_file:
        _save_samples(s, fixed_noise, run_dir / "samples" / f"epoch-{s.epoch:03d}.png")
        save_checkpoint(state, ckpt_dir / f"epoch-{s.epoch:03d}.pt")
        _prune(ckpt_dir, s.train_cfg.keep)
    save_checkpoint(state, ckpt_dir / "last.pt")
    distributed.barrier(info)
    return True


def epoch_files(folder: Path, suffix: str) -> list[Path]:
    """`epoch-NNN<suffix>` files in epoch order: by number, since epoch-1000 sorts before epoch-999."""
    files = [p for p in Path(folder).glob(f"epoch-*{suffix}") if p.name[6 : -len(suffix)].isdigit()]
    return sorted(files, key=lambda p: int(p.name[6 : -len(suffix)]))


def _prune(ckpt_dir: Path, keep: int) -> None:
    """Keep the newest `keep` per-epoch checkpoints (0 keeps all); last.pt is never touched."""
    if keep <= 0:
        return
    for old in epoch_files(ckpt_dir, ".pt")[:-keep]:
        old.unlink(missing_ok=True)


def _restore_last_good(s: State, run_dir: Path, say, restored_steps: list[int], info: distributed.DistInfo) -> None:
    """Go back to last.pt after MAX_BAD_STEPS non-finite losses in a row, with fresh noise.

    The checkpoint restores the RNG too, so the same noise would lead to the same blow-up: the
    noise is reseeded from the restore count. A second blow-up after restoring the same step
    means the run diverges there whatever the noise, and stops with an error instead of looping.
    """
    last = run_dir / "checkpoints" / "last.pt"
    if not last.exists():
        raise FaceganError(f"losses went non-finite {MAX_BAD_STEPS} times in a row and there is no checkpoint to restore")
    try:
        ckpt = load_checkpoint(last)
    except CheckpointError as e:
        raise FaceganError(f"losses went non-finite and the last checkpoint could not be restored: {e}") from None
    if int(ckpt["step"]) in restored_steps:
        raise FaceganError(
            f"losses went non-finite again after restoring step {ckpt['step']} with fresh noise: the run diverges "
            "there; lower the learning rate or add --grad-clip, and resume from an earlier checkpoint"
        )
    s.load(ckpt)
    restored_steps.append(s.step)
    torch.manual_seed(s.train_cfg.seed + info.rank + 7919 * len(restored_steps))  # fresh, and per rank
    if info.is_main:
        rewind_metrics(run_dir / "metrics.jsonl", s.step)
    say(f"restored {last} (step {s.step}) after {MAX_BAD_STEPS} non-finite losses in a row; noise reseeded")


def rewind_metrics(metrics_file: Path, step: int) -> None:
    """Drop metrics lines logged after `step` (and a torn last line), atomically.

    A run killed between snapshots logged steps its checkpoint does not hold; resuming replays
    them. Without this, metrics.jsonl and loss.png would show those steps twice, once from
    weights that no longer exist.
    """
    if not metrics_file.is_file():
        return
    kept, dropped = [], 0
    for line in metrics_file.read_text().splitlines():
        try:
            row_step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            dropped += 1
            continue
        if row_step <= step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = metrics_file.with_name(metrics_file.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(metrics_file)


class _StopFlag:
    """Ctrl-C asks the loop to stop after the current step and save; a second Ctrl-C kills."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: no signal handling
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _Bar:
    """A transient rich progress bar fed (done, total); a no-op when disabled (--quiet, rank > 0)."""

    def __init__(self, description: str, enabled: bool):
        self.enabled = enabled
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            )
            self._task = self._progress.add_task(description, total=None)

    def __enter__(self):
        if self.enabled:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.__exit__(*exc)
        return False

    def update(self, done: int, total: int) -> None:
        if self.enabled:
            self._progress.update(self._task, completed=done, total=total)


class _Progress:
    """Progress of the run: epoch, step, losses, images/s and ETA; a no-op when disabled.

    On a terminal, a rich progress bar. Elsewhere (a log file, CI, nohup) a live bar would only show
    its last frame, so each metrics line is printed as a plain line instead.
    """

    def __init__(self, enabled: bool, total: int, done: int, num_epochs: int, echo: Callable[[str], None]):
        self.enabled = enabled
        self.live = enabled and _is_terminal()
        self.total = total
        self.num_epochs = num_epochs
        self.echo = echo
        self._printed_step = -1
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("epoch {task.fields[epoch]}/" + str(num_epochs)),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
            )
            self._task = self._progress.add_task("train", total=total, completed=done, epoch=0, stats="")

    def __enter__(self):
        if self.live:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live:
            self._progress.__exit__(*exc)
        return False

    def update(self, s: State) -> None:
        if not self.enabled:
            return
        m = s.metrics
        stats = (
            f"D {m['loss_d']:.3f} G {m['loss_g']:.3f} D(x) {m['d_real']:.2f} D(G(z)) {m['d_fake']:.2f} "
            f"{m['images_per_s']:.0f} img/s"
            if m
            else ""
        )
        if self.live:
            self._progress.update(self._task, completed=s.step, epoch=s.epoch + 1, stats=stats)
        elif m.get("step") == s.step and s.step != self._printed_step:  # a metrics line was just logged
            self._printed_step = s.step
            self.echo(f"step {s.step}/{self.total} epoch {min(s.epoch + 1, self.num_epochs)}/{self.num_epochs}: {stats}")


def _is_terminal() -> bool:
    """Whether stdout is an interactive terminal (where live progress bars make sense)."""
    from rich.console import Console

    return Console().is_terminal
