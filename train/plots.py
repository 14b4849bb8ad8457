"""Training pictures: loss curves, the fixed-noise progress GIF, and real-vs-fake panels.

    plot_losses(run.metrics, run.loss_png)                             # needs matplotlib (run: a RunDir)
    progress_gif(run.sample_grids(), run.progress_gif)                # pillow
    real_vs_fake(real_uint8, fake_uint8, run.real_vs_fake)             # matplotlib

matplotlib is the optional `facegan[metrics]` extra: it is imported lazily, and figures are drawn
on an Agg canvas directly (no pyplot), so no global backend is switched and no window opens.
Figures have a fixed size (FIG_DPI dots per inch, no tight bounding box), so a PNG's pixel size
is known in advance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from facegan.runtime.errors import UsageError
from facegan.runtime.files import atomic_path

from .errors import MissingExtraError

FIG_DPI = 100
LOSS_FIGSIZE_IN = (10.0, 7.0)  # width, height in inches -> 1000 x 700 px
PANEL_HEIGHT_IN = 5.0  # real-vs-fake: two square panels side by side, 10 x 5 in -> 1000 x 500 px
GIF_FRAME_MS = 500  # how long each epoch's grid stays on screen
GIF_LAST_FRAME_MS = 2000  # the final grid lingers before the loop restarts


def _figure(figsize: tuple[float, float]):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plots need matplotlib: pip install 'facegan[metrics]'") from None
    fig = Figure(figsize=figsize, dpi=FIG_DPI)
    FigureCanvasAgg(fig)
    return fig


def read_metrics(metrics_jsonl: Path) -> list[dict]:
    """The metrics lines as dicts; a torn last line (from a crash mid-write) is skipped."""
    rows = []
    for line in Path(metrics_jsonl).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_losses(metrics_jsonl: Path, out_png: Path) -> None:
    """Loss of G and D, D(x) and D(G(z)), and FID when present, against the step, in one PNG."""
    rows = read_metrics(metrics_jsonl)
    has_fid = bool(_series(rows, "fid")[0])
    fig = _figure(LOSS_FIGSIZE_IN)
    axes = fig.subplots(3 if has_fid else 2, 1, sharex=True)

    ax = axes[0]
    for key, label in (("loss_g", "loss G"), ("loss_d", "loss D")):
        ax.plot(*_series(rows, key), label=label, linewidth=1)
    ax.set_ylabel("loss")
    ax.set_title("Generator and discriminator loss during training")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)

    ax = axes[1]
    for key, label in (("d_real", "D(x), real"), ("d_fake", "D(G(z)), fake")):
        ax.plot(*_series(rows, key), label=label, linewidth=1)
    ax.set_ylabel("D output")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)

    if has_fid:
        ax = axes[2]
        ax.plot(*_series(rows, "fid"), marker="o", color="tab:green", label="FID")
        ax.set_ylabel("FID (lower is better)")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    if not rows:
        axes[0].text(0.5, 0.5, "no metrics yet", transform=axes[0].transAxes, ha="center")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.94, bottom=0.08, hspace=0.12)
    _save_png(fig, out_png)


def progress_gif(sample_pngs: Sequence[Path], out_gif: Path, frame_ms: int = GIF_FRAME_MS) -> None:
    """An animated GIF of the fixed-noise grids, one frame per PNG in the given order, looping."""
    if not sample_pngs:
        raise UsageError("progress_gif needs at least one sample grid")
    frames = []
    for p in sample_pngs:
        with Image.open(p) as im:
            frames.append(im.convert("RGB"))
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size, Image.Resampling.NEAREST) for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [max(frame_ms, GIF_LAST_FRAME_MS)]
    with atomic_path(out_gif) as tmp:  # a viewer refreshing mid-training never sees half a GIF
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)


def image_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 (N, H, W, C) or (N, C, H, W) images -> one uint8 (H', W', 3) grid, `nrow` per row."""
    x = _to_nhwc(images)
    n, h, w, _ = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = x[i]
    return grid


def real_vs_fake(real_uint8: np.ndarray, fake_uint8: np.ndarray, out_png: Path) -> None:
    """Real and generated images side by side as two labelled grids (either layout, NHWC or NCHW)."""
    fig = _figure((2 * PANEL_HEIGHT_IN, PANEL_HEIGHT_IN))
    axes = fig.subplots(1, 2)
    for ax, images, title in ((axes[0], real_uint8, "Real images"), (axes[1], fake_uint8, "Fake images")):
        ax.imshow(image_grid(images), interpolation="nearest")
        ax.set_title(f"{title} ({len(images)})")
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.04)
    _save_png(fig, out_png)


def _to_nhwc(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise UsageError(f"expected uint8 images (N, H, W, C) or (N, C, H, W), got {x.shape} {x.dtype}")
    if x.shape[-1] not in (1, 3) and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
        raise UsageError(f"expected 1 or 3 channels, got shape {x.shape}")
    return x


def _save_png(fig, out_png: Path) -> None:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=FIG_DPI)


__all__ = ["image_grid", "plot_losses", "progress_gif", "read_metrics", "real_vs_fake"]
