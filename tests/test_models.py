"""Shapes and init of the DCGAN networks, for every size, stem and activation (configs: test_config.py)."""

import pytest
import torch

from facegan.train.config import PRESETS, ModelConfig
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


def test_minibatch_stddev_sees_how_varied_a_group_is():
    from facegan.train.models import MinibatchStdDev

    layer = MinibatchStdDev(4)
    varied = torch.randn(8, 3, 4, 4)
    same = varied[:1].repeat(8, 1, 1, 1)
    out = layer(varied)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], varied)
    assert out[:, 3].min() > 0.3  # about 1 for unit-variance features
    assert layer(same)[:, 3].max() < 1e-3  # a collapsed batch shows none
    # Image i is grouped with i + 2, i + 4, i + 6 (groups of 4 out of 8): one value per group member.
    assert torch.equal(out[0, 3], out[2, 3]) and not torch.equal(out[0, 3], out[1, 3])
    assert layer(torch.randn(6, 3, 4, 4)).shape == (6, 4, 4, 4)  # 6 is not divisible by 4: groups of 3


def test_discriminator_with_minibatch_stddev_scores_each_image():
    cfg = ModelConfig(image_size=32, ngf=8, ndf=8, mbstd_group=4, spectral_norm=True, d_norm="none")
    _, d = build_models(cfg, seed=0)
    assert d(torch.randn(8, 3, 32, 32)).shape == (8,)
