"""End-to-end training on tiny toy-face runs: presets, run directories, exact resume, exit codes."""

from __future__ import annotations

import json
import math
import os
import pty
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner
from waiting import drain_output, wait_for_output

from facegan.runtime.errors import FaceganError
from facegan.train import losses
from facegan.train.checkpoint import load_checkpoint
from facegan.train.cli import app
from facegan.train.config import PRESETS
from facegan.train.loop import train
from facegan.train.resume import resume_from
from facegan.train.rundir import RunDir
from facegan.train.toyfaces import toy_faces

# The classic preset unless a test says otherwise: these tests are about the loop, not the recipe
# (test_every_preset_trains_a_few_steps and test_quality.py cover the default).
TINY = [
    "--preset", "dcgan", "--data", "toy-faces", "--toy-faces", "32", "--image-size", "32", "--ngf", "8", "--ndf", "8",
    "--batch-size", "8", "--workers", "0", "--quiet", "--log-every", "1",
]
runner = CliRunner()


def run_cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _ctrl_c_as_on_a_terminal() -> None:
    """In the child: SIGINT as a terminal delivers it. A suite started as a background job (`cmd &`)
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: the test would hang."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _train(tmp_path: Path, *args: str, name: str = "run"):
    result = run_cli(*TINY, "--out", tmp_path, "--name", name, *args)
    assert result.exit_code == 0, result.output
    return tmp_path / name


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_a_few_steps(tmp_path, preset):
    run = _train(tmp_path, "--preset", preset, "--steps", "3")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3]
    for m in lines:
        assert all(torch.isfinite(torch.tensor(m[k])) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
        assert m["images_per_s"] > 0
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 3 and ckpt["train_config"]["preset"] == preset
    assert (run / "samples" / "real.png").is_file()
    assert json.loads((run / "config.json").read_text())["train"]["preset"] == preset


def test_run_directory_layout_and_keep(tmp_path):
    run = _train(tmp_path, "--epochs", "3", "--keep", "2")  # 32 images / batch 8 = 4 steps per epoch
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-002.pt", "epoch-003.pt", "last.pt"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-001.png", "epoch-002.png", "epoch-003.png", "real.png"]
    last = load_checkpoint(run)
    assert last["step"] == 12 and last["epoch"] == 3
    assert last["data_position"] == {"epoch": 3, "batch": 0, "num_images": 32}
    for picture in ("progress.gif", "real-vs-fake.png", "morph.gif"):
        assert (run / picture).stat().st_size > 0


def _weights(run: Path) -> dict:
    ckpt = load_checkpoint(run)
    return {**{f"g.{k}": v for k, v in ckpt["generator"].items()}, **{f"d.{k}": v for k, v in ckpt["discriminator"].items()}}


# Warm-up and EMA half-life short enough for the 3-step run: fitted to the run, they would differ.
@pytest.mark.parametrize("extra", [[], ["--preset", "dcgan-stable", "--lr-schedule", "constant", "--warmup-steps", "0", "--ema", "0.5"]])
def test_resume_is_exact(tmp_path, extra):
    """Stopped after 3 steps (mid-epoch) and resumed to 10 == 10 steps straight, bit for bit."""
    straight = _train(tmp_path, *extra, "--steps", "10", name="straight")
    stopped = _train(tmp_path, *extra, "--steps", "3", name="stopped")
    assert load_checkpoint(stopped)["data_position"] == {"epoch": 0, "batch": 3, "num_images": 32}
    result = run_cli("--resume", stopped, "--steps", "10", "--quiet")
    assert result.exit_code == 0, result.output
    a, b = _weights(straight), _weights(stopped)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if extra:
        ema_a, ema_b = load_checkpoint(straight)["generator_ema"], load_checkpoint(stopped)["generator_ema"]
        assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)
    steps = [json.loads(x)["step"] for x in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))


def test_resume_is_exact_when_decoding_every_epoch(tmp_path):
    """--no-cache decodes files through a DataLoader: resume stays bit-exact there too."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, face in enumerate(toy_faces(32, 32)):
        Image.fromarray(face).save(folder / f"{i:02d}.png")
    common = ["--data", folder, "--no-cache"]
    straight = _train(tmp_path, *common, "--steps", "6", name="straight")
    stopped = _train(tmp_path, *common, "--steps", "2", name="stopped")
    result = run_cli("--resume", stopped, "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    a, b = _weights(straight), _weights(stopped)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "flags",
    [
        ["--loss", "lsgan"],
        ["--loss", "hinge", "--spectral-norm"],
        ["--loss", "wgan-gp", "--n-critic", "2", "--gp-weight", "5"],
        ["--label-smoothing", "0.2", "--label-noise", "0.1", "--grad-clip", "1", "--d-dropout", "0.2"],
        ["--lr-g", "1e-4", "--lr-d", "4e-4", "--lr-schedule", "cosine", "--warmup-steps", "2", "--ema", "0.5"],
        ["--amp", "--channels-last"],  # bf16 autocast on the CPU
    ],
)
def test_losses_and_stabilisers_train_and_resume_exactly(tmp_path, monkeypatch, flags):
    """Each option trains without NaN, is recorded in the checkpoint, and a run stopped by Ctrl-C
    during step 3 and resumed ends bit for bit where the uninterrupted run ends."""
    straight = _train(tmp_path, *flags, "--steps", "6", name="straight")
    lines = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(m[k]) for m in lines for k in ("loss_d", "loss_g", "d_real", "d_fake"))
    saved = load_checkpoint(straight)
    recorded = {**saved["train_config"], **saved["model_config"]}
    for flag, value in zip(flags, flags[1:] + [""]):
        key = flag.lstrip("-").replace("-", "_")
        if flag.startswith("--") and key in recorded:
            want = True if not value or value.startswith("--") else type(recorded[key])(value)
            assert recorded[key] == want, key

    real_d_loss, calls = losses.d_loss, {"n": 0}

    def ctrl_c_in_step_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)
        return real_d_loss(*args, **kwargs)

    monkeypatch.setattr(losses, "d_loss", ctrl_c_in_step_3)
    result = run_cli(*TINY, "--out", tmp_path, "--name", "stopped", *flags, "--steps", "6")
    assert result.exit_code == 130, result.output
    stopped = tmp_path / "stopped"
    assert load_checkpoint(stopped)["step"] == 3
    monkeypatch.undo()
    result = run_cli("--resume", stopped, "--quiet")
    assert result.exit_code == 0, result.output
    a, b = _weights(straight), _weights(stopped)
    assert all(torch.equal(a[k], b[k]) for k in a)
    if saved["generator_ema"] is not None:
        ema_a, ema_b = saved["generator_ema"], load_checkpoint(stopped)["generator_ema"]
        assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_dry_run_prints_config_and_writes_nothing(tmp_path):
    result = run_cli(*TINY, "--out", tmp_path, "--preset", "dcgan-linear-128", "--dry-run")
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)
    assert cfg["model"]["latent_dim"] == 128 and cfg["model"]["image_size"] == 32
    assert cfg["train"]["epochs"] == 20 and cfg["train"]["data"] == "toy-faces"
    assert list(tmp_path.iterdir()) == []


def test_list_presets():
    result = run_cli("--list-presets")
    assert result.exit_code == 0
    assert all(name in result.output for name in PRESETS)


def test_existing_run_is_never_overwritten_silently(tmp_path):
    run = _train(tmp_path, "--steps", "1")
    before = (run / "checkpoints" / "last.pt").read_bytes()
    result = run_cli(*TINY, "--out", tmp_path, "--name", "run", "--steps", "1")
    assert result.exit_code == 1 and "exists" in result.output
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    _train(tmp_path, "--steps", "2", "--overwrite")
    assert load_checkpoint(run)["step"] == 2


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.txt").write_text("keep me")
    result = run_cli(*TINY, "--out", tmp_path, "--name", "precious", "--steps", "1", "--overwrite")
    assert result.exit_code == 1 and "does not look like a facegan run" in result.output
    assert (tmp_path / "precious" / "thesis.txt").read_text() == "keep me"


@pytest.mark.parametrize("bad,message", [(["--data", "typo"], "typo"), (["--batch-size", "1000"], "batch")])
def test_overwrite_with_bad_data_keeps_the_old_run(tmp_path, bad, message):
    """--overwrite replaces a run only once the new data is usable: a typo in --data costs nothing."""
    run = _train(tmp_path, "--steps", "1")
    before = (run / "checkpoints" / "last.pt").read_bytes()
    bad = [str(tmp_path / b) if b == "typo" else b for b in bad]
    result = run_cli(*TINY, "--out", tmp_path, "--name", "run", "--steps", "1", "--overwrite", *bad)
    assert result.exit_code == 1 and message in result.output, result.output
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_failed_data_leaves_no_run_directory(tmp_path):
    result = run_cli(*TINY, "--out", tmp_path / "runs", "--name", "new", "--steps", "1", "--data", tmp_path / "missing")
    assert result.exit_code == 1 and "missing" in result.output
    assert not (tmp_path / "runs" / "new").exists()


def test_skipped_files_are_reported_once_and_listed_in_the_run(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, face in enumerate(toy_faces(9, 32)):
        Image.fromarray(face).save(folder / f"{i:02d}.png")
    (folder / "99-broken.jpg").write_bytes(b"not a jpeg")
    result = run_cli(*TINY, "--out", tmp_path / "runs", "--name", "photos", "--data", folder, "--steps", "1")
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped 1 unreadable image file") == 1
    listed = (tmp_path / "runs" / "photos" / "skipped-files.txt").read_text().splitlines()
    assert len(listed) == 1 and listed[0].startswith(str(folder / "99-broken.jpg"))


def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    """Logs and CI see one plain line per metrics line, not the last frame of a live bar."""
    args = [a for a in TINY if a != "--quiet"]
    result = run_cli(*args, "--out", tmp_path, "--name", "plain", "--steps", "4", "--log-every", "2")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("step ")]
    assert [ln.split(":")[0] for ln in lines] == ["step 2/4 epoch 1/1", "step 4/4 epoch 1/1"]
    assert all("D(G(z))" in ln and "img/s" in ln for ln in lines)
    assert "\x1b[" not in result.output  # no terminal control codes


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--preset", "nope"], 2, "unknown preset"),
        (["--image-size", "48"], 2, "image_size"),
        (["--loss", "nope"], 2, "'nope' is not one of"),
        (["--batch-size", "0"], 2, "batch_size must be >= 1"),
        (["--data", "/no/such/folder"], 1, "/no/such/folder"),
        (["--resume", "/no/such/run"], 1, "not found"),
        (["--device", "cuda"], 1 if not torch.cuda.is_available() else 0, "cuda"),
        (["--lr", "-1"], 2, "lr_g must be a positive number"),
        (["--beta1", "1.5"], 2, "beta1"),
        (["--grad-clip", "-1"], 2, "grad_clip"),
        (["--out", "a-file/runs"], 1, "Not a directory"),
        (["--cache-dir", "a-file/cache"], 1, "Not a directory"),
    ],
)
def test_exit_codes(tmp_path, args, code, message):
    (tmp_path / "a-file").write_text("a file where a folder is expected")
    args = [str(tmp_path / a) if a.startswith("a-file/") else a for a in args]
    out = [] if "--resume" in args else ["--out", tmp_path]  # --out does not go with --resume
    result = run_cli(*TINY, *out, "--steps", "1", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    if code == 1:
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_resume_after_a_crash_replays_the_lost_steps_once(tmp_path):
    """Killed after logging steps its checkpoint does not hold: metrics.jsonl keeps each step once."""
    run = _train(tmp_path, "--steps", "3")
    metrics = run / "metrics.jsonl"
    # What a kill -9 at step 5 leaves: lines for steps 4 and 5, the last one torn mid-write.
    metrics.write_text(metrics.read_text() + json.dumps({"step": 4, "loss_d": 9.9}) + "\n" + '{"step": 5, "lo')
    result = run_cli("--resume", run, "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[3]["loss_d"] != 9.9


def test_resume_refuses_foreign_checkpoint(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    result = run_cli("--resume", path)
    assert result.exit_code == 1 and "not a facegan checkpoint" in result.output


def test_non_finite_losses_skip_steps_then_restore_last_checkpoint(tmp_path, monkeypatch):
    run = _train(tmp_path, "--steps", "4")
    good = _weights(run)
    real_d_loss = losses.d_loss
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        value = real_d_loss(*a, **k)
        return value * float("nan") if calls["n"] <= 3 else value

    monkeypatch.setattr(losses, "d_loss", flaky)
    model_cfg, train_cfg, ckpt = resume_from(run, {"steps": 8})
    messages: list[str] = []
    result = train(model_cfg, train_cfg, run, resume=ckpt, quiet=True, echo=messages.append)
    assert sum(m.startswith("step ") and "non-finite" in m for m in messages) == 3
    assert any(m.startswith("restored") for m in messages)
    assert result.step == 8
    after = _weights(run)
    assert all(torch.isfinite(v.float()).all() for v in after.values())
    assert any(not torch.equal(good[k], after[k]) for k in good)  # it trained on after restoring


def test_losses_that_stay_non_finite_stop_the_run_instead_of_looping(tmp_path, monkeypatch):
    run = _train(tmp_path, "--steps", "2")
    real_d_loss = losses.d_loss
    monkeypatch.setattr(losses, "d_loss", lambda *a, **k: real_d_loss(*a, **k) * float("nan"))
    model_cfg, train_cfg, ckpt = resume_from(run, {"steps": 50})
    messages: list[str] = []
    with pytest.raises(FaceganError, match="non-finite again after restoring step"):
        train(model_cfg, train_cfg, run, resume=ckpt, quiet=True, echo=messages.append)
    assert sum(m.startswith("restored") for m in messages) == 1  # one retry with fresh noise, then stop


@pytest.mark.parametrize("damage", ["no-optimizer", "other-shape"])
def test_resume_refuses_a_damaged_checkpoint_in_one_line(tmp_path, damage):
    from facegan.train.checkpoint import save_checkpoint

    run = _train(tmp_path, "--steps", "2")
    state = load_checkpoint(run)
    if damage == "no-optimizer":
        del state["optimizer_g"]
    else:
        state["model_config"] = {**state["model_config"], "ngf": 16}  # weights of ngf=8 will not fit
    save_checkpoint(state, tmp_path / "damaged.pt")
    result = run_cli("--resume", tmp_path / "damaged.pt", "--steps", "4", "--quiet")
    assert result.exit_code == 1, result.output
    assert "cannot be resumed" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_ctrl_c_saves_and_exits_130(tmp_path):
    # Without --quiet, each log line is printed off a terminal: "step 1/..." means training runs.
    flags = [f for f in TINY if f != "--quiet"]
    cmd = [sys.executable, "-m", "facegan.train", *flags, "--toy-faces", "64", "--out", str(tmp_path), "--name", "run", "--steps", "100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_on_a_terminal)
    metrics = tmp_path / "run" / "metrics.jsonl"
    wait_for_output(proc.stdout.fileno(), "step 1/")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["step"] >= 1
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert steps[-1] == ckpt["step"]


TORCHRUN_SCRIPT = """
import os, sys, torch
from pathlib import Path
from facegan.train import snapshot
from facegan.train.config import resolve
from facegan.train.loop import train
out = Path(sys.argv[1])
model_cfg, train_cfg = resolve("dcgan", {"image_size": 32, "ngf": 8, "ndf": 8},
    {"data": "toy-faces", "toy_faces": 32, "batch_size": 8, "steps": 5, "workers": 0, "device": "cpu", "log_every": 1})
rank = int(os.environ["RANK"])
result = train(model_cfg, train_cfg, out / "ddp", quiet=True, echo=lambda m: None)
"""


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    """2 CPU processes: one run directory, and identical generator weights on both ranks."""
    script = tmp_path / "ddp_train.py"
    # Each rank dumps its own live generator after every snapshot (rank 1 never writes otherwise).
    script.write_text(
        TORCHRUN_SCRIPT.replace(
            "result = train(",
            "orig = snapshot.save_snapshot\n"
            "def spy(s, *args, **kwargs):\n"
            "    written = orig(s, *args, **kwargs)\n"
            "    torch.save(s.g.state_dict(), out / f'g-rank{rank}.pt')\n"
            "    return written\n"
            "snapshot.save_snapshot = spy\n"
            "result = train(",
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert runs == ["ddp"] and not list(tmp_path.glob("ddp/*rank*"))
    g0 = torch.load(tmp_path / "g-rank0.pt", weights_only=True)
    g1 = torch.load(tmp_path / "g-rank1.pt", weights_only=True)
    for k in g0:
        assert torch.equal(g0[k], g1[k]), k
    ckpt = load_checkpoint(tmp_path / "ddp")
    assert ckpt["step"] == 5
    for k in g0:
        assert torch.equal(ckpt["generator"][k], g0[k]), k


@pytest.mark.slow
def test_torchrun_cli_only_rank_0_draws_and_prints(tmp_path):
    """`torchrun -m facegan.train`: one set of pictures and one final report, from rank 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [a for a in TINY if a != "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "facegan.train",
         *args, "--device", "cpu", "--steps", "4", "--log-every", "2", "--out", str(tmp_path), "--name", "ddp"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: 4 steps") == 1 and proc.stdout.count("pictures:") == 1, proc.stdout
    assert [ln.split(":")[0] for ln in proc.stdout.splitlines() if ln.startswith("step ")] == ["step 2/4 epoch 1/1", "step 4/4 epoch 1/1"]
    assert (tmp_path / "ddp" / "real-vs-fake.png").is_file() and (tmp_path / "ddp" / "morph.gif").is_file()


@pytest.mark.parametrize(
    "args,flags",
    [
        (["--batch-size", "4"], "--batch-size"),
        (["--loss", "hinge", "--ngf", "16"], "--loss, --ngf"),
        (["--preset", "dcgan-stable"], "--preset"),
        (["--data", "/elsewhere"], "--data"),
    ],
)
def test_resume_refuses_flags_that_would_change_the_run(tmp_path, args, flags):
    """Nothing given with --resume is silently ignored: what cannot change is a usage error."""
    run = _train(tmp_path, "--steps", "2")
    result = run_cli("--resume", run, "--steps", "4", *args)
    assert result.exit_code == 2, result.output
    assert flags in result.output and "cannot change when resuming" in result.output
    assert load_checkpoint(run)["step"] == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--steps", "2"], "--steps 2 is not beyond the 2 steps"),
        (["--epochs", "1"], "--epochs 1 is not beyond the 1 epochs"),
        (["--out", "elsewhere"], "--out does not apply to --resume"),
        (["--overwrite"], "--overwrite does not apply to --resume"),
    ],
)
def test_resume_refuses_targets_behind_it_and_flags_it_would_ignore(tmp_path, args, message):
    run = _train(tmp_path, "--epochs", "1")  # 4 steps
    run = _train(tmp_path, "--steps", "2", name="two") if "--steps" in args else run
    result = run_cli("--resume", run, *args, "--quiet")
    assert result.exit_code == 2 and message in result.output, result.output


def test_resume_with_epochs_trains_epochs_even_after_a_steps_run(tmp_path):
    run = _train(tmp_path, "--steps", "4")  # one epoch of 4 steps, the length set in steps
    result = run_cli("--resume", run, "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(run)
    assert (ckpt["step"], ckpt["epoch"], ckpt["train_config"]["steps"]) == (8, 2, 0)


def test_resume_refuses_other_data(tmp_path):
    """The data position (epoch, batch) means nothing on other data: a resume there is refused."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, face in enumerate(toy_faces(16, 32)):
        Image.fromarray(face).save(folder / f"{i:02d}.png")
    run = _train(tmp_path, "--data", folder, "--steps", "2")
    assert load_checkpoint(run)["train_config"]["data"] == str(folder.resolve())  # found from anywhere
    for extra in ("a", "b"):
        Image.fromarray(toy_faces(1, 32, seed=5)[0]).save(folder / f"{extra}.png")
    result = run_cli("--resume", run, "--steps", "4", "--quiet")
    assert result.exit_code == 1 and "the data changed since the checkpoint: it was 16 images" in result.output


def test_resume_accepts_how_long_and_how_it_runs(tmp_path):
    run = _train(tmp_path, "--steps", "2")
    # Repeating the run's own settings is fine; steps, workers and caching may change.
    result = run_cli("--resume", run, "--steps", "3", "--batch-size", "8", "--data", "toy-faces", "--no-cache", "--quiet")
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 3 and ckpt["train_config"]["cache"] is False


@pytest.mark.slow
def test_compile_trains_and_saves_plain_weights(tmp_path):
    """--compile (torch.compile, ~10 s to compile on CPU) trains; checkpoints hold the plain modules'
    state dicts (no `_orig_mod.` prefixes), so export and resume need no compiler."""
    run = _train(tmp_path, "--steps", "2", "--compile")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(m["loss_d"]) and math.isfinite(m["loss_g"]) for m in lines)
    ckpt = load_checkpoint(run)
    assert ckpt["train_config"]["compile"] is True
    assert not any("_orig_mod" in k for k in [*ckpt["generator"], *ckpt["discriminator"]])


def test_ctrl_c_while_the_data_loads_exits_130_and_leaves_nothing(tmp_path):
    flags = [f for f in TINY if f != "--quiet"]
    cmd = [sys.executable, "-m", "facegan.train", *flags, "--toy-faces", "100000", "--out", str(tmp_path), "--name", "run"]
    # stdout on a terminal (a pty), so the data-preparation bar is drawn: its count "n/100000"
    # means faces are being drawn into the cache (which takes far longer than the signal's way there).
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=child_fd, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_on_a_terminal)
    os.close(child_fd)
    try:
        wait_for_output(main_fd, "/100000")
        proc.send_signal(signal.SIGINT)
        drain = threading.Thread(target=drain_output, args=(main_fd,), daemon=True)  # a full pty would block it
        drain.start()
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(main_fd)
        if proc.poll() is None:  # a failed test must not leave 100,000 faces being drawn behind it
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == "facegan-train: interrupted; nothing was saved beyond the last checkpoint"
    assert not (tmp_path / "run").exists()
    assert [p.name for p in (tmp_path / ".cache").iterdir()] == []  # no half-written cache


def test_metrics_epochs_are_1_based_and_checkpoints_readable_by_others(tmp_path):
    previous = os.umask(0o027)  # group may read, others nothing: a umask no default would give
    try:
        run = _train(tmp_path, "--steps", "6")  # 4 steps per epoch
    finally:
        os.umask(previous)
    epochs = [json.loads(x)["epoch"] for x in RunDir(run).metrics.read_text().splitlines()]
    assert epochs == [1, 1, 1, 1, 2, 2]  # the epoch each step ran in, as samples/epoch-001.png
    for path in [*RunDir(run).checkpoints.iterdir(), RunDir(run).metrics]:
        assert path.stat().st_mode & 0o777 == 0o640, path.name  # as open() makes files, not mkstemp's 0600


def test_training_without_matplotlib_finishes_with_a_note(tmp_path, no_matplotlib):
    """matplotlib is the metrics extra: a facegan[train] install still finishes its runs."""
    result = run_cli(*TINY, "--out", tmp_path, "--name", "nompl", "--steps", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("need matplotlib") == 1
    run = tmp_path / "nompl"
    assert (run / "morph.gif").is_file() and not (run / "real-vs-fake.png").exists() and not (run / "loss.png").exists()


def test_a_blow_up_is_never_checkpointed_and_the_run_recovers(tmp_path):
    """An update blows D up (here: a learning rate of 1e30 for the resumed steps only) while its own
    loss is still finite; the epoch ends inside the bad streak. That state must not become last.pt:
    the guard rails go back to the step-2 checkpoint (with its sane learning rate) and train on."""
    run = _train(tmp_path, "--steps", "2")
    model_cfg, train_cfg, ckpt = resume_from(run, {"steps": 12})
    for group in ckpt["optimizer_d"]["param_groups"] + ckpt["optimizer_g"]["param_groups"]:
        group["lr"] = 1e30
    ckpt["scheduler_d"]["base_lrs"] = ckpt["scheduler_g"]["base_lrs"] = [1e30]
    messages: list[str] = []
    result = train(model_cfg, train_cfg, run, resume=ckpt, quiet=True, echo=messages.append)
    assert any(m.startswith("step 4:") and "no checkpoint written" in m for m in messages)
    assert any(m.startswith("restored") and "(step 2)" in m for m in messages)
    assert result.step == 12
    for path in (run / "checkpoints").iterdir():
        state = load_checkpoint(path)
        weights = [v for part in ("generator", "discriminator") for v in state[part].values() if v.is_floating_point()]
        assert all(torch.isfinite(v).all() and v.abs().max() < 1e6 for v in weights), path


@pytest.mark.parametrize("steps,bad_from,saved", [(4, 3, 4), (6, 5, 4)])
def test_a_run_ending_in_non_finite_losses_reports_the_checkpoint_it_kept(tmp_path, monkeypatch, steps, bad_from, saved):
    """No checkpoint yet: the (unchanged, finite) weights are saved. Else last.pt stays at the last
    good step, and the final report says which step that is."""
    real_d_loss, calls = losses.d_loss, {"n": 0}

    def nan_late(*a, **k):
        calls["n"] += 1
        value = real_d_loss(*a, **k)
        return value * float("nan") if calls["n"] >= bad_from else value

    monkeypatch.setattr(losses, "d_loss", nan_late)
    result = run_cli(*TINY, "--out", tmp_path, "--name", "run", "--steps", str(steps))
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "run")["step"] == saved
    assert f"last.pt (step {saved}" in result.output
    assert ("non-finite losses" in result.output.splitlines()[-1]) == (saved != steps)


class _PixelFeatures:
    """A stand-in for Inception (as in test_fid.py): 6 pixel statistics per image, no weights needed."""

    def __init__(self, device="cpu", batch_size=50):
        self.device = device

    def __call__(self, images):
        import numpy as np

        x = np.asarray(images, dtype=np.float64)
        return np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))] + [x[:, c].mean((1, 2)) for c in range(3)]
                        + [x.max((1, 2, 3))], 1)


def test_fid_every_scores_each_epoch_into_metrics(tmp_path, monkeypatch):
    from facegan.train import inception

    monkeypatch.setattr(inception, "InceptionFeatures", _PixelFeatures)
    run = _train(tmp_path, "--epochs", "3", "--fid-every", "2", "--fid-samples", "8")  # 4 steps per epoch
    rows = [json.loads(x) for x in RunDir(run).metrics.read_text().splitlines()]
    scores = [r for r in rows if "fid" in r]
    assert [(r["step"], r["epoch"]) for r in scores] == [(8, 2)]
    assert math.isfinite(scores[0]["fid"]) and scores[0]["fid"] > 0
    assert len(rows) == 12 + 1  # every step's line, and the FID line once


def test_lr_flags_reach_the_optimizers(tmp_path):
    run = _train(tmp_path, "--lr-d", "4e-4", "--lr-g", "1e-4", "--lr-schedule", "constant", "--steps", "2")
    rows = [json.loads(x) for x in RunDir(run).metrics.read_text().splitlines()]
    assert [(r["lr_d"], r["lr_g"]) for r in rows] == [(4e-4, 1e-4)] * 2
