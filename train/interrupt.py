"""Ctrl-C during training: the loop stops after the current step and saves; a second Ctrl-C kills.

    with StopFlag() as stop:
        ... if stop.requested: save, then raise Interrupted
"""

from __future__ import annotations

import signal


class StopFlag:
    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __enter__(self) -> StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: no signal handling
            self._previous = None
        return self

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


__all__ = ["StopFlag"]
