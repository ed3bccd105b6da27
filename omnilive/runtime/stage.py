"""A stage: one kind of work with a thread of its own, its failures caught and counted.

Every model call of a live session and of batch ingest runs on the executor of its stage (VAD,
ASR, sound tags, filter, retrieval, vision, memory, LLM, TTS), so a slow one never delays another
and no stage runs two inferences at once on a 2-core machine. ``supervise`` runs a stage's loop
and turns an exception it did not expect into a report (an ``error`` event in a session) and goes
on with the next input: a stage is never silently gone. Each stage counts its calls, errors and
busy seconds (``Stage.metrics``), like LiveKit Agents' per-stage metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class StageMetrics:
    calls: int = 0
    errors: int = 0
    busy_s: float = 0.0


def cancelled() -> bool:
    """Is the running task being cancelled? An exception raised while it was (a stage shut down
    under it as the session closed, inside a ``finally``) replaces the CancelledError: a loop that
    logged it and went on would wait on its queue forever, and the session's close with it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Stage:
    def __init__(self, name: str, on_error: Callable[[str, Exception], None] | None = None) -> None:
        self.name = name
        self.metrics = StageMetrics()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._on_error = on_error

    def _timed(self, fn: Callable, *args) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        except Exception:
            self.metrics.errors += 1
            raise
        finally:
            self.metrics.calls += 1
            self.metrics.busy_s += time.perf_counter() - started

    async def run(self, fn: Callable, *args) -> Any:
        """``fn(*args)`` on this stage's thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, fn, *args)

    def submit(self, fn: Callable, *args) -> Future:
        """``fn(*args)`` on this stage's thread, from plain threads (batch ingest)."""
        return self._executor.submit(self._timed, fn, *args)

    async def supervise(self, worker: Callable[[], Awaitable[None]]) -> None:
        """Run the stage's loop until it returns; an exception it did not expect is reported and the
        loop is entered again (the input that failed is lost, the queue it reads is kept)."""
        while True:
            try:
                return await worker()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if cancelled():
                    raise asyncio.CancelledError from exc
                self.metrics.errors += 1
                log.exception("%s failed; it goes on with its next input", self.name)
                if self._on_error is not None:
                    self._on_error(self.name, exc)

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=False)
