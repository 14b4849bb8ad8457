"""GAN losses, D targets, the WGAN-GP penalty and the generator EMA: known values on toy logits."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from facegan.train.config import LOSSES, ModelConfig  # noqa: E402
from facegan.train.ema import EMA  # noqa: E402
from facegan.train.losses import d_loss, d_outputs, d_targets, g_loss, gradient_penalty  # noqa: E402
from facegan.train.models import build_models  # noqa: E402


def _grads(loss: str):
    # Logits inside (0, 1): inside the hinge margins and between the least-squares targets.
    real = torch.tensor([0.5, 0.2, 0.8], requires_grad=True)
    fake = torch.tensor([0.3, 0.6, 0.1], requires_grad=True)
    ld = d_loss(loss, real, fake)
    ld.backward()
    fake_g = fake.detach().clone().requires_grad_(True)
    lg = g_loss(loss, fake_g)
    lg.backward()
    return ld, lg, real.grad, fake.grad, fake_g.grad


@pytest.mark.parametrize("loss", LOSSES)
def test_losses_finite_and_push_the_right_way(loss):
    ld, lg, g_real, g_fake, g_gen = _grads(loss)
    assert torch.isfinite(ld) and torch.isfinite(lg)
    # Descending D's loss raises its score of reals and lowers its score of fakes...
    assert (g_real < 0).all() and (g_fake > 0).all()
    # ...and descending G's loss raises D's score of fakes.
    assert (g_gen < 0).all()


def test_known_values():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -2.0])
    bce = -(math.log(0.5) + math.log(1 / (1 + math.exp(-2)))) / 2 * 2
    assert d_loss("bce", real, fake).item() == pytest.approx(bce, rel=1e-6)
    # lsgan: 1/2 [mean((0-1)^2, (2-1)^2) + mean(0^2, (-2)^2)] = 1/2 (1 + 2)
    assert d_loss("lsgan", real, fake).item() == pytest.approx(1.5)
    # hinge: mean(relu(1-0), relu(1-2)) + mean(relu(1+0), relu(1-2)) = 0.5 + 0.5
    assert d_loss("hinge", real, fake).item() == pytest.approx(1.0)
    assert d_loss("wgan-gp", real, fake).item() == pytest.approx(-1.0 - 1.0)
    assert g_loss("bce", torch.tensor([0.0])).item() == pytest.approx(math.log(2))
    assert g_loss("lsgan", torch.tensor([3.0])).item() == pytest.approx(2.0)
    assert g_loss("hinge", torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_per_sample_targets_change_bce_and_lsgan_only():
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.5])
    smooth = torch.tensor([0.9, 0.9])
    for loss in ("bce", "lsgan"):
        assert d_loss(loss, real, fake, smooth) != d_loss(loss, real, fake)
    # lsgan with real target 0.9: 1/2 [((1-.9)^2 + (2-.9)^2)/2 + (1 + .25)/2]
    expected = 0.5 * ((0.01 + 1.21) / 2 + 1.25 / 2)
    assert d_loss("lsgan", real, fake, smooth).item() == pytest.approx(expected, rel=1e-6)
    for loss in ("hinge", "wgan-gp"):
        assert d_loss(loss, real, fake, smooth) == d_loss(loss, real, fake)


def test_unknown_loss_raises():
    with pytest.raises(ValueError, match="loss must be one of"):
        d_loss("mse", torch.zeros(1), torch.zeros(1))


def test_d_targets_smoothing_and_noise():
    real_t, fake_t = d_targets(8, 0.1, 0.0, "cpu")
    assert real_t.shape == fake_t.shape == (8,)
    assert torch.allclose(real_t, torch.full((8,), 0.9)) and (fake_t == 0).all()

    torch.manual_seed(0)
    state = torch.get_rng_state()
    real_t, fake_t = d_targets(20000, 0.1, 0.2, "cpu")
    flipped_real = (real_t == 0).float().mean().item()
    flipped_fake = (fake_t > 0.5).float().mean().item()
    assert 0.18 < flipped_real < 0.22 and 0.18 < flipped_fake < 0.22
    assert torch.isclose(real_t[real_t > 0], torch.tensor(0.9)).all()
    assert torch.isclose(fake_t[fake_t > 0], torch.tensor(0.9)).all()
    # Same RNG state -> same flips (resume exactness).
    torch.set_rng_state(state)
    again = d_targets(20000, 0.1, 0.2, "cpu")
    assert torch.equal(again[0], real_t) and torch.equal(again[1], fake_t)


def test_d_targets_without_noise_draw_no_random_numbers():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    d_targets(16, 0.1, 0.0, "cpu")
    assert torch.equal(before, torch.get_rng_state())


def test_gradient_penalty_linear_critic():
    # D(x) = <w, x>: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2 exactly.
    w = torch.tensor([3.0, 0.0, 4.0, 0.0]).reshape(1, 1, 2, 2)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_gradient_penalty_backpropagates_into_d():
    lin = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.constant_(lin.weight, 1.0)  # ||w|| = 2: penalty (2 - 1)^2 = 1, dP/dw = 2 (|w|-1) w/|w|

    def critic(x):
        return lin(x.flatten(1)).flatten()

    gp = gradient_penalty(critic, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2))
    gp.backward()
    assert gp.item() == pytest.approx(1.0)
    assert torch.allclose(lin.weight.grad, torch.full((1, 4), 1.0))


def test_d_outputs():
    logits = torch.tensor([0.0, 0.0, 2.0, -2.0])
    assert d_outputs("bce", logits) == pytest.approx(0.5)
    assert d_outputs("wgan-gp", torch.tensor([1.0, 3.0])) == pytest.approx(2.0)
    assert d_outputs("hinge", torch.tensor([-1.0, -3.0])) == pytest.approx(-2.0)


# --- EMA ------------------------------------------------------------------------------------------


def test_ema_math_and_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    torch.nn.init.constant_(model[0].weight, 1.0)
    ema = EMA(model, decay=0.9, warmup=False)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    torch.nn.init.constant_(model[0].weight, 3.0)
    model[1].running_mean.fill_(5.0)
    ema.update(model)
    # 0.9 * 1 + 0.1 * 3 = 1.2; buffers copied, not averaged.
    assert torch.allclose(ema.module[0].weight, torch.full((2, 2), 1.2))
    assert torch.equal(ema.module[1].running_mean, torch.full((2,), 5.0))
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, torch.full((2, 2), 0.9 * 1.2 + 0.3))
    assert model[0].weight[0, 0].item() == 3.0  # the source model is untouched


def test_ema_warmup_decay():
    ema = EMA(torch.nn.Linear(1, 1), decay=0.999)
    assert ema.decay_at(0) == pytest.approx(0.1)
    assert ema.decay_at(90) == pytest.approx(91 / 100)
    assert ema.decay_at(10**6) == 0.999
    with pytest.raises(ValueError):
        EMA(torch.nn.Linear(1, 1), decay=1.0)


def test_ema_state_round_trip_loads_into_a_generator():
    cfg = ModelConfig(image_size=32, ngf=8, ndf=8)
    g, _ = build_models(cfg, seed=0)
    ema = EMA(g, 0.99)
    g2, _ = build_models(cfg, seed=1)
    ema.update(g2)
    state = ema.state_dict()
    fresh = EMA(g, 0.99)
    fresh.load_state_dict(state, num_updates=7)
    assert fresh.num_updates == 7
    for k, v in state.items():
        assert torch.equal(fresh.module.state_dict()[k], v)
    # The state is a plain Generator state_dict: the eager generator loads it strictly.
    g.load_state_dict(state)


def test_ema_recalibrate_measures_the_averaged_weights_statistics_without_touching_the_global_rng():
    from facegan.train.config import ModelConfig
    from facegan.train.ema import EMA
    from facegan.train.models import build_models

    g, _ = build_models(ModelConfig(image_size=32, ngf=8, ndf=8), seed=0)
    ema = EMA(g, 0.9)
    with torch.no_grad():
        for p in ema.module.parameters():
            p.mul_(3.0)  # averaged weights far from G's: G's statistics would not fit them
    norm = ema.module.stem[1]
    before = norm.running_var.clone()
    state = torch.get_rng_state()
    ema.recalibrate(latent_dim=100, seed=5, batches=4, batch_size=64)
    assert torch.equal(torch.get_rng_state(), state)  # exact resume relies on it
    assert not ema.module.training and norm.momentum == 0.1
    # The statistics are those of the averaged weights' own activations (G's were 1, untrained).
    with torch.no_grad():
        out = ema.module.stem[0](torch.randn(2048, 100, 1, 1))
    true_var = out.transpose(0, 1).flatten(1).var(dim=1)
    assert torch.allclose(norm.running_var, true_var, rtol=0.15) and not torch.allclose(before, norm.running_var, rtol=0.5)
    again = EMA(g, 0.9)
    again.module.load_state_dict(ema.module.state_dict())
    again.recalibrate(latent_dim=100, seed=5, batches=4, batch_size=64)
    assert torch.equal(again.module.stem[1].running_var, norm.running_var)  # seeded: the same statistics
