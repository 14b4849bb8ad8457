"""What keeps facegan-serve bounded under load: caps, generation slots, and a timeout per request.

    limits = Limits(max_n=64, concurrency=1, timeout_s=30)
    pool = GenerationPool(limits)
    body = await pool.run(lambda: encode(gen.generate(16, seed=7)))   # Busy / TimedOut on overload

A generation holds one of `concurrency` slots from the moment it is accepted until its thread
finishes. Taking a slot never waits: when all are held the request is refused at once (Busy, a 503
with Retry-After), so the service never builds a queue it cannot serve. A request that waits
longer than `timeout_s` gets TimedOut (504) while its thread runs on, still holding its slot:
onnxruntime cannot be interrupted, and releasing the slot early would let more generations run at
once than the cap allows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from facegan.runtime.errors import FaceganError, UsageError
from facegan.runtime.latents import SEED_LIMIT

T = TypeVar("T")
MAX_SEED = SEED_LIMIT - 1  # the runtime's bound: seeds are 64-bit (Philox is keyed with them)


@dataclass(frozen=True)
class Limits:
    """The caps of one facegan-serve process (flags --max-n, --max-steps, ... of the CLI)."""

    max_n: int = 64  # faces per /v1/faces request
    max_steps: int = 64  # frames per /v1/morph request
    max_response_bytes: int = 16 * 2**20  # estimated (uncompressed) size of one image response
    concurrency: int = 1  # generations at once; a request beyond them gets 503 at once
    timeout_s: float = 30.0  # longest a request waits for its generation before a 504
    retry_after_s: int = 1  # what a 503 tells the client to wait (Retry-After, seconds)

    def __post_init__(self) -> None:
        for name in ("max_n", "max_steps", "max_response_bytes", "concurrency", "retry_after_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be an integer >= 1, got {value!r}")
        if self.max_steps < 2:
            raise UsageError(f"max_steps must be at least 2 (a morph has both ends), got {self.max_steps}")
        if not 0 < self.timeout_s < float("inf"):
            raise UsageError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")


class Busy(FaceganError):
    """Every generation slot is taken: the client should retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TimedOut(FaceganError):
    """A generation took longer than the request timeout."""


class TooLarge(UsageError):
    """The response would exceed max_response_bytes (the caller's request is too big: a 4xx)."""


class Slots:
    """`count` slots taken without waiting; released from any thread."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        return self._busy

    def try_acquire(self) -> bool:
        with self._lock:
            if self._busy >= self.count:
                return False
            self._busy += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._busy <= 0:
                raise RuntimeError("Slots.release without a matching acquire")
            self._busy -= 1


def estimate_bytes(width: int, height: int, channels: int, frames: int = 1) -> int:
    """An upper estimate of an encoded response: the raw pixels plus PNG/GIF framing overhead.

    PNG and GIF of noisy pictures can come out slightly larger than the raw pixels (incompressible
    rows, LZW codes), never much larger; JPEG and WebP are far smaller.
    """
    raw = width * height * channels * frames
    return raw + raw // 64 + 4096 * frames


def check_response_size(estimated: int, limits: Limits, what: str) -> None:
    """Raise TooLarge when `estimated` bytes exceed the cap; the message says what to ask instead."""
    if estimated > limits.max_response_bytes:
        raise TooLarge(
            f"{what} would be about {estimated / 2**20:.1f} MiB, over this server's limit of "
            f"{limits.max_response_bytes / 2**20:.1f} MiB; ask for fewer images"
        )


class GenerationPool:
    """Runs generations in worker threads, at most `limits.concurrency` at once (see the module docstring).

    onnxruntime releases the GIL while it computes and a FaceGenerator may be shared by threads,
    so the slots run truly in parallel; the event loop stays free to answer (and refuse) requests.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.slots = Slots(limits.concurrency)
        # One worker per slot: an accepted generation starts at once, never queued behind another.
        self.executor = ThreadPoolExecutor(max_workers=limits.concurrency, thread_name_prefix="facegan-generate")

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a worker thread; raises Busy at once when no slot is free, TimedOut after the timeout."""
        if not self.slots.try_acquire():
            raise Busy(
                f"all {self.slots.count} generation slot(s) are busy; retry in {self.limits.retry_after_s} s",
                self.limits.retry_after_s,
            )
        try:
            future = self.executor.submit(work)
        except BaseException:
            self.slots.release()
            raise
        # Released when the thread is done (or the job was cancelled before it started), not when
        # the request gives up: a timed-out generation still occupies its core until it ends.
        future.add_done_callback(lambda _: self.slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.limits.timeout_s)
        except asyncio.TimeoutError:
            raise TimedOut(f"the generation took longer than this server's timeout of {self.limits.timeout_s:g} s") from None

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "Busy", "GenerationPool", "Limits", "MAX_SEED", "Slots", "TimedOut", "TooLarge", "check_response_size",
    "estimate_bytes",
]
