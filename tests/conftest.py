"""Shared fixtures: tiny configs and checkpoints that every part's tests can build in milliseconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from facegan.train.checkpoint import save_checkpoint  # noqa: E402
from facegan.train.config import PRESETS, ModelConfig  # noqa: E402
from facegan.train.models import build_models  # noqa: E402


def tiny(cfg: ModelConfig, **overrides) -> ModelConfig:
    """A preset's model shrunk for tests: 32 px, 8 feature maps, unless overridden."""
    return dataclasses.replace(cfg, **{"image_size": 32, "ngf": 8, "ndf": 8, **overrides})


def write_checkpoint(path: Path, preset: str = "dcgan", seed: int = 0, ema: bool = False, **model_overrides) -> Path:
    """Write a facegan checkpoint of a tiny, randomly initialised model of `preset`.

    BatchNorm running statistics are perturbed so eval mode differs from identity, as after training.
    """
    p = PRESETS[preset]
    model_cfg = tiny(p.model, **model_overrides)
    g, d = build_models(model_cfg, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    train_cfg = dataclasses.replace(p.train, preset=preset, seed=seed, ema=0.999 if ema else 0.0)
    state = {
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": dataclasses.asdict(train_cfg),
        "generator": g.state_dict(),
        "generator_ema": ({k: v.clone() for k, v in g.state_dict().items()} if ema else None),
        "discriminator": d.state_dict(),
        "step": 3,
        "epoch": 1,
        "data_position": {"epoch": 1, "batch": 0},
        "metrics": {},
        "facegan_version": "test",
    }
    save_checkpoint(state, path)
    return path


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A tiny dcgan checkpoint at tmp_path/ckpt.pt."""
    return write_checkpoint(tmp_path / "ckpt.pt")


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Imports of matplotlib fail, as in an install without the `metrics` extra."""
    import builtins

    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
