"""Training pictures: loss curves, the progress GIF and real-vs-fake panels, written with known sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facegan.train.errors import MissingExtraError
from facegan.train import plots


def _metrics(path, with_fid: bool):
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for step in range(0, 200, 10):
            row = {"step": step, "epoch": step // 100, "loss_d": 1.4 - step / 400 + rng.random() * 0.1,
                   "loss_g": 0.7 + step / 300, "d_real": 0.5 + step / 800, "d_fake": 0.5 - step / 800,
                   "images_per_s": 50.0, "lr_g": 2e-4, "lr_d": 2e-4}
            f.write(json.dumps(row) + "\n")
            if with_fid and step % 100 == 90:
                f.write(json.dumps({"step": step, "epoch": step // 100, "fid": 300.0 - step}) + "\n")
        f.write('{"step": 200, "loss_d"')  # a torn last line, as after a crash
    return path


@pytest.mark.parametrize("with_fid", [False, True])
def test_plot_losses(tmp_path, with_fid):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out" / "loss.png"
    plots.plot_losses(_metrics(tmp_path / "metrics.jsonl", with_fid), out)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (1000, 700)
        # Not a blank canvas: the curves put many distinct colours on it.
        assert len(im.convert("RGB").getcolors(maxcolors=100000)) > 50
    assert not list(out.parent.glob(".*.tmp"))


def test_read_metrics_skips_torn_lines(tmp_path):
    rows = plots.read_metrics(_metrics(tmp_path / "m.jsonl", True))
    assert len(rows) == 22 and sum("fid" in r for r in rows) == 2


def test_plot_losses_of_an_empty_file(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "m.jsonl").write_text("")
    plots.plot_losses(tmp_path / "m.jsonl", tmp_path / "loss.png")
    assert Image.open(tmp_path / "loss.png").size == (1000, 700)


def test_progress_gif(tmp_path):
    pngs = []
    for i in range(3):
        p = tmp_path / f"epoch-{i:03d}.png"
        Image.fromarray(np.full((34, 66, 3), 80 * i, np.uint8)).save(p)
        pngs.append(p)
    out = tmp_path / "progress.gif"
    plots.progress_gif(pngs, out)
    with Image.open(out) as im:
        assert im.format == "GIF" and im.size == (66, 34) and im.n_frames == 3
        firsts = []
        for k in range(3):
            im.seek(k)
            firsts.append(im.convert("RGB").getpixel((5, 5))[0])
        assert firsts == [0, 80, 160]  # frames in the given order
    with pytest.raises(ValueError):
        plots.progress_gif([], out)


def test_image_grid_layouts():
    nhwc = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    grid = plots.image_grid(nhwc, padding=2)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3)  # 5 images -> 3 per row, 2 rows
    assert np.array_equal(grid[2:10, 12:20], nhwc[1])
    assert np.array_equal(plots.image_grid(nhwc.transpose(0, 3, 1, 2)), grid)  # NCHW too
    assert plots.image_grid(nhwc[..., :1]).shape == grid.shape  # grey -> RGB
    with pytest.raises(ValueError, match="uint8"):
        plots.image_grid(nhwc.astype(np.float32))


def test_real_vs_fake(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8)  # NCHW, as ImageData.sample gives
    fake = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)  # NHWC, as the runtime gives
    out = tmp_path / "real-vs-fake.png"
    plots.real_vs_fake(real, fake, out)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (1000, 500)


def test_missing_matplotlib_raises_missing_extra(tmp_path, no_matplotlib):
    with pytest.raises(MissingExtraError, match="facegan\\[metrics\\]"):
        plots.plot_losses(_metrics(tmp_path / "m.jsonl", False), tmp_path / "loss.png")
