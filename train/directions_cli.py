"""`facegan-directions`: find one latent direction per attribute (InterFaceGAN) for a trained model.

    facegan-directions runs/toy-faces                          # the run's data, every labelled attribute
    facegan-directions runs/faces --data ~/faces --labels faces.csv --attributes Smiling,Eyeglasses
    facegan-export runs/toy-faces toy.onnx                     # embeds the directions (facegan.directions)

A small attribute judge is trained on the real labelled images (facegan.train.judge); the run's
generator (EMA weights when kept) draws --samples faces from latents(--seed), the judge labels them,
and a linear boundary per attribute in z gives its direction (facegan.train.directions). The result
goes to <run>/directions.json = {"checkpoint_sha256", "weights", "directions"}, which facegan-export
embeds in the model's metadata when the checkpoint and weights match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from facegan.runtime.console import choice_enum, exit_codes, make_app, require_extra, version_callback
from facegan.runtime.errors import UsageError

TOOL = "facegan-directions"
EDIT_FACES = 500  # faces beyond the fitted ones on which the edits are measured
RELIABLE = 0.95  # "others kept" counts the other attributes the judge reads this well on held-out real images

app = make_app("Find latent directions (InterFaceGAN) for the labelled attributes of a trained facegan model.")
Weights = choice_enum("Weights", ("auto", "ema", "raw"))


@app.command()
def directions(
    model: Annotated[Path, typer.Argument(help="A run directory or a checkpoint (.pt).", exists=True, metavar="RUN_OR_CHECKPOINT")],
    data: Annotated[Optional[str], typer.Option(help="Labelled real images: toy-faces, celeba or a folder (default: the run's).")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="Labels CSV of a folder (default: the run's --labels).")] = None,
    attributes: Annotated[str, typer.Option(help="Comma-separated attribute names from the labels, or all.")] = "all",
    samples: Annotated[int, typer.Option(help="Generated faces labelled to fit the boundaries.", min=20)] = 4000,
    seed: Annotated[int, typer.Option(help="Seed of the generated latents and of the judge.", min=0)] = 0,
    judge_steps: Annotated[int, typer.Option(help="Training steps of the attribute judge.", min=1)] = 1500,
    weights: Annotated[Weights, typer.Option(help="Generator weights: auto (EMA when kept), ema or raw.")] = Weights.auto,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the JSON (default: <run>/directions.json).")] = None,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Train the judge, fit the directions, write directions.json and print a table of them."""
    with exit_codes(TOOL):
        result = run(model, data=data, labels=labels, attributes=attributes, samples=samples, seed=seed,
                     judge_steps=judge_steps, weights=weights.value, out=out)
    _print_table(result)


def run(model: Path, *, data: str | None = None, labels: Path | None = None, attributes: str = "all",
        samples: int = 4000, seed: int = 0, judge_steps: int = 1500, weights: str = "auto",
        out: Path | None = None, echo=None) -> dict:
    """The command without the table: what it wrote, and the measurements behind it."""
    import torch

    from facegan.runtime.files import atomic_write_text

    from .checkpoint import generator_weights, load_checkpoint, resolve_checkpoint_path, sha256_file
    from .config import ModelConfig, from_dict
    from .data import DataSpec, load_data, load_labels
    from .directions import find_directions, measure_edits
    from .judge import train_judge
    from .models import generator_from_state
    from .rundir import RunDir

    ckpt_path = resolve_checkpoint_path(model)
    run_dir = RunDir.of_checkpoint(model)
    ckpt = load_checkpoint(ckpt_path)
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    chosen, state = generator_weights(ckpt, weights)
    g = generator_from_state(cfg, state)
    trained = _trained_config(run_dir, ckpt)
    source = data or trained.get("data") or ""
    if not source:
        raise UsageError("the run records no data; pass --data toy-faces|celeba|FOLDER")
    label_file = labels if labels is not None else (Path(trained["labels"]) if trained.get("labels") and source == trained.get("data") else None)
    cache = trained.get("cache_dir") or str(run_dir.path.parent / ".cache")
    spec = DataSpec(source, cfg.image_size, crop=int(trained.get("crop", 0) or 0), cache_dir=Path(cache),
                    workers=int(trained.get("workers", 2)), seed=int(trained.get("seed", 0)),
                    toy_faces=int(trained.get("toy_faces", 10000)), labels=label_file)
    images = load_data(spec)
    real_labels = load_labels(spec, images)
    names = _pick(attributes, real_labels.names)
    cols = [real_labels.names.index(n) for n in names]
    judge = train_judge(images, real_labels.values[:, cols], names, seed=seed, steps=judge_steps)
    rows = _attribute_rows(ckpt, cfg, samples + EDIT_FACES, seed)
    with torch.no_grad():
        found = find_directions(g, cfg, judge, samples=samples, seed=seed,
                                attributes=None if rows is None else rows[:samples])
        from facegan.runtime import latents

        z_edit = latents(seed, EDIT_FACES, cfg.latent_dim, start=samples)
        edits = measure_edits(g, cfg, judge, found.directions, z_edit, others=judge.reliable(RELIABLE),
                              attributes=None if rows is None else rows[samples:])
    document = {"checkpoint_sha256": sha256_file(ckpt_path), "weights": chosen, "directions": found.directions}
    target = out or run_dir.directions_json
    atomic_write_text(target, json.dumps(document, sort_keys=True) + "\n")
    return {"path": target, "document": document, "judge": judge, "found": found, "edits": edits,
            "checkpoint": ckpt_path, "weights": chosen}


def _trained_config(run_dir, ckpt: dict) -> dict:
    """The training config: the run's config.json when there is one, else the checkpoint's copy."""
    path = run_dir.path / "config.json"
    if path.is_file():
        try:
            return dict(json.loads(path.read_text()).get("train", {}))
        except (ValueError, AttributeError):
            pass
    return dict(ckpt.get("train_config", {}))


def _pick(attributes: str, available: tuple[str, ...]) -> list[str]:
    wanted = [a.strip() for a in attributes.split(",") if a.strip()]
    if not wanted:
        raise UsageError("--attributes is empty; name attributes from the labels or say all")
    if wanted == ["all"]:
        return list(available)
    unknown = [a for a in wanted if a not in available]
    if unknown:
        raise UsageError(f"unknown attribute {', '.join(unknown)}; the labels have {', '.join(available)}")
    return list(dict.fromkeys(wanted))


def _attribute_rows(ckpt: dict, cfg, n: int, seed: int):
    """The attribute rows a conditional generator draws with (the runtime's prior draw); None if unconditional."""
    if cfg.num_attributes == 0:
        return None
    try:
        from facegan.runtime.attributes import AttributeSpace, attribute_vectors
    except ImportError:
        raise UsageError("this facegan cannot draw attributes for a conditional model yet (no facegan.runtime.attributes)") from None
    space = AttributeSpace.from_json(ckpt.get("attributes"), "the checkpoint's attributes")
    return attribute_vectors(space, n, seed)


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    judge, found, edits = result["judge"], result["found"], result["edits"]
    d = result["document"]["directions"]
    table = Table(title=f"directions of {result['checkpoint']} ({result['weights']} weights, {d['samples']} faces)")
    for col in ("attribute", "judge accuracy", "generated on", "boundary accuracy", "edit flips (±2)", "others kept"):
        table.add_column(col, justify="left" if col == "attribute" else "right")
    for name in judge.names:
        if name in d["names"]:
            i = d["names"].index(name)
            e = edits.get(name, {})
            table.add_row(name, f"{judge.accuracy[name]:.1%}", f"{found.generated_share[name]:.1%}",
                          f"{d['boundary_accuracy'][i]:.1%}", f"{e.get('flip', float('nan')):.1%}",
                          f"{e.get('identity', float('nan')):.1%}")
        else:
            table.add_row(name, f"{judge.accuracy[name]:.1%}", f"{found.generated_share[name]:.1%}", "-", "-", "-")
    console = Console(width=120)
    console.print(table)
    console.print(f"edit flips: faces whose reading flips when moved 2 sd toward the other value; others kept: "
                  f"faces whose other attributes read at >= {RELIABLE:.0%} ({', '.join(judge.reliable(RELIABLE)) or 'none'}) stay")
    for name, why in found.skipped.items():
        console.print(f"no direction for {name}: {why}")
    typer.echo(f"wrote {result['path']}")


def main() -> None:
    require_extra(["torch", "torchvision"], "train", TOOL)
    app()


if __name__ == "__main__":
    main()


__all__ = ["app", "main", "run"]
