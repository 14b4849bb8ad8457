"""The collapse detector: D winning and mode collapse are recognised, healthy signals are not."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from facegan.train.collapse import WINDOW, CollapseDetector  # noqa: E402


def _logits(real_mean: float, fake_mean: float, n: int = 64):
    g = torch.Generator().manual_seed(0)
    return real_mean + 0.5 * torch.randn(n, generator=g), fake_mean + 0.5 * torch.randn(n, generator=g)


def test_d_winning_with_g_loss_running_away_is_reported_once():
    detector = CollapseDetector()
    events = []
    for i, loss_g in enumerate([2.0, 4.0, 8.0, 16.0, 20.0, 25.0]):
        events.append(detector.observe_step(i, *_logits(6.0, -6.0), loss_g))
    reported = [e for e in events if e is not None]
    assert len(reported) == 1 and reported[0].kind == "d_won" and reported[0].step == WINDOW - 1
    assert "--preset facegan" in reported[0].message
    assert reported[0].to_metrics() == {"step": WINDOW - 1, "event": "d_won", "message": reported[0].message}


@pytest.mark.parametrize(
    "real_mean, fake_mean, g_losses",
    [
        (0.5, -0.5, [2.0, 4.0, 8.0, 16.0]),  # D not sure of itself: a contest, not a win
        (6.0, -6.0, [3.0, 3.1, 2.9, 3.0]),  # D sure, but G's loss steady: G still gets gradient
        (6.0, -6.0, [0.1, 0.3, 0.9, 1.9]),  # grows, but small
    ],
)
def test_healthy_or_ambiguous_signals_are_not_reported(real_mean, fake_mean, g_losses):
    detector = CollapseDetector()
    assert all(detector.observe_step(i, *_logits(real_mean, fake_mean), g) is None for i, g in enumerate(g_losses))


def test_mode_collapse_is_recognised_from_the_samples():
    g = torch.Generator().manual_seed(1)
    real = torch.rand(64, 3, 32, 32, generator=g) * 2 - 1
    varied = torch.rand(64, 3, 32, 32, generator=g) * 2 - 1
    detector = CollapseDetector()
    assert detector.observe_samples(10, varied, real) is None
    one_face = varied[:1].repeat(64, 1, 1, 1) + 0.01 * torch.randn(64, 3, 32, 32, generator=g)
    event = detector.observe_samples(20, one_face, real)
    assert event is not None and event.kind == "mode_collapse" and "alike" in event.message
    assert detector.observe_samples(30, one_face, real) is None  # said once
