"""Shared fixtures: tiny configs and checkpoints that every part's tests can build in milliseconds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test`: one worker per core) each worker, and every process it starts,
# gets its share of the cores, so the workers' torch thread pools never oversubscribe the CPU.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

torch = pytest.importorskip("torch")

from facegan.train.checkpoint import build_checkpoint, save_checkpoint  # noqa: E402
from facegan.train.config import PRESETS, ModelConfig  # noqa: E402
from facegan.train.models import build_models  # noqa: E402


def tiny(cfg: ModelConfig, **overrides) -> ModelConfig:
    """A preset's model shrunk for tests: 32 px, 8 feature maps, unless overridden."""
    return dataclasses.replace(cfg, **{"image_size": 32, "ngf": 8, "ndf": 8, **overrides})


# What `write_checkpoint(..., attributes=True)` conditions on: toy-face attributes, two of them
# exclusive hair colours, so the prior has combinations that never occur.
TEST_ATTRIBUTES = ("Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair")


def write_checkpoint(path: Path, preset: str = "dcgan", seed: int = 0, ema: bool = False,
                     attributes: bool | tuple[str, ...] = False, **model_overrides) -> Path:
    """Write a facegan checkpoint of a tiny, untrained model of `preset` whose faces have contrast.

    With `attributes` (True: TEST_ATTRIBUTES, or toy-face attribute names) the model is conditional
    on them, with the checkpoint's "attributes" summary of 512 toy faces' labels, and its attribute
    embedding and conditional BatchNorm scaled up so that switching one attribute visibly changes the face.

    An untrained tiny generator draws an almost constant grey, which any wrong seed, wrong weights
    or constant model would match. So the last layer is scaled up until the outputs span the value
    range and differ from seed to seed, and BatchNorm running statistics are perturbed so eval mode
    differs from identity, as after training. With `ema`, the EMA weights are another such
    generator (seeded apart), so a test can tell which weights were used.
    """
    p = PRESETS[preset]
    summary = None
    if attributes:
        summary = _attribute_summary(TEST_ATTRIBUTES if attributes is True else tuple(attributes), seed)
        model_overrides["num_attributes"] = len(summary["names"])
    model_cfg = tiny(p.model, **model_overrides)
    g, d = build_models(model_cfg, seed)
    _give_contrast(g, seed)
    g_ema = None
    if ema:
        g_ema, _ = build_models(model_cfg, seed + 1000)
        _give_contrast(g_ema, seed + 1000)
    train_cfg = dataclasses.replace(p.train, preset=preset, seed=seed, ema=0.999 if ema else 0.0)
    state = build_checkpoint(
        model_cfg, train_cfg, generator=g.state_dict(), discriminator=d.state_dict(),
        generator_ema=g_ema.state_dict() if g_ema is not None else None, step=3, epoch=1, attributes=summary,
    )
    save_checkpoint(state, path)
    return path


def _attribute_summary(names: tuple[str, ...], seed: int) -> dict:
    from facegan.runtime.attributes import summarize
    from facegan.train.toyface_params import ATTRIBUTES, toy_face_attributes

    values = toy_face_attributes(512, seed)[:, [ATTRIBUTES.index(n) for n in names]]
    return summarize(names, values)


def _give_contrast(g: torch.nn.Module, seed: int) -> None:
    """BatchNorm statistics of real activations (so z matters in eval mode), last layer scaled up."""
    gen = torch.Generator().manual_seed(seed + 1)
    k = g.cfg.num_attributes
    if k:  # an attribute moves z by about one standard deviation
        with torch.no_grad():
            g.embed.weight.normal_(0.0, 1.0, generator=gen)
            for film in g.film.values():  # and scales and shifts its channels, as a trained G does
                film.gain.normal_(0.0, 0.3, generator=gen), film.shift.normal_(0.0, 0.3, generator=gen)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
        g.train()
        for _ in range(4):
            y = () if not k else ((torch.rand(64, k, generator=gen) < 0.5).float(),)
            g(torch.randn(64, g.cfg.latent_dim, generator=gen), *y)
        for m in norms:
            m.momentum = 0.1
        last = [m for m in g.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))][-1]
        last.weight.mul_(CONTRAST_GAIN)
    g.eval()


# Scales the last layer of a tiny untrained generator so that its outputs span the value range.
CONTRAST_GAIN = 6.0


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
