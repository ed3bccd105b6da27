"""What goes out to one client, in order, in two lanes.

System events (speech start, pause, resume, interrupt, errors: ``Event.is_system``) are never
dropped. Data events (answer text and audio, clips, heard items, transcripts) are bounded: past
``limit`` queued, a slow client loses the newest data, counted, rather than growing server memory.
An interrupt purges the cut turn's answer audio still queued, so the client never has to play
and then drop what the user already talked over (its text stays: it was written); the interrupt itself keeps its place in line
behind everything else, so the page sees events in the order they happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ..events import AnswerAudio, Event, Interrupt

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, limit: int, name: str = "client") -> None:
        self.limit, self.name = limit, name
        self._items: deque[Event] = deque()
        self._data = 0  # data events queued (system events do not count against the limit)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.purged = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, ev: Event) -> bool:
        """Queue ``ev``; False if it was data dropped because the client is behind."""
        if ev.is_system:
            if isinstance(ev, Interrupt) and ev.cancelled_turn is not None:
                self._purge(ev.cancelled_turn)
        elif self._data >= self.limit:
            self.dropped += 1
            log.warning("%s: client is slow, dropping %s", self.name, ev.type)
            return False
        else:
            self._data += 1
        self._items.append(ev)
        self._ready.set()
        return True

    def _purge(self, turn_id: int) -> None:
        keep = deque(e for e in self._items
                     if not (isinstance(e, AnswerAudio) and e.turn_id == turn_id))
        gone = len(self._items) - len(keep)
        if gone:
            self.purged += gone
            self._data -= gone
            self._items = keep

    async def get(self) -> Event:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        ev = self._items.popleft()
        if not ev.is_system:
            self._data -= 1
        return ev
