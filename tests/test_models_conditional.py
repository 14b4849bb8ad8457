"""The attribute-conditional G and D (issue 13): shapes, the attributes reaching the output, and the
unconditional networks left exactly as they were (their keys are pinned here as recorded before).
"""

import dataclasses
from pathlib import Path

import pytest
import torch

from facegan.runtime.errors import UsageError
from facegan.train.checkpoint import load_checkpoint
from facegan.train.config import PRESETS, ModelConfig, from_dict
from facegan.train.models import Discriminator, Generator, build_models, generator_from_state

FIXTURE_CKPT = Path(__file__).parent / "fixtures" / "v0.1" / "run" / "checkpoints" / "last.pt"
K = 3  # attributes of the tiny conditional models
TINY = dict(image_size=32, ngf=4, ndf=4, latent_dim=16)

# state_dict keys of ModelConfig() and of the facegan preset, recorded from the code before issue 13.
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
CLASSIC_G_KEYS = ["stem.0.weight", *(f"stem.1.{p}" for p in _BN)] + [
    key for i in (0, 3, 6) for key in (f"main.{i}.weight", *(f"main.{i + 1}.{p}" for p in _BN))] + ["main.9.weight"]
CLASSIC_D_KEYS = ["main.0.weight"] + [
    key for i in (2, 5, 8) for key in (f"main.{i}.weight", *(f"main.{i + 1}.{p}" for p in _BN))] + ["main.11.weight"]
FACEGAN_D_KEYS = [f"main.{i}.parametrizations.weight.{p}" for i in (0, 2, 5, 8, 12)
                  for p in ("original", "0._u", "0._v")]


def _attributes(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, (n, K), generator=torch.Generator().manual_seed(seed)).float()


def _models(**overrides) -> tuple[Generator, Discriminator]:
    g, d = build_models(ModelConfig(**{**TINY, "num_attributes": K, **overrides}), seed=0)
    return g.eval(), d.eval()  # eval: BatchNorm statistics and spectral-norm vectors stay put


def test_num_attributes_defaults_to_unconditional_and_has_no_flag():
    assert ModelConfig().num_attributes == 0
    old = load_checkpoint(FIXTURE_CKPT)["model_config"]
    assert "num_attributes" not in old and from_dict(ModelConfig, old).num_attributes == 0
    field = next(f for f in dataclasses.fields(ModelConfig) if f.name == "num_attributes")
    assert field.metadata.get("internal") and "help" not in field.metadata  # no --num-attributes
    assert all(p.model.num_attributes == 0 for p in PRESETS.values())
    with pytest.raises(UsageError, match="num_attributes"):
        ModelConfig(num_attributes=-1).validate()


def test_unconditional_state_dict_keys_are_unchanged():
    g, d = build_models(ModelConfig(), seed=0)
    assert list(g.state_dict()) == CLASSIC_G_KEYS and list(d.state_dict()) == CLASSIC_D_KEYS
    _, d = build_models(PRESETS["facegan"].model, seed=0)
    assert list(d.state_dict()) == FACEGAN_D_KEYS
    ckpt = load_checkpoint(FIXTURE_CKPT)  # written by facegan 0.1
    g, d = build_models(from_dict(ModelConfig, ckpt["model_config"]), seed=0)
    assert list(g.state_dict()) == list(ckpt["generator"]) and list(d.state_dict()) == list(ckpt["discriminator"])
    assert not hasattr(g, "embed") and not hasattr(d, "embed")


def test_conditional_models_add_only_the_conditioning_modules():
    for overrides, d_embed in (({}, ["embed.weight"]),
                               (dict(spectral_norm=True, d_norm="none", mbstd_group=4),
                                ["embed.parametrizations.weight.original", "embed.parametrizations.weight.0._u",
                                 "embed.parametrizations.weight.0._v"])):
        cfg = ModelConfig(**TINY, **overrides)
        g0, d0 = build_models(cfg, seed=0)
        g, d = build_models(dataclasses.replace(cfg, num_attributes=K), seed=0)
        # G: the z embedding, then a scale and shift per attribute after each upsampling BatchNorm
        # (32 px: at main.1 and main.4) and after the stem's
        film = [f"film.{i}.{p}" for i in ("1", "4", "stem") for p in ("gain", "shift")]
        assert list(g.state_dict()) == list(g0.state_dict()) + ["embed.weight", *film]
        assert all(isinstance(g.main[int(i)], torch.nn.BatchNorm2d) for i in g.film if i != "stem")
        assert g.film["stem"].gain.shape == (K, g.stem[-2].num_features)
        assert g.embed.weight.shape == (cfg.latent_dim, K) and g.embed.bias is None  # k -> latent_dim, no bias
        assert g.film["1"].gain.shape == (K, g.main[1].num_features) and not g.film["1"].gain.any()
        # D: the unconditional network's weights, the projection and a separate classifier
        keys = list(d.state_dict())
        assert keys[: len(d0.state_dict())] == list(d0.state_dict()) and d.embed.bias is None
        assert keys[len(d0.state_dict()):][: len(d_embed)] == d_embed
        assert all(k.startswith("classifier.") for k in keys[len(d0.state_dict()) + len(d_embed):])
        # D's first convolution also takes the k attribute maps beside the image's channels
        first = [k for k in d0.state_dict() if k.startswith("main.0.")][0]
        assert d.state_dict()[first].shape[1] == 3 + K and d0.state_dict()[first].shape[1] == 3


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("stem", ["convtranspose", "linear"])
@pytest.mark.parametrize("facegan_d", [False, True])
def test_conditional_shapes(image_size, stem, facegan_d):
    d_opts = dict(spectral_norm=True, d_norm="none", mbstd_group=4) if facegan_d else {}
    g, d = _models(image_size=image_size, stem=stem, **d_opts)
    x = g(torch.randn(4, 16), _attributes(4))
    assert x.shape == (4, 3, image_size, image_size)
    assert d(x, _attributes(4)).shape == (4,)
    assert g(torch.randn(1, 16), _attributes(1)).shape == (1, 3, image_size, image_size)


def test_each_attribute_moves_z_and_scales_and_shifts_the_stem_and_every_block():
    g, _ = _models()
    with torch.no_grad():
        for film in g.film.values():  # trained values: conditional BatchNorm starts at zero
            film.gain.normal_(0, 0.1), film.shift.normal_(0, 0.1)
        z, off = torch.randn(2, 16, generator=torch.Generator().manual_seed(0)), torch.zeros(2, K)
        on = off.clone()
        on[:, 1] = 1.0
        base, switched = g(z, off), g(z, on)
        assert (switched - base).abs().max() > 0.01 * base.abs().max() > 0
        assert torch.equal(g(z, off), base)
        # With every attribute off, the conditional G is the unconditional body fed z.
        body = Generator(ModelConfig(**TINY)).eval()
        body.load_state_dict({k: v for k, v in g.state_dict().items() if not k.startswith(("embed.", "film."))})
        assert torch.equal(base, body(z))
        # With one on: z + embed[:, j], and after BatchNorm i, x * (1 + gain[j]) + shift[j].
        film = g.film["stem"]
        h = body.stem[:-1]((z + g.embed.weight[:, 1]).reshape(2, 16, 1, 1))
        h = torch.relu(h * (1 + film.gain[1])[None, :, None, None] + film.shift[1][None, :, None, None])
        for i, layer in enumerate(body.main):
            h = layer(h)
            if str(i) in g.film:
                f = g.film[str(i)]
                h = h * (1 + f.gain[1])[None, :, None, None] + f.shift[1][None, :, None, None]
        assert torch.allclose(switched, h, atol=1e-6)


def test_attributes_reach_the_image_under_batch_statistics():
    # In training, BatchNorm after the stem normalises over the batch: attributes that differ between
    # the images of a batch still tell them apart (the same z, one attribute switched).
    g, _ = build_models(ModelConfig(**TINY, num_attributes=K), seed=0)
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(3))
    z[1:4] = z[0]
    a = torch.zeros(8, K)
    a[1:4] = torch.eye(K)
    with torch.no_grad():
        x = g.train()(z, a)
    for i in range(1, 4):
        assert (x[i] - x[0]).abs().max() > 0.01 * x.abs().max()


@pytest.mark.parametrize("facegan_d", [False, True])
def test_discriminator_conditioning(facegan_d):
    """D(x, y) = psi(h) + <embed(y), phi(h)>, h the features of the image with the k attribute maps
    beside it; with no attribute on it is the unconditional D; `classify` adds its classifier's
    logits, which read x alone."""
    d_opts = dict(spectral_norm=True, d_norm="none", mbstd_group=4) if facegan_d else {}
    _, d = _models(**d_opts)
    x, a = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)), _attributes(4, seed=1)
    if not facegan_d:  # (with spectral norm, sigma is that of the whole first weight, attribute channels included)
        with torch.no_grad():
            state = {k: v for k, v in d.state_dict().items() if not k.startswith(("embed.", "classifier."))}
            state["main.0.weight"] = state["main.0.weight"][:, :3]  # the image's channels of the first conv
            plain = Discriminator(ModelConfig(**TINY, **d_opts)).eval()
            plain.load_state_dict(state)
            assert torch.allclose(d(x, torch.zeros(4, K)), plain(x), atol=1e-5)
    with torch.no_grad():
        maps = torch.cat([x, a[:, :, None, None].expand(-1, -1, 32, 32)], dim=1)
        h = d.main[: -d.psi_layers](maps)
        phi = h.sum(dim=(2, 3))
        projection = (d.embed(a) * phi).sum(dim=1)
        assert projection.abs().min() > 0
        assert torch.allclose(d(x, a), d.main[-d.psi_layers:](h) + projection, atol=1e-5)
        logit, classes = d(x, a, classify=True)
        assert torch.equal(logit, d(x, a)) and classes.shape == (4, K)
        # The classifier reads the image only: the attributes given to D do not reach it.
        assert torch.equal(classes, d.classifier(x)) and torch.equal(d(x, 1 - a, classify=True)[1], classes)


def test_gradients_reach_every_conditioning_weight():
    for d_opts in ({}, dict(spectral_norm=True, d_norm="none", mbstd_group=4)):
        g, d = build_models(ModelConfig(**TINY, num_attributes=K, **d_opts), seed=0)
        a = _attributes(4)
        logit, classes = d(g.train()(torch.randn(4, 16), a), a, classify=True)
        (logit.mean() + classes.mean()).backward()
        d_weight = d.embed.parametrizations.weight.original if d_opts else d.embed.weight
        assert g.embed.weight.grad.abs().sum() > 0 and d_weight.grad.abs().sum() > 0
        assert all(f.gain.grad.abs().sum() > 0 and f.shift.grad.abs().sum() > 0 for f in g.film.values())
        assert d.classifier.head.weight.grad.abs().sum() > 0


def test_conditional_build_is_deterministic_and_loads_from_its_state():
    cfg = ModelConfig(**TINY, num_attributes=K)
    (g1, _), (g2, _) = build_models(cfg, seed=5), build_models(cfg, seed=5)
    assert torch.equal(g1.embed.weight, g2.embed.weight)
    g = generator_from_state(cfg, g1.state_dict())
    z, a = torch.randn(2, 16, generator=torch.Generator().manual_seed(1)), _attributes(2)
    with torch.no_grad():
        assert torch.equal(g(z, a), g2.eval()(z, a))


@pytest.mark.parametrize("attributes, message", [
    (torch.zeros(4, K + 1), r"shape \(4, 3\).*got \(4, 4\)"),
    (torch.zeros(3, K), r"shape \(4, 3\).*got \(3, 3\)"),
    (torch.zeros(4 * K), r"shape \(4, 3\).*got \(12,\)"),
    (torch.zeros(4, K, 1), r"shape \(4, 3\).*got \(4, 3, 1\)"),
    (torch.zeros(4, K, dtype=torch.long), r"float tensor of shape \(4, 3\), got torch.int64"),
    (None, r"conditional: pass attributes of shape \(4, 3\)"),
])
def test_wrong_attributes_are_refused(attributes, message):
    g, d = _models()
    with pytest.raises(UsageError, match=message):
        g(torch.randn(4, 16), attributes)
    with pytest.raises(UsageError, match=message):
        d(torch.randn(4, 3, 32, 32), attributes)


def test_unconditional_models_refuse_attributes():
    g, d = build_models(ModelConfig(**TINY), seed=0)
    with pytest.raises(UsageError, match="unconditional"):
        g(torch.randn(2, 16), torch.zeros(2, K))
    with pytest.raises(UsageError, match="unconditional"):
        d(torch.randn(2, 3, 32, 32), torch.zeros(2, K))
