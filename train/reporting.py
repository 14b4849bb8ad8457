"""What a run shows people: FID each few epochs, loss curves, the progress GIF, real-vs-fake, a morph.

Hooks called by the CLI around `loop.train`; everything here is optional decoration of a run
(matplotlib and the FID weights are extras), so a missing extra is said once and skipped, except
FID, which the user asked for by name and therefore fails early when it cannot run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from facegan.runtime.images import nchw_to_nhwc, save_gif
from facegan.runtime.latents import latents, slerp

from .config import ModelConfig, TrainConfig, from_dict
from .errors import MissingExtraError
from .rundir import RunDir
from .sampling import generate_uint8, sampling_generator

MORPH_STEPS = 24  # frames of the end-of-run latent interpolation GIF
PICTURES_EVERY_S = 30.0  # least seconds between refreshes of loss.png and progress.gif


def epoch_hook(run_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, echo: Callable[[str], None]):
    """The callback run after each epoch on rank 0: FID (when asked for), then the pictures."""
    run = RunDir(run_dir)
    fid_state: dict = {}
    if train_cfg.fid_every > 0:
        from .devices import pick_device
        from .inception import InceptionFeatures

        # Built before training starts, so a missing extra fails the run early.
        fid_state["inception"] = InceptionFeatures(pick_device(train_cfg.device))
    said: set[str] = set()

    def hook(s, data) -> None:
        if train_cfg.fid_every > 0 and s.epoch % train_cfg.fid_every == 0:
            space = s.conditioning.space if s.conditioning is not None else None
            scores = _scores(sampling_generator(s), data, run, model_cfg, train_cfg, fid_state, space)
            run.append_metrics({"step": s.step, "epoch": s.epoch, **scores})
            real = len(fid_state["real"])
            counts = f"{train_cfg.fid_samples} samples" if real == train_cfg.fid_samples else (
                f"{train_cfg.fid_samples} generated vs {real} real images")
            echo(f"epoch {s.epoch}: FID {scores['fid']:.2f}, KID {scores['kid'] * 1e3:.2f}e-3, precision "
                 f"{scores['precision']:.3f}, recall {scores['recall']:.3f} ({counts})")
        # loss.png and progress.gif cost more as epochs pile up: refreshed at most every
        # PICTURES_EVERY_S (finish_run draws the final ones), so tiny epochs stay cheap.
        now = time.monotonic()
        if now - fid_state.get("pictures_at", -PICTURES_EVERY_S) >= PICTURES_EVERY_S:
            _pictures(run, echo, said)
            fid_state["pictures_at"] = now

    return hook


def _scores(g, data, run: RunDir, model_cfg: ModelConfig, train_cfg: TrainConfig, fid_state: dict, space=None) -> dict:
    """FID, KID and precision/recall of `g` against the run's data; the real features are read once.

    They are cached beside the decode cache, under the key facegan-fid uses (`reference_key`), so
    `facegan-fid --ref-cache-dir <that folder>` scores against the same images.
    """
    from .data import DataSpec
    from .fid import generator_features, quality_scores
    from .reference import reference_features

    if "real" not in fid_state:
        spec = DataSpec(source=train_cfg.data, image_size=model_cfg.image_size, crop=train_cfg.crop,
                        seed=train_cfg.seed, toy_faces=train_cfg.toy_faces)
        cache_dir = Path(train_cfg.cache_dir or run.path.parent / ".cache")
        fid_state["real"] = reference_features(spec, train_cfg.fid_samples, fid_state["inception"], cache_dir, data=data)
    fake = generator_features(g, model_cfg.latent_dim, model_cfg.value_range, train_cfg.fid_samples,
                              inception=fid_state["inception"], space=space)
    return quality_scores(fid_state["real"], fake)


def _pictures(run: RunDir, echo, said: set[str]) -> None:
    """loss.png and progress.gif, refreshed each epoch; skipped with one note without matplotlib."""
    from .plots import plot_losses, progress_gif

    grids = run.sample_grids()
    if grids:
        progress_gif(grids, run.progress_gif)
    if not run.metrics.exists():  # nothing logged yet (--log-every beyond the epoch)
        return
    try:
        plot_losses(run.metrics, run.loss_png)
    except (ImportError, MissingExtraError):
        if "matplotlib" not in said:
            echo("note: loss.png needs matplotlib (pip install 'facegan[metrics]'); skipped")
            said.add("matplotlib")


def finish_run(result, train_cfg: TrainConfig, echo: Callable[[str], None]) -> None:
    """After training: real-vs-fake.png and morph.gif from the latest (EMA) generator."""
    from facegan.runtime.attributes import AttributeSpace, attribute_vectors

    from .checkpoint import generator_weights, load_checkpoint
    from .models import generator_from_state
    from .plots import real_vs_fake

    run = RunDir(result.run_dir)
    ckpt = load_checkpoint(result.last_checkpoint)
    model_cfg = from_dict(ModelConfig, ckpt["model_config"])  # the run's own: a conditional run sets num_attributes
    g = generator_from_state(model_cfg, generator_weights(ckpt)[1])
    space = AttributeSpace.from_json(ckpt["attributes"], str(result.last_checkpoint)) if ckpt.get("attributes") else None

    def attributes(n: int) -> np.ndarray | None:  # faces 0..n-1 of the run's seed, as the runtime draws them
        return None if space is None else attribute_vectors(space, n, train_cfg.seed)

    n = min(train_cfg.sample_count, 32)
    fake = generate_uint8(g, latents(train_cfg.seed, n, model_cfg.latent_dim), model_cfg.value_range, attributes(n))
    real = nchw_to_nhwc(result.data.sample(n).numpy())
    pictures, said = [run.samples], set()
    try:
        real_vs_fake(real, fake, run.real_vs_fake)
        pictures.append(run.real_vs_fake)
    except MissingExtraError:  # matplotlib is the metrics extra: training does not need it
        echo("note: real-vs-fake.png and loss.png need matplotlib (pip install 'facegan[metrics]'); skipped")
        said.add("matplotlib")
    a, b = latents(train_cfg.seed, 2, model_cfg.latent_dim)
    ends = attributes(2)
    path = None if ends is None else np.linspace(ends[0], ends[1], MORPH_STEPS, dtype=np.float32)
    frames = generate_uint8(g, slerp(a, b, MORPH_STEPS), model_cfg.value_range, path)
    save_gif(np.concatenate([frames, frames[::-1]]), run.morph_gif)
    pictures.append(run.morph_gif)
    _pictures(run, echo, said)
    echo("pictures: " + ", ".join(map(str, pictures)))
