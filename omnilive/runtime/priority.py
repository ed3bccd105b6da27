"""First audio first: the CPU goes to the words a user is waiting to hear.

On a small machine the LLM writing the rest of an answer and the TTS saying its first words halve
each other's speed (here, Kokoro's eight Mandarin characters: 0.6-0.8 s alone, 1.4-1.6 s beside the
1.5B writing). So while any session synthesizes the first audio of an answer, an LLM that runs in
this process waits between tokens (at most ``MAX_WAIT_S`` a token, so nothing starves); the rest of
the answer is written while the first words play. And the sessions' syntheses take turns, the one
needed soonest first (``Lane``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import weakref
from collections.abc import AsyncIterator, Iterator

from ..backends.base import LLM

MAX_WAIT_S = 1.0


class FirstAudio:
    def __init__(self) -> None:
        self._busy = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def synthesizing(self) -> Iterator[None]:
        """Around the synthesis of an answer's first audio."""
        self._add(1)
        try:
            yield
        finally:
            self._add(-1)

    def _add(self, n: int) -> None:
        with self._cond:
            self._busy += n
            if not self._busy:
                self._cond.notify_all()

    def pending(self) -> "Pending":
        """For one answer: its first sentence, once written, holds the LLMs here until its audio
        is made (``Pending.take`` on the LLM thread, ``Pending.done`` after the synthesis); else
        the LLM's next token had started before the synthesis did, and slowed it."""
        return Pending(self)

    def wait(self) -> None:
        """On an LLM thread, between tokens: until no first audio is being synthesized."""
        with self._cond:
            self._cond.wait_for(lambda: not self._busy, timeout=MAX_WAIT_S)


class Pending:
    """One answer's hold on the LLMs, from its first sentence written to its first audio made."""

    def __init__(self, first: FirstAudio) -> None:
        self._first, self._lock = first, threading.Lock()
        self._held = self._over = False

    def take(self) -> None:
        with self._lock:
            if self._held or self._over:
                return
            self._held = True
        self._first._add(1)

    def done(self) -> None:
        """Idempotent: after the first synthesis, and when the answer ends (cut, not spoken)."""
        with self._lock:
            held, self._held, self._over = self._held, False, True
        if held:
            self._first._add(-1)


FIRST_AUDIO = FirstAudio()  # one per process: its sessions share the CPU (and the one llama.cpp model)


class Yielding(LLM):
    """``llm`` whose streams give way to first audio between tokens (an LLM running here only: a
    server's tokens cost this machine nothing)."""

    def __init__(self, llm: LLM) -> None:
        self._llm = llm
        self.name, self.supports_images, self.supports_json = llm.name, llm.supports_images, llm.supports_json

    def json(self, messages, schema, *, max_tokens):
        return self._llm.json(messages, schema, max_tokens=max_tokens)

    def stream(self, messages, *, max_tokens, cancel=None):
        for delta in self._llm.stream(messages, max_tokens=max_tokens, cancel=cancel):
            yield delta
            FIRST_AUDIO.wait()


def yielding(llm: LLM | None) -> LLM | None:
    return Yielding(llm) if llm is not None and llm.runs_here else llm


class Lane:
    """Work on this CPU one at a time across sessions, the one needed soonest first (earliest
    deadline first): a speech synthesis is needed at its turn's end of speech for an answer's first
    words, and when the audio already sent runs out for the rest. Four users asking at once on two
    cores had four first syntheses share the CPU and all finish late; now the first hears its
    answer after one synthesis, and the rest of an answer, which has seconds before it is played,
    waits behind the first words of another's. A step under way is never cut short."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def take(self, needed: float) -> AsyncIterator[None]:
        """Hold the lane for a step needed at ``needed`` (``time.perf_counter``)."""
        if self._held or self._waiting:
            go = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (needed, next(self._order), go))
            try:
                await go
            except asyncio.CancelledError:
                if go.done() and not go.cancelled():  # handed the lane as it was cancelled: pass it on
                    self._release()
                raise
        else:
            self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            go = heapq.heappop(self._waiting)[2]
            if not go.done():  # (a cancelled waiter's future is done)
                go.set_result(None)
                return
        self._held = False


_LANES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Lane]" = weakref.WeakKeyDictionary()


def lane() -> Lane:
    """The lane of the running event loop: the sessions of a server share one loop and the CPU."""
    loop = asyncio.get_running_loop()
    if loop not in _LANES:
        _LANES[loop] = Lane()
    return _LANES[loop]
