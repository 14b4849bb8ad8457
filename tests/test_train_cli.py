"""facegan-train's options, made from the config fields: names, help, values, and usage errors."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from facegan.train.cli import app
from facegan.train.config import PRESETS, ModelConfig, TrainConfig

runner = CliRunner()
COMMAND = typer.main.get_command(app)
# The flags that are not config fields: what to do, where the run lives, how it prints.
CLI_ONLY = {"--list-presets", "--lr", "--out", "--name", "--resume", "--overwrite", "--dry-run", "--quiet", "--version"}


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def dry_run(*args) -> dict:
    result = run_cli("--data", "toy-faces", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _fields():
    return [(cls, f) for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)]


def _kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def test_list_presets_names_each_preset_exactly():
    result = run_cli("--list-presets")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == list(PRESETS)
    for line, (name, p) in zip(lines, PRESETS.items()):
        assert re.fullmatch(rf"{re.escape(name)} +{re.escape(p.description)}", line), line


def test_every_config_field_has_a_flag_unless_internal():
    options = {opt for p in COMMAND.params for opt in p.opts}
    for _, f in _fields():
        if f.metadata.get("internal"):
            assert _kebab(f.name) not in options, f"{f.name} is internal but has a flag"
        else:
            assert _kebab(f.name) in options, f"{f.name} has no flag {_kebab(f.name)}"
    primary = {opt for p in COMMAND.params for opt in p.opts if opt.startswith("--")}
    fields = {_kebab(f.name) for _, f in _fields() if not f.metadata.get("internal")}
    assert primary == fields | CLI_ONLY, "a flag that is neither a config field nor in CLI_ONLY"


def test_every_flag_has_a_full_sentence_of_help():
    for p in COMMAND.params:
        sentence = re.sub(r"(\s+\[[^\]]*\])+$", "", p.help or "")  # without "[default: ...]" and ranges
        assert re.fullmatch(r"[A-Z][^\n]*[^.\s]\.", sentence), f"{p.opts}: {p.help!r}"


def test_booleans_come_as_on_off_pairs():
    for cls, f in _fields():
        if isinstance(f.default, bool) and not f.metadata.get("internal"):
            (param,) = [p for p in COMMAND.params if p.name == f.name]
            assert param.opts == [_kebab(f.name)] and param.secondary_opts == ["--no-" + _kebab(f.name)[2:]]


def _other_value(f, current):
    """A valid value of field `f` that differs from `current`."""
    m = f.metadata
    if m["choices"]:
        return next(c for c in m["choices"] if c != current)
    if isinstance(current, bool):
        return not current
    if f.name == "preset":
        return "dcgan-stable"
    if f.name == "data":
        return "celeba"  # the dry run is on toy-faces
    if f.name == "labels":
        return "/elsewhere/labels.csv"  # stored absolute: an absolute path stays as it is
    if f.name == "diffaug":
        return "color" if current != "color" else "cutout"
    if isinstance(current, str):
        return "elsewhere"
    if isinstance(current, int):
        return current + 1
    if m["below"] is not None:
        middle = (m["min"] + m["below"]) / 2
        return middle if middle != current else (current + m["below"]) / 2
    return current * 2 if current else 1.0


def test_every_flag_sets_its_field():
    base = dry_run()
    args, want = [], {}
    for cls, f in _fields():
        if f.metadata.get("internal"):
            continue
        part = "model" if cls is ModelConfig else "train"
        value = _other_value(f, base[part][f.name])
        want[(part, f.name)] = value
        if isinstance(value, bool):
            args.append(_kebab(f.name) if value else "--no-" + _kebab(f.name)[2:])
        else:
            args += [_kebab(f.name), value]
    got = dry_run(*args)
    assert {k: got[k[0]][k[1]] for k in want} == want


def test_lr_sets_both_and_lr_g_lr_d_win():
    train = dry_run("--lr", "1e-3")["train"]
    assert (train["lr_g"], train["lr_d"]) == (1e-3, 1e-3)
    train = dry_run("--lr", "1e-3", "--lr-d", "5e-4")["train"]
    assert (train["lr_g"], train["lr_d"]) == (1e-3, 5e-4)


def test_data_folder_is_stored_absolute_and_named_data_as_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dry_run("--data", "photos")["train"]["data"] == str(tmp_path.resolve() / "photos")
    assert dry_run("--data", "toy-faces")["train"]["data"] == "toy-faces"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dry_run("--data", "~/faces")["train"]["data"] == str(tmp_path.resolve() / "home" / "faces")


def test_no_cache_and_cache_dir():
    train = dry_run("--no-cache", "--cache-dir", "somewhere/caches")["train"]
    assert train["cache"] is False and train["cache_dir"] == "somewhere/caches"
    assert dry_run()["train"]["cache"] is True


def test_flags_override_the_preset_and_the_run_dir_follows_out_and_name(tmp_path):
    cfg = dry_run("--preset", "dcgan-linear-128", "--epochs", "3", "--out", tmp_path, "--name", "x")
    assert cfg["train"]["preset"] == "dcgan-linear-128" and cfg["model"]["latent_dim"] == 128
    assert cfg["train"]["epochs"] == 3 and cfg["run_dir"] == str(tmp_path / "x")
    assert dry_run()["run_dir"] == str(Path("runs") / "toy-faces")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--lr", "-1"], "lr_g must be a positive number, got -1.0"),
        (["--preset", "nope"], "unknown preset 'nope'; choose from " + ", ".join(PRESETS)),
        (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--seed", "-1"], "seed must be >= 0, got -1"),
        (["--ema", "1"], "ema must be in [0, 1), got 1.0"),
        (["--image-size", "48"], "image_size must be one of 32, 64, 128, got 48"),
        (["--epochs", "0"], "epochs or steps must be >= 1"),
    ],
)
def test_bad_values_exit_2_in_one_line(args, message):
    result = run_cli("--data", "toy-faces", "--dry-run", *args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"facegan-train: error: {message}"


def test_a_choice_outside_its_enum_is_refused_by_the_parser():
    result = run_cli("--loss", "nope", "--dry-run")
    assert result.exit_code == 2 and "'nope' is not one of 'bce', 'lsgan', 'wgan-gp', 'hinge'" in result.output


def test_help_and_version_of_the_console_script():
    exe = Path(sys.executable).with_name("facegan-train")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--batch-size", "--spectral-norm / --no-spectral-norm", "--cache / --no-cache", "--lr ", "--resume"):
        assert flag in proc.stdout
    assert "--batch_size" not in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "facegan.train", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("facegan "), proc.stderr
