"""`facegan-train`: train a DCGAN face generator (also `python -m facegan.train`, and under torchrun).

Parses flags into the preset's configs, calls `facegan.train.loop.train`, and turns domain errors
into exit codes: 1 for failures, 2 for usage errors, 130 when stopped by Ctrl-C (after saving).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from facegan.runtime.console import exit_codes, make_app, require_extra, version_callback
from facegan.runtime.errors import UsageError

TOOL = "facegan-train"

app = make_app("Train a DCGAN face generator on CelebA, a folder of images, or the built-in toy faces.")


class Device(str, Enum):
    auto = "auto"
    cuda = "cuda"
    mps = "mps"
    cpu = "cpu"


class Loss(str, Enum):
    bce = "bce"
    lsgan = "lsgan"
    wgan_gp = "wgan-gp"
    hinge = "hinge"


class Schedule(str, Enum):
    constant = "constant"
    linear = "linear"
    cosine = "cosine"


class Stem(str, Enum):
    convtranspose = "convtranspose"
    linear = "linear"


class Activation(str, Enum):
    tanh = "tanh"
    sigmoid = "sigmoid"


class DNorm(str, Enum):
    batch = "batch"
    layer = "layer"
    none = "none"


def _value(x):
    return x.value if isinstance(x, Enum) else x


@app.command()
def train(
    data: Annotated[Optional[str], typer.Option(help="Training images: 'celeba' (downloaded with kagglehub), 'toy-faces', or a folder.  [default: celeba]", show_default=False)] = None,
    preset: Annotated[Optional[str], typer.Option(help="Reference setup to start from; see --list-presets.  [default: dcgan]", show_default=False)] = None,
    list_presets: Annotated[bool, typer.Option("--list-presets", help="List the presets and exit.")] = False,
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the data.", min=1)] = None,
    steps: Annotated[Optional[int], typer.Option(help="Stop after this many optimizer steps in total (overrides --epochs).", min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step, over all processes.", min=1)] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Image side in pixels: 32, 64 or 128.")] = None,
    latent_dim: Annotated[Optional[int], typer.Option(help="Length of the latent vector z.", min=1)] = None,
    ngf: Annotated[Optional[int], typer.Option(help="Generator feature maps.", min=1)] = None,
    ndf: Annotated[Optional[int], typer.Option(help="Discriminator feature maps.", min=1)] = None,
    stem: Annotated[Optional[Stem], typer.Option(help="Generator stem.")] = None,
    activation: Annotated[Optional[Activation], typer.Option(help="Generator output activation.")] = None,
    d_norm: Annotated[Optional[DNorm], typer.Option(help="Discriminator normalisation.")] = None,
    d_dropout: Annotated[Optional[float], typer.Option(help="Dropout after each discriminator activation.")] = None,
    spectral_norm: Annotated[Optional[bool], typer.Option("--spectral-norm/--no-spectral-norm", help="Spectral normalisation on D.")] = None,
    loss: Annotated[Optional[Loss], typer.Option(help="GAN loss.")] = None,
    n_critic: Annotated[Optional[int], typer.Option(help="D updates per G update.", min=1)] = None,
    gp_weight: Annotated[Optional[float], typer.Option(help="Gradient penalty weight for wgan-gp.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of both G and D.")] = None,
    lr_g: Annotated[Optional[float], typer.Option(help="Learning rate of G.")] = None,
    lr_d: Annotated[Optional[float], typer.Option(help="Learning rate of D.")] = None,
    beta1: Annotated[Optional[float], typer.Option(help="Adam beta1.")] = None,
    beta2: Annotated[Optional[float], typer.Option(help="Adam beta2.")] = None,
    lr_schedule: Annotated[Optional[Schedule], typer.Option(help="Learning-rate schedule.")] = None,
    warmup_steps: Annotated[Optional[int], typer.Option(help="Linear learning-rate warm-up steps.", min=0)] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="One-sided label smoothing: real target is 1 minus this.")] = None,
    label_noise: Annotated[Optional[float], typer.Option(help="Probability of flipping a D label.")] = None,
    grad_clip: Annotated[Optional[float], typer.Option(help="Max gradient norm of G and D (0 = off).")] = None,
    ema: Annotated[Optional[float], typer.Option(help="EMA decay of the generator weights, e.g. 0.999 (0 = off).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of weights, data order, noise and sample grids.", min=0)] = None,
    device: Annotated[Optional[Device], typer.Option(help="Where to train.")] = None,
    amp: Annotated[Optional[bool], typer.Option("--amp/--no-amp", help="bf16 autocast, on CUDA or on a CPU with bf16 instructions (AVX512-BF16, AMX).")] = None,
    channels_last: Annotated[Optional[bool], typer.Option("--channels-last/--no-channels-last", help="NHWC memory format.")] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the networks.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes decoding images.", min=0)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Decode images every epoch instead of caching them.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where decoded-image caches live (default <out>/.cache).")] = None,
    crop: Annotated[Optional[int], typer.Option(help="Centre crop side in source pixels (0 = largest square).", min=0)] = None,
    toy_faces: Annotated[Optional[int], typer.Option(help="Number of images in the toy-faces data.", min=1)] = None,
    log_every: Annotated[Optional[int], typer.Option(help="Steps between metrics lines.", min=1)] = None,
    keep: Annotated[Optional[int], typer.Option(help="Per-epoch checkpoints to keep besides last.pt (0 = all).", min=0)] = None,
    fid_every: Annotated[Optional[int], typer.Option(help="Epochs between FID evaluations (0 = off).", min=0)] = None,
    fid_samples: Annotated[Optional[int], typer.Option(help="Images used for each FID evaluation.", min=2)] = None,
    out: Annotated[Optional[Path], typer.Option(help="Parent folder of run directories.  [default: runs]", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Run directory name (default: the data's name).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue a run: its directory or a checkpoint.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Train a DCGAN. Flags next to --preset override it."""
    from . import loop
    from .config import PRESETS, resolve

    if list_presets:
        for key, p in PRESETS.items():
            typer.echo(f"{key:18s} {p.description}")
        return
    model_overrides = dict(
        image_size=image_size, latent_dim=latent_dim, ngf=ngf, ndf=ndf, stem=_value(stem),
        activation=_value(activation), d_norm=_value(d_norm), d_dropout=d_dropout, spectral_norm=spectral_norm,
    )
    if data is not None and data not in ("celeba", "toy-faces"):
        data = str(Path(data).expanduser().resolve())  # a run must find its folder from anywhere
    train_overrides = dict(
        data=data, epochs=epochs, steps=steps, batch_size=batch_size, loss=_value(loss), n_critic=n_critic,
        gp_weight=gp_weight, lr_g=lr_g if lr_g is not None else lr, lr_d=lr_d if lr_d is not None else lr,
        beta1=beta1, beta2=beta2, lr_schedule=_value(lr_schedule), warmup_steps=warmup_steps,
        label_smoothing=label_smoothing, label_noise=label_noise, grad_clip=grad_clip, ema=ema, seed=seed,
        device=_value(device), amp=amp, channels_last=channels_last, compile=compile, workers=workers,
        cache=False if no_cache else None, cache_dir=str(cache_dir) if cache_dir else None, crop=crop,
        toy_faces=toy_faces, log_every=log_every, keep=keep, fid_every=fid_every, fid_samples=fid_samples,
    )
    with exit_codes(TOOL):
        ckpt = None
        if resume is not None:
            for flag, value in (("--name", name), ("--out", out), ("--overwrite", overwrite or None)):
                if value is not None:
                    raise UsageError(f"{flag} does not apply to --resume: the run keeps its directory")
            train_overrides["preset"] = preset  # checked like any other setting
            model_cfg, train_cfg, ckpt = loop.resume_from(resume, train_overrides, model_overrides)
            run_dir = loop.run_dir_of(resume)
        else:
            model_cfg, train_cfg = resolve(preset or "dcgan", model_overrides, train_overrides)
            run_dir = Path(out or "runs") / (name or loop.default_run_name(train_cfg.data))
    if dry_run:
        typer.echo(json.dumps({**loop.resolved_config(model_cfg, train_cfg), "run_dir": str(run_dir)}, indent=2))
        return
    with exit_codes(TOOL), _interrupt_exits_130():
        if ckpt is None:
            loop.check_run_dir(run_dir, overwrite)  # now: the run directory itself is made after the data loads
        from .distributed import launched_rank
        from .reporting import epoch_hook, finish_run

        is_main = launched_rank() == 0  # under torchrun only rank 0 draws, scores and prints
        hook = epoch_hook(run_dir, model_cfg, train_cfg, typer.echo) if is_main else None
        result = loop.train(model_cfg, train_cfg, run_dir, resume=ckpt, overwrite=overwrite, quiet=quiet,
                            echo=typer.echo, on_epoch=hook)
        if not is_main:
            return
        finish_run(result, model_cfg, train_cfg, typer.echo)
    epochs = f"{result.epoch} epoch" + ("" if result.epoch == 1 else "s")
    typer.echo(f"done: {result.step} steps, {epochs}; run directory {result.run_dir}")
    behind = "" if result.checkpoint_step == result.step else (
        f"; the {result.step - result.checkpoint_step} steps after it had non-finite losses")
    typer.echo(f"checkpoint: {result.last_checkpoint} (step {result.checkpoint_step}{behind})")


@contextmanager
def _interrupt_exits_130() -> Iterator[None]:
    """Ctrl-C exits 130: after saving (Interrupted), or while the data loads or a save runs."""
    from .errors import Interrupted

    try:
        yield
    except Interrupted as e:
        typer.echo(f"{TOOL}: {e}", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo(f"{TOOL}: interrupted; nothing was saved beyond the last checkpoint", err=True)
        raise typer.Exit(130) from None


def main() -> None:
    require_extra(["torch", "torchvision"], "train", TOOL)
    app()


if __name__ == "__main__":
    main()
