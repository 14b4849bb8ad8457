"""The run directory: its file names, metrics appends and rewinds, pruning, and --resume's folder."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from facegan.runtime.errors import UsageError  # noqa: E402
from facegan.train.resume import resume_run_dir  # noqa: E402
from facegan.train.rundir import RunDir  # noqa: E402


def test_names_of_a_run(tmp_path):
    run = RunDir(tmp_path / "runs" / "celeba")
    names = {p.relative_to(run.path).as_posix() for p in (
        run.config_json, run.metrics, run.real_png, run.last, run.loss_png, run.progress_gif, run.real_vs_fake,
        run.morph_gif, run.skipped_files, run.epoch_samples(7), run.epoch_checkpoint(12))}
    assert names == {"config.json", "metrics.jsonl", "samples/real.png", "checkpoints/last.pt", "loss.png",
                     "progress.gif", "real-vs-fake.png", "morph.gif", "skipped-files.txt", "samples/epoch-007.png",
                     "checkpoints/epoch-012.pt"}
    assert RunDir.of_checkpoint(run.last) == run == RunDir.of_checkpoint(run.epoch_checkpoint(3))


def test_keep_prunes_by_epoch_number_past_999(tmp_path):
    run = RunDir(tmp_path)
    run.checkpoints.mkdir()
    for epoch in (997, 998, 999, 1000, 1001):
        run.epoch_checkpoint(epoch).write_bytes(b"")
    run.last.write_bytes(b"")
    run.prune(keep=3)
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["epoch-1000.pt", "epoch-1001.pt", "epoch-999.pt", "last.pt"]
    assert [p.name for p in run.epoch_checkpoints()] == ["epoch-999.pt", "epoch-1000.pt", "epoch-1001.pt"]


def test_rewind_drops_later_and_torn_lines_without_a_temp_file_left(tmp_path):
    run = RunDir(tmp_path)
    for step in (1, 2, 3):
        run.append_metrics({"step": step, "loss_d": 0.5})
    run.metrics.write_text(run.metrics.read_text() + '{"step": 4, "lo')
    run.rewind_metrics(2)
    assert [json.loads(line)["step"] for line in run.metrics.read_text().splitlines()] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_resume_accepts_the_runs_own_out_and_name_and_refuses_others(tmp_path, monkeypatch):
    """Repeating the original command with --resume added works: --out and --name that name the
    run's own folder are accepted, others (and --overwrite) are usage errors."""
    run = tmp_path / "runs" / "celeba"
    run.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for given in ({}, {"out": "runs"}, {"out": tmp_path / "runs", "name": "celeba"}, {"name": "celeba"}):
        assert resume_run_dir(run / "checkpoints" / "last.pt", **given) == run
    for given, flag in (({"out": "elsewhere"}, "--out"), ({"name": "other"}, "--name"), ({"overwrite": True}, "--overwrite")):
        with pytest.raises(UsageError, match=f"{flag} does not apply to --resume"):
            resume_run_dir(run, **given)
