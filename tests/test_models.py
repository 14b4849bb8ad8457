"""Shapes, init and configs of the DCGAN networks, for every size, stem and activation."""

import dataclasses

import pytest
import torch

from facegan.train.config import PRESETS, ModelConfig, TrainConfig, from_dict, resolve
from facegan.train.models import Discriminator, Generator, build_models, feature_multipliers


@pytest.mark.parametrize("image_size", [32, 64, 128])
@pytest.mark.parametrize("stem", ["convtranspose", "linear"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_generator_and_discriminator_shapes(image_size, stem, activation):
    cfg = ModelConfig(image_size=image_size, stem=stem, activation=activation, ngf=4, ndf=4, latent_dim=16)
    g, d = build_models(cfg, seed=0)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, 3, image_size, image_size)
    lo, hi = cfg.value_range
    assert x.min() >= lo and x.max() <= hi
    assert d(x).shape == (3,)


def test_classic_dcgan_matches_pytorch_examples_sizes():
    g, d = build_models(ModelConfig(), seed=0)
    assert feature_multipliers(64) == [8, 4, 2, 1]
    # pytorch/examples dcgan: netG 3,576,704 and netD 2,765,568 parameters
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568


def test_linear_stem_128_latent_goes_to_4x4x512():
    p = PRESETS["dcgan-linear-128"]
    g = Generator(p.model)
    assert g.stem[0].in_features == 128 and g.stem[0].out_features == 4 * 4 * 512


def test_weights_init_is_dcgan_and_deterministic():
    cfg = ModelConfig(ngf=16, ndf=16)
    g1, _ = build_models(cfg, seed=3)
    g2, _ = build_models(cfg, seed=3)
    g3, _ = build_models(cfg, seed=4)
    w = g1.main[0].weight
    assert abs(w.std().item() - 0.02) < 0.003 and abs(w.mean().item()) < 0.002
    bn = g1.stem[1].weight
    assert abs(bn.mean().item() - 1.0) < 0.01
    assert torch.equal(w, g2.main[0].weight) and not torch.equal(w, g3.main[0].weight)


def test_discriminator_options():
    cfg = ModelConfig(ngf=4, ndf=4, d_dropout=0.3, spectral_norm=True, d_norm="layer", image_size=32)
    d = Discriminator(cfg)
    assert any(isinstance(m, torch.nn.Dropout) for m in d.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in d.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert d(torch.randn(2, 3, 32, 32)).shape == (2,)


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
def test_bad_configs_raise_value_error(model, train):
    with pytest.raises(ValueError):
        resolve("dcgan", model, train)
    with pytest.raises(ValueError, match="unknown preset"):
        resolve("nope", {}, {})


def test_config_round_trips_through_dict_and_ignores_unknown_keys():
    cfg = ModelConfig(latent_dim=128, stem="linear")
    assert from_dict(ModelConfig, {**dataclasses.asdict(cfg), "future_key": 1}) == cfg
    assert from_dict(TrainConfig, dataclasses.asdict(TrainConfig(seed=9))).seed == 9


def test_wgan_gp_critic_drops_batchnorm():
    m, _ = resolve("dcgan", {}, {"loss": "wgan-gp"})
    assert m.d_norm == "layer"
    assert resolve("dcgan", {"d_norm": "none"}, {"loss": "wgan-gp"})[0].d_norm == "none"
    with pytest.raises(ValueError, match="wgan-gp"):
        resolve("dcgan", {"d_norm": "batch"}, {"loss": "wgan-gp"})
