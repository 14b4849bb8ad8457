"""Checkpoints: atomic writes, safe loads, clear refusals."""

import os
from pathlib import Path
import pickle

import pytest
import torch

from conftest import write_checkpoint
from facegan.train.errors import CheckpointError
from facegan.train import checkpoint as ck


def test_round_trip_with_weights_only(tmp_path):
    path = write_checkpoint(tmp_path / "c.pt", preset="dcgan-linear", ema=True)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "facegan.checkpoint" and raw["format_version"] == ck.FORMAT_VERSION
    state = ck.load_checkpoint(path)
    assert state["model_config"]["stem"] == "linear" and state["generator_ema"] is not None


def test_run_dir_resolves_to_last_pt(tmp_path):
    write_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck.load_checkpoint(tmp_path / "run")["step"] == 3
    with pytest.raises(CheckpointError, match="without checkpoints/last.pt"):
        ck.load_checkpoint(tmp_path)


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = write_checkpoint(tmp_path / "c.pt")
    before = path.read_bytes()

    def crash(obj, f, *a, **k):
        Path(f).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt  # a kill during the write

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint({"step": 99}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "facegan.checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="unpickle code"):
        ck.load_checkpoint(path)


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "not found"),
        (b"", "not a readable checkpoint"),
        (b"garbage that is not a zip", "not a readable checkpoint"),
        ("foreign", "not a facegan checkpoint"),
        ("truncated", "not a readable checkpoint"),
        ("future", "format version"),
    ],
)
def test_bad_files_are_refused(tmp_path, content, match):
    path = tmp_path / "c.pt"
    if content == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    elif content == "truncated":
        write_checkpoint(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "future":
        torch.save({"format": "facegan.checkpoint", "format_version": 99}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        ck.load_checkpoint(path)


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(pickle.dumps({"format": "facegan.checkpoint"}))
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(path)


def _damaged(tmp_path, **changes):
    state = ck.load_checkpoint(write_checkpoint(tmp_path / "good.pt"))
    ck.save_checkpoint({**state, **changes}, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(train_config=None), "train_config is NoneType, not dict"),
        (dict(model_config=[1, 2]), "model_config is list, not dict"),
        (dict(step="abc"), "step is str, not int"),
        (dict(generator_ema=3), "generator_ema is int, not dict or None"),
    ],
)
def test_damaged_fields_are_refused_in_one_line(tmp_path, changes, message):
    """A file that says it is a facegan checkpoint but holds the wrong kinds of values."""
    with pytest.raises(CheckpointError, match=message):
        ck.load_checkpoint(_damaged(tmp_path, **changes))


def test_damaged_configs_are_refused_by_export_and_resume(tmp_path):
    from facegan.export import load_generator
    from facegan.train.resume import resume_from

    path = _damaged(tmp_path, model_config={"latent_dim": "many", "image_size": 32})
    for load in (load_generator, resume_from):
        with pytest.raises(CheckpointError, match="cannot"):
            load(path)
