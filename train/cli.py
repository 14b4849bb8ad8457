"""`facegan-train`: train a DCGAN face generator (also `python -m facegan.train`, and under torchrun).

The config flags are not listed here: each `ModelConfig`/`TrainConfig` field declared with
`config.option(...)` becomes a `--kebab-case` option (choices as Enums, booleans as `--x/--no-x`),
so the fields, their help and their choices are written once, in config.py. This file adds the
flags that are not config (`--lr`, `--out`, `--resume`, ...), calls `facegan.train.loop.train`, and
turns domain errors into exit codes: 1 for failures, 2 for usage errors, 130 when stopped by Ctrl-C
(after saving).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from facegan.runtime.console import choice_enum, exit_codes, make_app, require_extra, version_callback

from .config import DEFAULT_PRESET, PRESETS, ModelConfig, TrainConfig, bounds_text, flag, resolve

TOOL = "facegan-train"
DEFAULT_OUT = Path("runs")

app = make_app("Train a DCGAN face generator on CelebA, a folder of images, or the built-in toy faces.")

# Which part of a preset a config class is, to show a default only where every preset agrees.
_PRESET_PART = {ModelConfig: "model", TrainConfig: "train"}


def _options(
    list_presets: Annotated[bool, typer.Option("--list-presets", help="List the presets and exit.")] = False,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of both G and D (--lr-g and --lr-d win).")] = None,
    out: Annotated[Optional[Path], typer.Option(help=f"Parent folder of run directories.  [default: {DEFAULT_OUT}]", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Run directory name (default: the data's name).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue a run: its directory or a checkpoint.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Show no progress bar.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """The flags that are not config fields; `train` takes them next to the generated ones."""


def _field_parameter(cls: type, f: dataclasses.Field, hint: Any) -> inspect.Parameter:
    """The typer option of one config field: `None` means not given, so the preset's value stays."""
    meta = f.metadata
    kind = meta["cli_type"] or hint
    if meta["choices"] and hint is str:
        kind = choice_enum("".join(w.title() for w in f.name.split("_")), meta["choices"])
    decls = [f"{flag(f.name)}/--no-{flag(f.name)[2:]}"] if hint is bool else [flag(f.name)]
    notes = [d for d in (_default_text(cls, f), bounds_text(meta)) if d]
    help = meta["help"] + (f"  [{'; '.join(notes)}]" if notes else "")
    option = typer.Option(*decls, help=help, show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[kind], option])


def _default_text(cls: type, f: dataclasses.Field) -> str:
    if f.name == "preset":
        return f"default: {DEFAULT_PRESET}"
    values = {getattr(getattr(p, _PRESET_PART[cls]), f.name) for p in PRESETS.values()}
    if len(values) > 1:
        return "default: set by --preset"
    value = values.pop()
    if isinstance(value, bool):
        return "default: " + ("" if value else "no-") + flag(f.name)[2:]
    return f"default: {value}" if value != "" else ""  # "" means "see the help"


def _config_fields() -> list[tuple[type, dataclasses.Field, Any]]:
    return [(cls, f, typing.get_type_hints(cls)[f.name]) for cls in (TrainConfig, ModelConfig)
            for f in dataclasses.fields(cls) if "help" in f.metadata]  # declared with option()


def _signature() -> inspect.Signature:
    """The config options in field order, `--lr` just before `--lr-g`, then the other flags."""
    fields = [_field_parameter(cls, f, hint) for cls, f, hint in _config_fields()]
    others = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
              for p in inspect.signature(_options, eval_str=True).parameters.values()]
    lr = next(p for p in others if p.name == "lr")
    at = next(i for i, p in enumerate(fields) if p.name == "lr_g")
    return inspect.Signature([*fields[:at], lr, *fields[at:], *(p for p in others if p is not lr)])


def _overrides(flags: dict[str, Any], lr: float | None) -> tuple[dict, dict]:
    """The given config flags as (model, train) overrides, in the form the config stores them."""
    parts: dict[type, dict] = {ModelConfig: {}, TrainConfig: {}}
    for cls, f, _ in _config_fields():
        value = flags[f.name]
        if value is None:
            continue
        value = value.value if isinstance(value, Enum) else str(value) if isinstance(value, Path) else value
        parts[cls][f.name] = f.metadata["convert"](value) if f.metadata["convert"] else value
    if lr is not None:
        for name in ("lr_g", "lr_d"):
            parts[TrainConfig].setdefault(name, lr)
    return parts[ModelConfig], parts[TrainConfig]


def train(**flags: Any) -> None:
    """Train a DCGAN. Flags next to --preset override it."""
    from .loop import train as run_training
    from .resume import resume_from, resume_run_dir
    from .rundir import RunDir, default_run_name, resolved_config

    if flags["list_presets"]:
        for key, p in PRESETS.items():
            typer.echo(f"{key:18s} {p.description}")
        return
    out, name, resume, overwrite = flags["out"], flags["name"], flags["resume"], flags["overwrite"]
    model_overrides, train_overrides = _overrides(flags, flags["lr"])
    with exit_codes(TOOL):
        ckpt = None
        if resume is not None:
            run_dir = resume_run_dir(resume, out, name, overwrite)
            model_cfg, train_cfg, ckpt = resume_from(resume, train_overrides, model_overrides)
        else:
            preset = train_overrides.pop("preset", DEFAULT_PRESET)
            model_cfg, train_cfg = resolve(preset, model_overrides, train_overrides)
            run_dir = (out or DEFAULT_OUT) / (name or default_run_name(train_cfg.data))
    if flags["dry_run"]:
        typer.echo(json.dumps({**resolved_config(model_cfg, train_cfg), "run_dir": str(run_dir)}, indent=2))
        return
    with exit_codes(TOOL), _interrupt_exits_130():
        if ckpt is None:
            RunDir(run_dir).check_new(overwrite)  # now: the run directory itself is made after the data loads
        from .distributed import launched_rank
        from .reporting import epoch_hook, finish_run

        is_main = launched_rank() == 0  # under torchrun only rank 0 draws, scores and prints
        hook = epoch_hook(run_dir, model_cfg, train_cfg, typer.echo) if is_main else None
        result = run_training(model_cfg, train_cfg, run_dir, resume=ckpt, overwrite=overwrite, quiet=flags["quiet"],
                              echo=typer.echo, on_epoch=hook)
        if not is_main:
            return
        finish_run(result, train_cfg, typer.echo)
    epochs = f"{result.epoch} epoch" + ("" if result.epoch == 1 else "s")
    typer.echo(f"done: {result.step} steps, {epochs}; run directory {result.run_dir}")
    behind = "" if result.checkpoint_step == result.step else (
        f"; the {result.step - result.checkpoint_step} steps after it had non-finite losses")
    typer.echo(f"checkpoint: {result.last_checkpoint} (step {result.checkpoint_step}{behind})")


train.__signature__ = _signature()  # what typer reads to build the options
app.command()(train)


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


__all__ = ["app", "main"]


if __name__ == "__main__":
    main()
