"""The public training step: what each option of the step does to the networks, one step at a time."""

from __future__ import annotations


import pytest

torch = pytest.importorskip("torch")

from facegan.train import losses  # noqa: E402
from facegan.train.config import resolve  # noqa: E402
from facegan.train.state import build_state  # noqa: E402
from facegan.train.step import step_networks, train_step  # noqa: E402
from facegan.train.toyfaces import toy_faces  # noqa: E402


def _state(**train_overrides):
    model_cfg, train_cfg = resolve("dcgan", {"image_size": 32, "ngf": 8, "ndf": 8},
                                   {"batch_size": 8, "device": "cpu", **train_overrides})
    return build_state(model_cfg, train_cfg, torch.device("cpu"), total_steps=100)


def _batch(n: int = 8) -> torch.Tensor:
    return torch.from_numpy(toy_faces(n, 32)).permute(0, 3, 1, 2).contiguous()


def _grad_norm(module: torch.nn.Module) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters() if p.grad is not None])))


def test_a_step_returns_losses_and_d_outputs_and_advances_the_counters():
    s = _state()
    before = {k: v.clone() for k, v in s.g.state_dict().items()}
    result = train_step(s, _batch(), step_networks(s))
    assert result.finite and result.num_images == 8
    assert result.real_logits.shape == result.fake_logits.shape == (8,)
    d_real, d_fake = result.d_outputs()
    assert 0 < d_real < 1 and 0 < d_fake < 1  # bce: probabilities
    assert (s.step, s.batch) == (1, 1)
    assert any(not torch.equal(before[k], v) for k, v in s.g.state_dict().items())


def test_amp_runs_the_losses_under_bf16_autocast(monkeypatch):
    seen = []
    real_d_loss = losses.d_loss

    def spy(*args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return real_d_loss(*args, **kwargs)

    monkeypatch.setattr(losses, "d_loss", spy)
    train_step(_state(amp=True), _batch())
    train_step(_state(amp=False), _batch())
    assert seen == [(True, torch.bfloat16), (False, seen[1][1])]


def test_channels_last_lays_the_weights_out_nhwc():
    for channels_last in (True, False):
        s = _state(channels_last=channels_last)
        convs = [p for p in [*s.g.parameters(), *s.d.parameters()] if p.dim() == 4 and p.shape[-1] > 1]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) == channels_last for p in convs)
        assert train_step(s, _batch()).finite


def _norms_at_optimizer_steps(s) -> dict[str, float]:
    """The gradient norm each optimizer sees when it steps (D's grads change afterwards: G's loss
    back-propagates through D)."""
    norms = {}
    for net, opt in (("g", s.opt_g), ("d", s.opt_d)):
        def step(*args, _net=net, _orig=opt.step, **kwargs):
            norms[_net] = _grad_norm(getattr(s, _net))
            return _orig(*args, **kwargs)

        opt.step = step
    train_step(s, _batch())
    return norms


def test_grad_clip_bounds_the_gradient_norm_of_both_networks():
    clipped, free = _norms_at_optimizer_steps(_state(grad_clip=1e-3)), _norms_at_optimizer_steps(_state(grad_clip=0.0))
    assert clipped.keys() == free.keys() == {"g", "d"}
    for net in ("g", "d"):
        assert clipped[net] <= 1e-3 * 1.01, net
        assert free[net] > 1e-2, net  # without it the norm is far larger


def test_lr_d_and_lr_g_set_each_optimizer():
    s = _state(lr_d=4e-4, lr_g=1e-4, lr_schedule="constant")
    train_step(s, _batch())
    assert s.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)
    assert s.opt_g.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_a_non_finite_d_loss_leaves_the_weights_untouched(monkeypatch):
    s = _state()
    before = {k: v.clone() for k, v in [*s.g.state_dict().items(), *s.d.state_dict().items()] if v.is_floating_point()}
    real_d_loss = losses.d_loss
    monkeypatch.setattr(losses, "d_loss", lambda *a, **k: real_d_loss(*a, **k) * float("nan"))
    result = train_step(s, _batch())
    assert not result.finite and s.step == 1
    params = {**dict(s.g.named_parameters()), **dict(s.d.named_parameters())}
    assert all(torch.equal(before[k], p) for k, p in params.items() if k in before)


def test_n_critic_updates_g_every_nth_step():
    s = _state(n_critic=2, loss="wgan-gp")
    g_before = [p.clone() for p in s.g.parameters()]
    first = train_step(s, _batch())
    assert first.loss_g.item() == 0.0 and all(torch.equal(a, b) for a, b in zip(g_before, s.g.parameters()))
    second = train_step(s, _batch())
    assert second.loss_g.item() != 0.0 and any(not torch.equal(a, b) for a, b in zip(g_before, s.g.parameters()))
