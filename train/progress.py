"""What a person watching a run sees: a rich progress bar on a terminal, plain lines elsewhere.

    with Progress("preparing images", enabled=not quiet, transient=True) as bar:
        load_data(spec, progress=bar.update)                          # update(done, total)
    with Progress("epoch {task.fields[epoch]}/3", enabled=main and not quiet, total=n, echo=say,
                  fields={"epoch": 1, "stats": ""}) as p:
        p.update(step, epoch=2, stats="D 0.7 ...")
        p.log("step 10/40 epoch 1/3: D 0.7 ...")   # printed only where no live bar shows it

A live bar in a log file, CI or nohup would only show its last frame, so there each logged
metrics line is printed as a plain line instead. Disabled (--quiet, rank > 0), it does nothing.
"""

from __future__ import annotations

from typing import Callable


class Progress:
    def __init__(
        self, label: str, enabled: bool, *, total: int | None = None, done: int = 0, transient: bool = False,
        fields: dict | None = None, echo: Callable[[str], None] = print,
    ):
        self.enabled = enabled
        self.live = enabled and is_terminal()
        self.echo = echo
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            stats = [TextColumn("{task.fields[stats]}")] if fields and "stats" in fields else []
            self._bar = RichProgress(
                TextColumn(label), BarColumn(), MofNCompleteColumn(), *stats, TimeRemainingColumn(), transient=transient
            )
            self._task = self._bar.add_task(label, total=total, completed=done, **(fields or {}))

    def __enter__(self) -> Progress:
        if self.live:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if self.live:
            self._bar.__exit__(*exc)
        return False

    def update(self, done: int, total: int | None = None, **fields) -> None:
        if self.live:
            self._bar.update(self._task, completed=done, **({"total": total} if total is not None else {}), **fields)

    def log(self, line: str) -> None:
        """A line for readers without a live bar (which shows the same numbers itself)."""
        if self.enabled and not self.live:
            self.echo(line)


def metrics_text(m: dict) -> str:
    """The losses, D's outputs and speed of a metrics line, as the progress display shows them."""
    if not m:
        return ""
    return (f"D {m['loss_d']:.3f} G {m['loss_g']:.3f} D(x) {m['d_real']:.2f} D(G(z)) {m['d_fake']:.2f} "
            f"{m['images_per_s']:.0f} img/s")


def is_terminal() -> bool:
    """Whether stdout is an interactive terminal (where live progress bars make sense)."""
    from rich.console import Console

    return Console().is_terminal


__all__ = ["Progress", "is_terminal", "metrics_text"]
