"""Bounded queues with an explicit overflow policy, so no stage can queue without bound."""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class DropOldestQueue(Generic[T]):
    """A bounded asyncio queue that never blocks the producer: when full, the oldest item is
    dropped (and counted), because for live video the freshest frame is the one worth encoding."""

    def __init__(self, maxsize: int, name: str) -> None:
        self._q: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.name = name
        self.dropped = 0

    def put(self, item: T) -> T | None:
        """Enqueue; returns the item that was dropped to make room, if any."""
        dropped = None
        if self._q.full():
            dropped = self._q.get_nowait()
            self._q.task_done()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 50 == 0:
                log.warning("%s queue full: dropped %d item(s) so far", self.name, self.dropped)
        self._q.put_nowait(item)
        return dropped

    async def get(self) -> T:
        return await self._q.get()

    def task_done(self) -> None:
        self._q.task_done()

    async def join(self) -> None:
        await self._q.join()

    def qsize(self) -> int:
        return self._q.qsize()
