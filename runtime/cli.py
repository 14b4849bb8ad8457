"""facegan-generate: faces from an exported model, as a grid, a folder of images or a morph GIF.

    facegan-generate celeba-g.onnx --n 16 --seed 7 --out faces.png
    facegan-generate celeba-g.onnx --n 100 --dir faces/
    facegan-generate celeba-g.onnx --interpolate 1 2 --steps 32 --gif morph.gif
    facegan-generate celeba-cond.onnx --n 16 --attr Smiling=1 --attr Eyeglasses=0   # conditional model
    facegan-generate celeba-g.onnx --n 16 --edit Eyeglasses=+1.5                     # along its directions

Needs only the base install (numpy, onnxruntime, pillow). Prints what it wrote and the provider
that ran; library errors exit 1 with one line, usage errors exit 2.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from .attributes import format_assignments, parse_assignments
from .console import choice_enum, exit_codes, fail, make_app, version_callback
from .errors import UsageError
from .latents import INTERPOLATION_METHODS, SEED_LIMIT
from .session import DEVICES

TOOL = "facegan-generate"
DEFAULT_N = 16

app = make_app("Generate faces from an exported facegan ONNX model (numpy + onnxruntime, no PyTorch).")

# The choices are the library's own tuples; the library checks them (once) when it is called.
Device = choice_enum("Device", DEVICES)
Method = choice_enum("Method", INTERPOLATION_METHODS)


@app.command()
def generate(
    model: Annotated[Path, typer.Argument(help="Exported facegan ONNX model (.onnx).", show_default=False)],
    n: Annotated[
        Optional[int], typer.Option("--n", min=1, help=f"Number of faces to generate (default {DEFAULT_N}).")
    ] = None,
    seed: Annotated[
        int,
        typer.Option(min=0, max=SEED_LIMIT - 1, help="Seed of the latents (below 2**64): the same seed gives the same faces."),
    ] = 0,
    out: Annotated[Path, typer.Option(help="Grid image to write (format from the suffix).")] = Path("faces.png"),
    grid: Annotated[
        bool, typer.Option("--grid", help="Write the faces as one grid image to --out (the default).")
    ] = False,
    dir: Annotated[
        Optional[Path], typer.Option("--dir", help="Write each face as its own PNG into this folder instead.")
    ] = None,
    truncation: Annotated[
        float, typer.Option(min=0.0, help="Scale latents toward the mean: below 1 trades variety for quality.")
    ] = 1.0,
    interpolate: Annotated[
        Optional[tuple[int, int]],
        typer.Option(
            metavar="SEED_A SEED_B",
            help="Morph the first face of SEED_A into that of SEED_B and write a GIF to --gif.",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[int, typer.Option(min=2, help="Frames of the morph, both ends included.")] = 32,
    gif: Annotated[Path, typer.Option(help="GIF file the morph is written to.")] = Path("morph.gif"),
    method: Annotated[Method, typer.Option(help="Interpolation path: slerp (great circle) or lerp.")] = Method.slerp,
    attr: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="NAME=V",
            help="Set an attribute of a conditional model, V in [0, 1] (repeatable or a comma list: "
            "Smiling=1,Eyeglasses=0); the others are drawn from the model's prior.",
            show_default=False,
        ),
    ] = None,
    edit: Annotated[
        Optional[list[str]],
        typer.Option(
            metavar="NAME=A",
            help="Move the faces along one of the model's directions, A in standard deviations of z "
            "(repeatable or a comma list: Eyeglasses=+1.5,Smiling=-1).",
            show_default=False,
        ),
    ] = None,
    duration_ms: Annotated[int, typer.Option(min=1, help="Milliseconds per GIF frame.")] = 80,
    device: Annotated[Device, typer.Option(help="Where to run: auto (CUDA when available), cpu or cuda.")] = Device.auto,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail instead of falling back to the CPU when CUDA was asked for.")
    ] = False,
    threads: Annotated[
        Optional[int], typer.Option(min=0, help="onnxruntime intra-op threads (0 = one per core, the default).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Faces per onnxruntime run; bounds memory.")] = 64,
    nrow: Annotated[int, typer.Option(min=1, help="Faces per row of the grid.")] = 8,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log session details on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Generate faces from MODEL and write them as a grid (--out), a folder (--dir) or a GIF (--interpolate)."""
    if grid and dir is not None:
        fail(TOOL, "--grid and --dir are alternatives; give one", code=2)
    if interpolate is not None and n is not None:
        fail(TOOL, "--n does not apply to --interpolate (the morph has --steps frames)", code=2)
    from .generator import FaceGenerator
    from .images import image_format, save_gif, save_grid, save_images

    if interpolate is not None and edit:
        fail(TOOL, "--edit does not apply to --interpolate (a morph has no edits)", code=2)
    written: list[str] = []
    with exit_codes(TOOL), _log_to_stderr(logging.INFO if verbose else logging.WARNING):
        attributes, edits = parse_assignments(attr, "--attr"), parse_assignments(edit, "--edit")
        # Check where the pictures go before generating them.
        for path, used in ((gif, interpolate is not None), (out, dir is None and (interpolate is None or grid))):
            if used:
                image_format(path)
        gen = FaceGenerator(model, device=device.value, strict=strict, threads=threads, batch_size=batch_size)
        _check_conditions(gen, model, attributes, edits)
        size = f"{gen.image_size}x{gen.image_size}"
        psi = "" if truncation == 1.0 else f", truncation {truncation}"
        psi += f", attributes {format_assignments(attributes)}" if attributes else ""
        psi += f", edit {format_assignments(edits)}" if edits else ""
        given = {"attributes": attributes} if attributes else {}
        if interpolate is not None:
            seed_a, seed_b = interpolate
            images = gen.interpolate(seed_a, seed_b, steps=steps, method=method.value, truncation=truncation, **given)
            what = f"{steps} frames, {size}, seeds {seed_a} -> {seed_b}, {method.value}{psi}"
            save_gif(images, gif, duration_ms=duration_ms)
            written.append(f"{gif} ({what})")
        elif edits:
            images = gen.edit(seed, edits, n=DEFAULT_N if n is None else n, truncation=truncation, **given)
            what = f"{len(images)} faces, {size}, seed {seed}{psi}"
        else:
            images = gen.generate(DEFAULT_N if n is None else n, seed=seed, truncation=truncation, **given)
            what = f"{len(images)} faces, {size}, seed {seed}{psi}"
        if dir is not None:
            paths = save_images(images, dir)
            written.append(f"{dir}/{paths[0].name} .. {paths[-1].name} ({what})")
        elif interpolate is None or grid:
            save_grid(images, out, nrow=nrow)
            written.append(f"{out} (grid of {what}, {nrow} per row)")
    for line in written:
        typer.echo(f"wrote {line}")
    typer.echo(f"provider: {gen.providers[0]} (applied: {', '.join(gen.providers)})")


def _check_conditions(gen, model: Path, attributes: dict, edits: dict) -> None:
    """--attr needs a conditional model, --edit one with directions, both known names (UsageError)."""
    if attributes and not gen.attributes:
        hint = f"; its directions take --edit ({', '.join(gen.directions)})" if gen.directions else ""
        raise UsageError(f"--attr: {model.name} is an unconditional model (it has no attributes){hint}")
    if edits and not gen.directions:
        raise UsageError(f"--edit: {model.name} has no directions; run facegan-directions on its run and export it again")
    for given, known, flag in ((attributes, gen.attributes, "--attr"), (edits, gen.directions, "--edit")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UsageError(f"{flag}: unknown name {', '.join(unknown)}; {model.name} has {', '.join(known)}")


@contextmanager
def _log_to_stderr(level: int) -> Iterator[None]:
    """Show facegan.runtime's log on stderr while the command runs: warnings (a CUDA fallback)
    always, details with -v. Only facegan's logger is touched, and only for the command's length,
    so an app that calls the command keeps its own logging as it was."""
    logger = logging.getLogger("facegan.runtime")
    handler = logging.StreamHandler()  # sys.stderr as it is when the command starts
    handler.setFormatter(logging.Formatter(f"{TOOL}: %(levelname)s: %(message)s"))
    old_level = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def main() -> None:
    # No require_extra here: numpy, onnxruntime and pillow are the base install's own dependencies.
    app(prog_name=TOOL)


if __name__ == "__main__":
    main()
