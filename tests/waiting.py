"""Wait for a child process to say something: output is the event tests synchronise on, never a sleep."""

from __future__ import annotations

import os
import select
import time


def wait_for_output(fd: int, needle: str, timeout_s: float = 120.0) -> str:
    """Read `fd` until `needle` has appeared in what was read; return it all. Fails on EOF or timeout.

    `select` blocks until the child writes (or the deadline passes), so nothing here waits a fixed time.
    """
    seen, deadline = b"", time.monotonic() + timeout_s
    while needle.encode() not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no {needle!r} within {timeout_s:.0f} s; output so far: {seen.decode(errors='replace')[-500:]}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pty whose child has exited
            chunk = b""
        if not chunk:
            raise AssertionError(f"output ended before {needle!r}: {seen.decode(errors='replace')[-500:]}")
        seen += chunk
    return seen.decode(errors="replace")


def drain_output(fd: int) -> None:
    """Read and drop `fd` until EOF, so a child writing to it never blocks (run it in a thread)."""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:  # the pty closed with its child
        pass
