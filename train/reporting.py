"""What a run shows people: FID each few epochs, loss curves, the progress GIF, real-vs-fake, a morph.

Hooks called by the CLI around `loop.train`; everything here is optional decoration of a run
(matplotlib and the FID weights are extras), so a missing extra is said once and skipped, except
FID, which the user asked for by name and therefore fails early when it cannot run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import MissingExtraError
from facegan.runtime.images import nchw_to_nhwc, save_gif, to_uint8
from facegan.runtime.latents import latents, slerp

from .config import ModelConfig, TrainConfig

MORPH_STEPS = 24  # frames of the end-of-run latent interpolation GIF
PICTURES_EVERY_S = 30.0  # least seconds between refreshes of loss.png and progress.gif


@torch.no_grad()
def generate_uint8(g: torch.nn.Module, z: np.ndarray, value_range, batch_size: int = 64) -> np.ndarray:
    """Eval-mode generator outputs for latents `z` as uint8 (N, H, W, 3), in chunks."""
    was_training = g.training
    g.eval()
    device = next(g.parameters()).device
    out = [
        to_uint8(nchw_to_nhwc(g(torch.from_numpy(z[i : i + batch_size]).to(device)).float().cpu().numpy()), value_range)
        for i in range(0, len(z), batch_size)
    ]
    g.train(was_training)
    return np.concatenate(out)


def epoch_hook(run_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, echo: Callable[[str], None]):
    """The callback run after each epoch on rank 0: FID (when asked for), then the pictures."""
    fid_state: dict = {}
    if train_cfg.fid_every > 0:
        from .fid import InceptionFeatures
        from .loop import pick_device

        # Built before training starts, so a missing extra fails the run early.
        fid_state["inception"] = InceptionFeatures(pick_device(train_cfg.device))
    said: set[str] = set()

    def hook(s, data) -> None:
        g = s.ema.module if s.ema is not None else s.g
        if train_cfg.fid_every > 0 and s.epoch % train_cfg.fid_every == 0:
            fid = _fid(g, data, run_dir, model_cfg, train_cfg, fid_state)
            line = {"step": s.step, "epoch": s.epoch, "fid": fid}
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")
            real = fid_state["num_real"]
            counts = f"{train_cfg.fid_samples} samples" if real == train_cfg.fid_samples else (
                f"{train_cfg.fid_samples} generated vs {real} real images")
            echo(f"epoch {s.epoch}: FID {fid:.2f} ({counts})")
        # loss.png and progress.gif cost more as epochs pile up: refreshed at most every
        # PICTURES_EVERY_S (finish_run draws the final ones), so tiny epochs stay cheap.
        now = time.monotonic()
        if now - fid_state.get("pictures_at", -PICTURES_EVERY_S) >= PICTURES_EVERY_S:
            _pictures(run_dir, echo, said)
            fid_state["pictures_at"] = now

    return hook


def _fid(g, data, run_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, fid_state: dict) -> float:
    from .data import DataSpec, source_fingerprint
    from .fid import fid_of_generator, reference_stats

    if "ref" not in fid_state:
        n = min(train_cfg.fid_samples, len(data))
        spec = DataSpec(source=train_cfg.data, image_size=model_cfg.image_size, crop=train_cfg.crop,
                        seed=train_cfg.seed, toy_faces=train_cfg.toy_faces)
        cache_dir = Path(train_cfg.cache_dir or run_dir.parent / ".cache")
        cache = cache_dir / f"fid-ref-{source_fingerprint(spec)}-n{n}.npz"
        fid_state["ref"] = reference_stats(data.sample(n), cache, inception=fid_state["inception"])
        fid_state["num_real"] = n
    return fid_of_generator(
        g, model_cfg.latent_dim, model_cfg.value_range, train_cfg.fid_samples, fid_state["ref"],
        inception=fid_state["inception"],
    )


def _pictures(run_dir: Path, echo, said: set[str]) -> None:
    """loss.png and progress.gif, refreshed each epoch; skipped with one note without matplotlib."""
    from .plots import plot_losses, progress_gif

    from .loop import epoch_files

    grids = epoch_files(run_dir / "samples", ".png")
    if grids:
        progress_gif(grids, run_dir / "progress.gif")
    if not (run_dir / "metrics.jsonl").exists():  # nothing logged yet (--log-every beyond the epoch)
        return
    try:
        plot_losses(run_dir / "metrics.jsonl", run_dir / "loss.png")
    except (ImportError, MissingExtraError):
        if "matplotlib" not in said:
            echo("note: loss.png needs matplotlib (pip install 'facegan[metrics]'); skipped")
            said.add("matplotlib")


def finish_run(result, model_cfg: ModelConfig, train_cfg: TrainConfig, echo: Callable[[str], None]) -> None:
    """After training: real-vs-fake.png and morph.gif from the latest (EMA) generator."""
    from .checkpoint import load_checkpoint
    from .models import generator_from_state
    from .plots import real_vs_fake

    run_dir = result.run_dir
    ckpt = load_checkpoint(result.last_checkpoint)
    g = generator_from_state(model_cfg, ckpt.get("generator_ema") or ckpt["generator"])
    n = min(train_cfg.sample_count, 32)
    fake = generate_uint8(g, latents(train_cfg.seed, n, model_cfg.latent_dim), model_cfg.value_range)
    real = nchw_to_nhwc(result.data.sample(n).numpy())
    pictures, said = [run_dir / "samples"], set()
    try:
        real_vs_fake(real, fake, run_dir / "real-vs-fake.png")
        pictures.append(run_dir / "real-vs-fake.png")
    except MissingExtraError:  # matplotlib is the metrics extra: training does not need it
        echo("note: real-vs-fake.png and loss.png need matplotlib (pip install 'facegan[metrics]'); skipped")
        said.add("matplotlib")
    a, b = latents(train_cfg.seed, 2, model_cfg.latent_dim)
    frames = generate_uint8(g, slerp(a, b, MORPH_STEPS), model_cfg.value_range)
    save_gif(np.concatenate([frames, frames[::-1]]), run_dir / "morph.gif")
    pictures.append(run_dir / "morph.gif")
    _pictures(run_dir, echo, said)
    echo("pictures: " + ", ".join(map(str, pictures)))
