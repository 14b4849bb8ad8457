"""`facegan-fid`: score a checkpoint, a run directory or an exported ONNX model: FID, KID, precision/recall.

    facegan-fid runs/celeba --data celeba --samples 10000
    facegan-fid celeba-g.onnx --data toy-faces --samples 1000 --device cpu

A checkpoint or run directory is scored through the eager generator (EMA weights when the
checkpoint has them); an `.onnx` file through facegan.runtime.FaceGenerator. The real images are the
training data as the checkpoint saw it (crop, toy-face seed and count); their statistics come from
`facegan.train.reference.reference_features`, cached under --ref-cache-dir by the same key a training run
with --fid-every uses. See facegan.train.fid for the protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import choice_enum, exit_codes, make_app, require_extra, version_callback
from facegan.runtime.session import DEVICES

TOOL = "facegan-fid"

app = make_app("Score a facegan generator (checkpoint, run directory or .onnx): FID, KID and precision/recall on Inception features.")

# The runtime's devices: an .onnx model runs in an onnxruntime session, a checkpoint and Inception in torch.
Device = choice_enum("Device", DEVICES)


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
    ref_cache_dir: Annotated[Optional[Path], typer.Option(help="Folder of cached real-image features (default ~/.cache/facegan/fid).")] = None,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Print the FID, KID and precision/recall of MODEL against real images from --data, and the protocol."""
    from . import fid as fidlib
    from .data import DataSpec
    from .devices import pick_device
    from .inception import InceptionFeatures
    from .reference import default_reference_dir, reference_features

    with exit_codes(TOOL):
        is_onnx = model.suffix.lower() == ".onnx"
        if is_onnx:
            what, model_size = _describe_onnx(model)
            trained_on = DataSpec(data, model_size)  # no training settings to follow: the defaults
        else:
            g, model_cfg, what, trained_on, space = _load_generator(model, data)
            model_size = model_cfg.image_size
        size = image_size or model_size
        spec = DataSpec(data, size, crop=trained_on.crop if crop is None else crop, seed=trained_on.seed,
                        toy_faces=trained_on.toy_faces)
        dev = pick_device(device.value)
        inception = InceptionFeatures(dev, batch_size=batch_size)
        real = reference_features(spec, samples, inception, ref_cache_dir or default_reference_dir())
        if is_onnx:
            fake = fidlib.onnx_features(model, samples, inception=inception, device=device.value,
                                        batch_size=batch_size, seed=seed)
        else:
            fake = fidlib.generator_features(g.to(dev), model_cfg.latent_dim, model_cfg.value_range, samples,
                                             inception=inception, device=dev, batch_size=batch_size, seed=seed,
                                             space=space)
        scores = fidlib.quality_scores(real, fake)
        n_real = len(real)
    typer.echo(f"FID {scores['fid']:.3f}")
    typer.echo(f"KID {scores['kid']:.5f} (std {scores['kid_std']:.5f} over subsets)")
    typer.echo(f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f} (k = 3 nearest neighbours)")
    typer.echo(f"model: {what}")
    typer.echo(f"compared: {samples} generated (latents seed {seed}) vs {n_real} real images from {data} at {size} px")
    typer.echo(f"protocol: {fidlib.FID_PROTOCOL}")


def _load_generator(path: Path, data: str):
    """(eval-mode Generator, ModelConfig, description, the DataSpec it trained with, the attribute prior of a
    conditional model or None); EMA weights when present."""
    from facegan.runtime.attributes import AttributeSpace

    from .checkpoint import generator_weights, load_checkpoint, resolve_checkpoint_path
    from .config import ModelConfig, from_dict
    from .data import DataSpec
    from .models import generator_from_state

    ckpt_path = resolve_checkpoint_path(path)
    ckpt = load_checkpoint(ckpt_path)
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    chosen, weights = generator_weights(ckpt)
    g = generator_from_state(cfg, weights)
    weights = f"{chosen.upper() if chosen == 'ema' else chosen} weights"
    t = ckpt["train_config"]
    defaults = DataSpec(data, cfg.image_size)
    trained_on = DataSpec(data, cfg.image_size, crop=int(t.get("crop", 0) or 0), seed=int(t.get("seed", defaults.seed)),
                          toy_faces=int(t.get("toy_faces", defaults.toy_faces)))
    space = AttributeSpace.from_json(ckpt["attributes"], str(ckpt_path)) if ckpt.get("attributes") else None
    return g, cfg, f"{ckpt_path} (eager, {weights}, step {ckpt['step']}, {cfg.image_size} px)", trained_on, space


def _describe_onnx(path: Path) -> tuple[str, int]:
    from facegan.runtime.generator import FaceGenerator

    gen = FaceGenerator(path, device="cpu")  # only the metadata is read here
    return f"{path} (onnxruntime, {gen.image_size} px, latent {gen.latent_dim})", gen.image_size


def main() -> None:
    require_extra(["torch", "torchvision"], "train", TOOL)
    app()


if __name__ == "__main__":
    main()
