"""The non-finite guard: a NaN/inf loss skips its step; MAX_BAD_STEPS in a row restore last.pt.

    guard = NonFiniteGuard(run, info, say)
    if guard.check(s, result):   # True: the state went back to last.pt, restart the epoch's batches
        break
    guard.healthy                # no bad streak going on: the state may be checkpointed
"""

from __future__ import annotations

from typing import Callable

import torch

from facegan.runtime.errors import FaceganError

from .checkpoint import load_checkpoint
from .distributed import DistInfo
from .errors import CheckpointError
from .rundir import RunDir
from .state import State
from .step import StepResult

MAX_BAD_STEPS = 3  # non-finite losses in a row before restoring the last good checkpoint


class NonFiniteGuard:
    def __init__(self, run: RunDir, info: DistInfo, say: Callable[[str], None]):
        self.run, self.info, self.say = run, info, say
        self.bad_steps = 0  # non-finite steps in a row
        self.restored_steps: list[int] = []  # steps restored to, in order

    @property
    def healthy(self) -> bool:
        return self.bad_steps == 0

    def check(self, s: State, result: StepResult) -> bool:
        """Count a step; after MAX_BAD_STEPS bad ones in a row restore last.pt and return True."""
        if result.finite:
            self.bad_steps = 0
            return False
        self.bad_steps += 1
        self.say(f"step {s.step}: non-finite loss (D {result.loss_d.item()}, G {result.loss_g.item()}); step skipped")
        if self.bad_steps < MAX_BAD_STEPS:
            return False
        self._restore_last_good(s)
        self.bad_steps = 0
        return True

    def _restore_last_good(self, s: State) -> None:
        """Go back to last.pt with fresh noise.

        The checkpoint restores the RNG too, so the same noise would lead to the same blow-up: the
        noise is reseeded from the restore count. A second blow-up after restoring the same step
        means the run diverges there whatever the noise, and stops with an error instead of looping.
        """
        last = self.run.last
        if not last.exists():
            raise FaceganError(f"losses went non-finite {MAX_BAD_STEPS} times in a row and there is no checkpoint to restore")
        try:
            ckpt = load_checkpoint(last)
        except CheckpointError as e:
            raise FaceganError(f"losses went non-finite and the last checkpoint could not be restored: {e}") from e
        if int(ckpt["step"]) in self.restored_steps:
            raise FaceganError(
                f"losses went non-finite again after restoring step {ckpt['step']} with fresh noise: the run diverges "
                "there; lower the learning rate or add --grad-clip, and resume from an earlier checkpoint"
            )
        s.load(ckpt)
        self.restored_steps.append(s.step)
        torch.manual_seed(s.train_cfg.seed + self.info.rank + 7919 * len(self.restored_steps))  # fresh, and per rank
        if self.info.is_main:
            self.run.rewind_metrics(s.step)
        self.say(f"restored {last} (step {s.step}) after {MAX_BAD_STEPS} non-finite losses in a row; noise reseeded")


__all__ = ["MAX_BAD_STEPS", "NonFiniteGuard"]
