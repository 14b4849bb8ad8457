"""Learning-rate schedules: values at known steps, warm-up, and scheduler state round-trips."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from facegan.train.schedule import lr_at, make_scheduler  # noqa: E402


@pytest.mark.parametrize(
    "schedule, step, expected",
    [
        ("constant", 0, 1.0),
        ("constant", 99, 1.0),
        ("linear", 0, 1.0),
        ("linear", 50, 0.5),
        ("linear", 100, 0.0),
        ("cosine", 0, 1.0),
        ("cosine", 50, 0.5),
        ("cosine", 25, (1 + 2**-0.5) / 2),
        ("cosine", 100, 0.0),
        ("cosine", 500, 0.0),  # past the end: stays at 0
    ],
)
def test_lr_without_warmup(schedule, step, expected):
    assert lr_at(step, 1.0, 100, schedule, 0) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_warmup_ramps_linearly_then_starts_the_schedule(schedule):
    assert lr_at(0, 2e-4, 110, schedule, 10) == pytest.approx(2e-5)
    assert lr_at(4, 2e-4, 110, schedule, 10) == pytest.approx(1e-4)
    assert lr_at(9, 2e-4, 110, schedule, 10) == pytest.approx(2e-4)
    assert lr_at(10, 2e-4, 110, schedule, 10) == pytest.approx(2e-4)
    # Halfway through the 100 post-warm-up steps.
    half = {"constant": 2e-4, "linear": 1e-4, "cosine": 1e-4}[schedule]
    assert lr_at(60, 2e-4, 110, schedule, 10) == pytest.approx(half)


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_at(0, 1.0, 10, "step", 0)
    with pytest.raises(ValueError):
        make_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 0, "linear", 0)


def _opt():
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=2e-4, betas=(0.5, 0.999))


def test_scheduler_follows_lr_at():
    opt = _opt()
    sched = make_scheduler(opt, 20, "cosine", 5)
    for k in range(25):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr_at(k, 2e-4, 20, "cosine", 5))
        opt.step()
        sched.step()


def test_scheduler_state_round_trips_through_weights_only_load():
    opt = _opt()
    sched = make_scheduler(opt, 30, "linear", 4)
    for _ in range(7):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)

    opt2 = _opt()
    sched2 = make_scheduler(opt2, 30, "linear", 4)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    assert opt2.param_groups[0]["lr"] == pytest.approx(lr_at(7, 2e-4, 30, "linear", 4))
    for _ in range(5):
        opt.step(), sched.step(), opt2.step(), sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert opt2.param_groups[0]["lr"] == pytest.approx(lr_at(12, 2e-4, 30, "linear", 4))


def test_schedules_longer_than_the_run_are_scaled_for_presets_and_refused_when_chosen():
    import dataclasses

    import pytest

    from facegan.runtime.errors import UsageError
    from facegan.train.config import PRESETS, resolve
    from facegan.train.schedule import ema_half_life, fit_schedules

    stable = PRESETS["dcgan-stable"].train  # warm-up 500 steps, EMA 0.999 (half-life 693 steps)
    cfg, notes = fit_schedules(stable, 468)
    assert cfg.warmup_steps == 46 and ema_half_life(cfg.ema) == pytest.approx(46.8, rel=1e-3)
    assert len(notes) == 2 and all(n.startswith("note: the dcgan-stable preset's --") for n in notes)
    assert fit_schedules(stable, 5000) == (stable, [])  # long enough: untouched
    _, chosen = resolve("dcgan-stable", {}, {"warmup_steps": 600})
    with pytest.raises(UsageError, match="--warmup-steps 600 .* does not fit in this 468-step run"):
        fit_schedules(chosen, 468)
    with pytest.raises(UsageError, match="--ema 0.9999"):
        fit_schedules(dataclasses.replace(stable, ema=0.9999), 468)


def test_a_chosen_warm_up_longer_than_the_run_exits_2_and_touches_no_run(tmp_path):
    from typer.testing import CliRunner

    from facegan.train.cli import app

    args = ["--data", "toy-faces", "--toy-faces", "32", "--image-size", "32", "--ngf", "8", "--ndf", "8",
            "--batch-size", "8", "--workers", "0", "--quiet", "--out", str(tmp_path), "--name", "r", "--steps", "10"]
    result = CliRunner().invoke(app, [*args, "--warmup-steps", "20"])
    assert result.exit_code == 2 and "--warmup-steps 20" in result.output
    assert not (tmp_path / "r").exists()
    result = CliRunner().invoke(app, [*args, "--preset", "dcgan-stable"])  # the preset's 500 steps: scaled
    assert result.exit_code == 0, result.output
    assert "note: the dcgan-stable preset's --warmup-steps 500" in result.output
    import json

    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert saved["warmup_steps"] == 1
