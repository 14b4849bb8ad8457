"""Configs and presets: validation from the field declarations, presets as the README documents them."""

import dataclasses
import math
import re
from pathlib import Path

import pytest

from facegan.runtime.errors import UsageError
from facegan.train.config import (
    DEFAULT_PRESET, PRESETS, RESUME_CHANGEABLE, ModelConfig, TrainConfig, from_dict, resolve,
)

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_presets_resolve_and_override():
    for name in PRESETS:
        m, t = resolve(name, {}, {})
        assert t.preset == name
    m, t = resolve("dcgan-sigmoid", {"image_size": 32}, {"batch_size": 8, "seed": None})
    assert m.activation == "sigmoid" and m.value_range == (0.0, 1.0) and m.image_size == 32
    assert t.batch_size == 8 and t.seed == 0
    assert resolve("dcgan-linear-128", {}, {})[1].epochs == 20
    stable = resolve("dcgan-stable", {}, {})
    assert stable[0].d_dropout > 0 and stable[1].label_smoothing > 0 and stable[1].lr_schedule != "constant"


@pytest.mark.parametrize(
    "model,train",
    [({"image_size": 48}, {}), ({"stem": "mlp"}, {}), ({}, {"loss": "nope"}), ({}, {"batch_size": 0})],
)
def test_bad_configs_raise_usage_error(model, train):
    with pytest.raises(UsageError):
        resolve("dcgan", model, train)
    with pytest.raises(UsageError, match="unknown preset"):
        resolve("nope", {}, {})


def test_config_round_trips_through_dict_and_ignores_unknown_keys():
    cfg = ModelConfig(latent_dim=128, stem="linear")
    assert from_dict(ModelConfig, {**dataclasses.asdict(cfg), "future_key": 1}) == cfg
    assert from_dict(TrainConfig, dataclasses.asdict(TrainConfig(seed=9))).seed == 9


def test_wgan_gp_critic_drops_batchnorm():
    m, _ = resolve("dcgan", {}, {"loss": "wgan-gp"})
    assert m.d_norm == "layer"
    assert resolve("dcgan", {"d_norm": "none"}, {"loss": "wgan-gp"})[0].d_norm == "none"
    with pytest.raises(UsageError, match="wgan-gp"):
        resolve("dcgan", {"d_norm": "batch"}, {"loss": "wgan-gp"})


def test_epochs_or_steps_must_give_a_length():
    TrainConfig(epochs=0, steps=5).validate()
    with pytest.raises(UsageError, match="epochs or steps"):
        TrainConfig(epochs=0, steps=0).validate()


# -- every declared bound and choice is checked -------------------------------------------------

def _checked_fields():
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            m = f.metadata
            if m["choices"] or m["min"] is not None or m["above"] is not None:
                yield pytest.param(cls, f, id=f.name)


def _edges(f) -> tuple[list, list]:
    """(values just inside the declared bounds or choices, values just outside them)."""
    m, step = f.metadata, 0.5 if isinstance(f.default, float) else 1
    if m["choices"]:
        return list(m["choices"]), [48 if isinstance(f.default, int) else "nope"]
    if m["above"] is not None:
        return [m["above"] + 1e-9], [m["above"], m["above"] - step, math.nan]
    good, bad = [m["min"]], [m["min"] - step]
    if m["below"] is not None:
        good, bad = [m["min"], m["below"] - 1e-9], [*bad, m["below"]]
    if isinstance(f.default, float):
        bad += [math.inf, math.nan]
    return good, bad


@pytest.mark.parametrize("cls,f", list(_checked_fields()))
def test_validate_checks_every_declared_bound_and_choice(cls, f):
    base = cls(steps=1) if cls is TrainConfig else cls()  # steps=1 lets epochs be 0
    good, bad = _edges(f)
    for value in good:
        dataclasses.replace(base, **{f.name: value}).validate()
    for value in bad:
        with pytest.raises(UsageError, match=rf"^{f.name} must be"):
            dataclasses.replace(base, **{f.name: value}).validate()


# -- the README's preset table --------------------------------------------------------------------

# What each row of README.md's "### Presets" table says, and the config values it means.
README_PRESETS = {
    "facegan": {
        "the DCGAN generator": {"stem": "convtranspose", "activation": "tanh", "latent_dim": 100},
        "spectral norm": {"spectral_norm": True}, "no BatchNorm": {"d_norm": "none"},
        "minibatch-stddev layer (groups of 4)": {"mbstd_group": 4}, "hinge loss": {"loss": "hinge"},
        "DiffAugment (translation, cutout)": {"diffaug": "translation,cutout"},
        "no R1 penalty": {"r1_gamma": 0.0},
        "Adam lr 2e-4": {"lr_g": 2e-4, "lr_d": 2e-4}, "betas (0, 0.99)": {"beta1": 0.0, "beta2": 0.99},
        "no EMA": {"ema": 0.0}, "batch 128": {"batch_size": 128}, "64x64": {"image_size": 64},
        "15 epochs": {"epochs": 15},
    },
    "dcgan": {
        "ConvTranspose stem": {"stem": "convtranspose"}, "latent 100": {"latent_dim": 100},
        "ngf=ndf=64": {"ngf": 64, "ndf": 64}, "tanh": {"activation": "tanh"}, "BCE": {"loss": "bce"},
        "Adam lr 2e-4": {"lr_g": 2e-4, "lr_d": 2e-4}, "betas (0.5, 0.999)": {"beta1": 0.5, "beta2": 0.999},
        "batch 128": {"batch_size": 128}, "64x64": {"image_size": 64}, "15 epochs": {"epochs": 15},
    },
    "dcgan-linear": {
        "Fully connected stem": {"stem": "linear"}, "latent 100": {"latent_dim": 100},
        "tanh": {"activation": "tanh"}, "BCE": {"loss": "bce"}, "batch 128": {"batch_size": 128},
        "15 epochs": {"epochs": 15},
    },
    "dcgan-linear-128": {
        "Linear stem to 4x4x512": {"stem": "linear", "ngf": 64}, "latent 128": {"latent_dim": 128},
        "tanh": {"activation": "tanh"}, "betas (0.5, 0.999)": {"beta1": 0.5, "beta2": 0.999},
        "20 epochs": {"epochs": 20},
    },
    "dcgan-sigmoid": {
        "Sigmoid output with images in [0, 1]": {"activation": "sigmoid"}, "latent 100": {"latent_dim": 100},
        "BCE": {"loss": "bce"}, "15 epochs": {"epochs": 15},
    },
    "dcgan-stable": {
        "Discriminator dropout 0.3": {"d_dropout": 0.3}, "label smoothing 0.1": {"label_smoothing": 0.1},
        "noisy labels 0.05": {"label_noise": 0.05}, "gradient clipping 10": {"grad_clip": 10.0},
        "cosine LR schedule": {"lr_schedule": "cosine"}, "500 warm-up steps": {"warmup_steps": 500},
        "EMA 0.999": {"ema": 0.999},
    },
}


def _readme_preset_rows() -> dict[str, str]:
    section = README.split("### Presets", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)`( \(default\))? \| (.+) \|$", section, re.M)
    assert rows, "no preset table under ### Presets"
    assert [name for name, default, _ in rows if default] == [DEFAULT_PRESET]
    return {name: text for name, _, text in rows}


def test_readme_preset_table_matches_the_presets():
    rows = _readme_preset_rows()
    assert list(rows) == list(PRESETS) == list(README_PRESETS)
    for name, claims in README_PRESETS.items():
        p = PRESETS[name]
        for phrase, values in claims.items():
            assert phrase in rows[name], f"README no longer says {phrase!r} of {name}"
            for field, want in values.items():
                part = p.model if hasattr(p.model, field) else p.train
                assert getattr(part, field) == want, f"{name}: {field} is {getattr(part, field)!r}, README: {phrase!r}"
    assert DEFAULT_PRESET == "facegan" and TrainConfig().preset == "dcgan"  # old checkpoints: the classic


# -- what --resume may change, as the README says -------------------------------------------------

# Words of the README sentence that name settings without a flag in backticks.
README_RESUME_WORDS = {"caching": {"cache", "cache_dir"}, "logging": {"log_every"}, "FID": {"fid_every", "fid_samples"}}


def test_resume_changeable_is_what_the_readme_documents():
    sentence = re.search(r"`--resume` continues a run with its own config: only (.+?) may change", README, re.S)
    assert sentence, "README lost the sentence on what --resume may change"
    text = sentence.group(1)
    documented = {flag[2:].replace("-", "_") for flag in re.findall(r"`(--[a-z0-9-]+)`", text)}
    for word, fields in README_RESUME_WORDS.items():
        assert re.search(rf"\b{word}\b", text), word
        documented |= fields
    assert documented == RESUME_CHANGEABLE
