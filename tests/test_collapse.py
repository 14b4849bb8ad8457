"""The collapse detector: D winning and mode collapse are recognised, healthy signals are not."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from facegan.train.collapse import WINDOW, CollapseDetector  # noqa: E402


def _logits(real_mean: float, fake_mean: float, n: int = 64):
    g = torch.Generator().manual_seed(0)
    return real_mean + 0.5 * torch.randn(n, generator=g), fake_mean + 0.5 * torch.randn(n, generator=g)


def test_d_winning_with_g_loss_running_away_is_reported_once():
    detector = CollapseDetector()
    events = []
    for i, loss_g in enumerate([2.5, 4.0, 8.0, 16.0, 20.0, 25.0]):
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
        (0.5, -0.5, [6.0, 6.0, 6.0, 6.0]),  # high, but D is not sure of itself
    ],
)
def test_healthy_or_ambiguous_signals_are_not_reported(real_mean, fake_mean, g_losses):
    detector = CollapseDetector()
    assert all(detector.observe_step(i, *_logits(real_mean, fake_mean), g) is None for i, g in enumerate(g_losses))


def test_mode_collapse_is_recognised_from_the_samples():
    g = torch.Generator().manual_seed(1)
    real = torch.rand(64, 3, 32, 32, generator=g) * 2 - 1
    varied = torch.rand(64, 3, 32, 32, generator=g) * 2 - 1
    one_face = varied[:1].repeat(64, 1, 1, 1) + 0.01 * torch.randn(64, 3, 32, 32, generator=g)
    detector = CollapseDetector()
    assert detector.observe_samples(5, one_face, real) is None  # an untrained G: alike from the start
    assert detector.observe_samples(10, varied, real) is None
    event = detector.observe_samples(20, one_face, real)
    assert event is not None and event.kind == "mode_collapse" and "alike" in event.message
    assert detector.observe_samples(30, one_face, real) is None  # said once


def test_d_winning_with_a_steady_high_g_loss_is_reported():
    detector = CollapseDetector()
    events = [detector.observe_step(i, *_logits(8.0, -8.0), 10.0) for i in range(WINDOW)]
    assert events[-1] is not None and events[-1].kind == "d_won"


def _run(tmp_path, *flags):
    from typer.testing import CliRunner

    from facegan.train.cli import app

    result = CliRunner().invoke(app, ["--data", "toy-faces", "--toy-faces", "256", "--image-size", "32", "--ngf", "8",
                                      "--ndf", "8", "--batch-size", "16", "--steps", "200", "--workers", "0",
                                      "--log-every", "10", "--out", str(tmp_path), "--name", "r", *flags])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    return result.output, [m for m in lines if "event" in m]


def test_a_healthy_run_of_the_default_recipe_warns_of_nothing(tmp_path):
    output, events = _run(tmp_path)
    assert "warning" not in output and events == []


def test_the_classic_preset_driven_to_collapse_is_warned_of_once(tmp_path):
    # D learns 1000x faster than G: it wins within a few dozen steps and G's loss runs away.
    output, events = _run(tmp_path, "--preset", "dcgan", "--lr-d", "0.01", "--lr-g", "0.00001")
    assert [e["event"] for e in events].count("d_won") == 1
    assert output.count("warning: step") == len(events) and "D has won" in output


def test_a_conditional_run_is_judged_on_gs_adversarial_loss_not_its_attribute_term(tmp_path, monkeypatch):
    """The attribute term (weight 4 x a cross-entropy) lifted a conditional run's loss_g over
    G_LOSS_HIGH and raised a false "D has won" on the digits: the loop hands the detector the
    adversarial term alone."""
    seen = []
    observe = CollapseDetector.observe_step

    def spy(self, step, real_logits, fake_logits, loss_g):
        seen.append(loss_g)
        return observe(self, step, real_logits, fake_logits, loss_g)

    monkeypatch.setattr(CollapseDetector, "observe_step", spy)
    _run(tmp_path, "--condition", "Eyeglasses,Bald", "--steps", "20")
    logged = [json.loads(x)["loss_g"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
              if "loss_g" in x]
    assert len(seen) == len(logged) == 2
    assert all(g < total - 0.5 for g, total in zip(seen, logged))
