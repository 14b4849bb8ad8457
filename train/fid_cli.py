"""`facegan-fid`: score a checkpoint, a run directory or an exported ONNX model with FID.

    facegan-fid runs/celeba --data celeba --samples 10000
    facegan-fid celeba-g.onnx --data toy-faces --samples 1000 --device cpu

A checkpoint or run directory is scored through the eager generator (EMA weights when the
checkpoint has them); an `.onnx` file through facegan.runtime.FaceGenerator. Real-image statistics
are cached under --ref-cache-dir, keyed by data source, image size and sample count. See
facegan.train.fid for the protocol.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import exit_codes, make_app, require_extra, version_callback

TOOL = "facegan-fid"

app = make_app("Score a facegan generator (checkpoint, run directory or .onnx) with the Fréchet Inception Distance.")


class Device(str, Enum):
    auto = "auto"
    cuda = "cuda"
    cpu = "cpu"


def default_ref_cache_dir() -> Path:
    """Where reference statistics live by default: $XDG_CACHE_HOME/facegan/fid (~/.cache/...)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facegan" / "fid"


@app.command()
def fid(
    model: Annotated[Path, typer.Argument(help="A checkpoint (.pt), a run directory, or an exported .onnx model.", exists=True, metavar="MODEL")],
    data: Annotated[str, typer.Option(help="Real images: 'celeba', 'toy-faces', or a folder of images.")] = "celeba",
    samples: Annotated[int, typer.Option(help="Generated and real images to compare (FID grows as this shrinks: compare equal counts).", min=2)] = 1000,
    image_size: Annotated[Optional[int], typer.Option(help="Side of the real images in pixels before the resize to 299 (default: the model's).", min=8)] = None,
    batch_size: Annotated[int, typer.Option(help="Images per generator and Inception batch.", min=1)] = 50,
    device: Annotated[Device, typer.Option(help="Where the generator and Inception run.")] = Device.cpu,
    seed: Annotated[int, typer.Option(help="Seed of the generated latents.", min=0)] = 0,
    crop: Annotated[Optional[int], typer.Option(help="Centre crop of the real images in source pixels, as in training (default: the checkpoint's; 0 = largest square).", min=0)] = None,
    ref_cache_dir: Annotated[Optional[Path], typer.Option(help="Folder of cached real-image statistics (default ~/.cache/facegan/fid).")] = None,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Print the FID of MODEL against real images from --data, and the protocol used."""
    import torch

    from . import fid as fidlib

    with exit_codes(TOOL):
        is_onnx = model.suffix.lower() == ".onnx"
        train_crop = 0
        if is_onnx:
            what, model_size = _describe_onnx(model)
        else:
            g, model_cfg, what, train_crop = _load_generator(model)
            model_size = model_cfg.image_size
        size = image_size or model_size
        dev = _torch_device(device.value, torch)
        inception = fidlib.InceptionFeatures(dev, batch_size=batch_size)
        ref_dir = ref_cache_dir or default_ref_cache_dir()
        ref, n_real = _reference(data, size, train_crop if crop is None else crop, samples, ref_dir, inception, fidlib)
        if is_onnx:
            score = fidlib.fid_of_onnx(model, samples, ref, device=device.value, batch_size=batch_size,
                                       seed=seed, inception=inception)
        else:
            g = g.to(dev)
            score = fidlib.fid_of_generator(g, model_cfg.latent_dim, model_cfg.value_range, samples, ref,
                                            device=dev, batch_size=batch_size, seed=seed, inception=inception)
    typer.echo(f"FID {score:.3f}")
    typer.echo(f"model: {what}")
    typer.echo(f"compared: {samples} generated (latents seed {seed}) vs {n_real} real images from {data} at {size} px")
    typer.echo(f"protocol: {fidlib.FID_PROTOCOL}")


def _torch_device(name: str, torch):
    from facegan.runtime.errors import FaceganError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FaceganError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def _load_generator(path: Path):
    """(eval-mode Generator, ModelConfig, description, training crop); EMA weights when present."""
    from .checkpoint import load_checkpoint, resolve_checkpoint_path
    from .config import ModelConfig, from_dict
    from .models import generator_from_state

    ckpt_path = resolve_checkpoint_path(path)
    ckpt = load_checkpoint(ckpt_path)
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    use_ema = ckpt.get("generator_ema") is not None
    g = generator_from_state(cfg, ckpt["generator_ema"] if use_ema else ckpt["generator"])
    weights = "EMA weights" if use_ema else "raw weights"
    crop = int(ckpt["train_config"].get("crop", 0) or 0)
    return g, cfg, f"{ckpt_path} (eager, {weights}, step {ckpt['step']}, {cfg.image_size} px)", crop


def _describe_onnx(path: Path) -> tuple[str, int]:
    from facegan.runtime.generator import FaceGenerator

    gen = FaceGenerator(path, device="cpu")  # only the metadata is read here
    return f"{path} (onnxruntime, {gen.image_size} px, latent {gen.latent_dim})", gen.image_size


def _reference(data: str, size: int, crop: int, samples: int, ref_dir: Path, inception, fidlib):
    """(mu, sigma) of the first `samples` real images at `size` px, from the cache when present.

    The cache is keyed by `source_fingerprint`: the files themselves (paths, sizes, mtimes), the
    size and the crop, so statistics of a folder whose images changed are computed again.
    """
    from .data import DataSpec, load_data, source_fingerprint

    spec = DataSpec(source=data, image_size=size, crop=crop, cache=False, cache_dir=None, workers=0, toy_faces=samples)
    label = source_fingerprint(spec)
    cache = ref_dir / fidlib.reference_cache_name(label, size, samples)
    cached = fidlib.load_stats(cache)
    if cached is not None:
        return cached, samples
    # No decode cache: the images are decoded once, here (a folder's headers are all checked).
    real = load_data(spec).sample(samples).numpy()
    if len(real) < 2:
        raise UsageError(f"{data} has {len(real)} image(s); FID needs at least 2")
    if len(real) < samples:  # name the cache by the count really used
        cache = ref_dir / fidlib.reference_cache_name(label, size, len(real))
    return fidlib.reference_stats(real, cache, inception=inception), len(real)


def main() -> None:
    require_extra(["torch", "torchvision"], "train", TOOL)
    app()


if __name__ == "__main__":
    main()
