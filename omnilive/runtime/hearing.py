"""What a live session keeps in heard memory (memory/heard.py): utterances (the user's, background
talk), its own answers, notes, and notable sounds found in the audio (perception/sounds.py).

Writes run on the session's memory thread (embedding an utterance takes a few ms) and each kept
item is emitted as a ``heard`` event; sound tagging runs on the sound thread, window by window,
from a short backlog (the oldest is dropped past ``SOUND_BACKLOG``), so a file fed faster than real
time is still heard and a stalled tagger never holds audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

import numpy as np

from ..events import AudioChunk, ErrorEvent, Event, HeardItem, Query, Utterance
from ..memory.heard import sound_said
from ..memory.store import MemoryStore
from ..perception.sounds import SoundWindows, detect, notable
from .stage import Stage

log = logging.getLogger(__name__)
SOUND_BACKLOG = 30  # sound windows (~1 s each) waiting to be tagged


class Hearing:
    def __init__(self, memory: MemoryStore, tagger, stages: dict[str, Stage], emit: Callable[[Event], None],
                 t_offset: float, name: str) -> None:
        self._memory, self._tagger, self._stages, self._emit = memory, tagger, stages, emit
        self._offset, self._name = t_offset, name
        self._rows: dict[int, int] = {}  # turn -> heard item kept for it (a joined turn replaces it)
        self._windows = SoundWindows()
        self._classes = notable(tagger) if tagger is not None else None
        self._backlog: deque[tuple[float, np.ndarray]] = deque(maxlen=SOUND_BACKLOG)
        self._busy = False
        self.closing = False
        self.remembering = True  # False: "stop remembering" (a note asked for in so many words is still kept)

    async def drain(self) -> None:
        """Wait until every sound window is tagged and every write is done and emitted."""
        while self._busy:
            await asyncio.sleep(0.01)
        await asyncio.wrap_future(self._stages["memory"].submit(lambda: None))
        await asyncio.sleep(0)  # the emits queued before it run first

    def keep(self, item: HeardItem, turn_id: int | None = None, replaces: int | None = None) -> None:
        """Keep something heard, on the memory thread, then emit it."""
        loop = asyncio.get_running_loop()

        def write() -> HeardItem | None:
            if replaces is not None:
                self._memory.heard.remove(replaces)
            return self._memory.heard.add(item)

        def kept(fut) -> None:
            try:
                stored = fut.result()
            except Exception as exc:  # a full disk: the session goes on, the client is told
                log.exception("%s: could not keep a heard item", self._name)
                self._emit(ErrorEvent(stage="memory", message=str(exc)))
                return
            if stored is not None:
                if turn_id is not None:
                    self._rows[turn_id] = stored.item_id
                self._emit(stored)

        def back_on_loop(fut) -> None:
            try:
                loop.call_soon_threadsafe(kept, fut)
            except RuntimeError:  # the loop is gone (the session ended): the item is kept all the same
                pass

        if not self.closing and (self.remembering or item.kind == "note"):
            self._stages["memory"].submit(write).add_done_callback(back_on_loop)

    def utterance(self, utt: Utterance) -> None:
        if not utt.text.strip():
            return
        speaker = "user" if utt.for_assistant or utt.command else "background"
        replaces = self._rows.pop(utt.joins, None) if utt.joins is not None else None
        self.keep(HeardItem(item_id=0, start=utt.start + self._offset, end=utt.end + self._offset, kind="speech",
                            text=utt.text, labels=tuple(t.label for t in utt.tags), speaker=speaker,
                            language=utt.language, voice=utt.voice), utt.turn_id, replaces)

    def answer(self, query: Query, text: str, now: float) -> None:
        """What the assistant said (memory time ``now`` when it finished), unless it confirmed a note
        or a forget / pause request."""
        if text.strip() and query.kind not in ("note", "privacy"):
            self.keep(HeardItem(item_id=0, start=query.t, end=max(query.t, now), kind="speech", text=text,
                                speaker="assistant", language=query.language))

    def audio(self, chunk: AudioChunk) -> None:
        if self._classes is None:
            return
        window = self._windows.feed(chunk.t + self._offset, chunk.samples)
        if window is None:
            return
        self._backlog.append(window)
        if not self._busy:
            self._busy = True
            asyncio.ensure_future(self._tag())

    async def _tag(self) -> None:
        try:
            while self._backlog and not self.closing:
                start, samples = self._backlog.popleft()
                try:
                    found = await self._stages["sound"].run(detect, self._tagger, self._classes, start, samples)
                except Exception:
                    log.exception("%s: sound tagging failed", self._name)
                    continue
                for d in found:
                    self.keep(HeardItem(item_id=0, start=d.start, end=d.end, kind="sound", text=sound_said(d.label),
                                        labels=(d.label,), score=round(d.score, 3)))
        finally:
            self._busy = False
