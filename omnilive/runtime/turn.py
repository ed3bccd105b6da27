"""One handle per turn: what an interrupt does, in one place.

A turn is made when the user starts speaking (or a question is typed) and lives until its answer
has been played or it is interrupted. Compare LiveKit Agents' ``SpeechHandle``: the turn owns its
id, the memory snapshot taken when the user started speaking, what its search looked for, the
events that stop its LLM and drop its data, the answer task, when its audio will have finished
playing at the client, and which sentences the user heard before an interrupt (they go into history).

Speech over an answer first *pauses* it (``Turn.pause``: the client holds its audio); once that
speech is understood, ``interrupts(utterance)`` says whether it cuts the answer (a question, a
stop) or lets it resume (a cough, "mm-hm", talk not meant for the assistant); the speaker going on
with a turn that was ended too early cuts the answer to its first half.

``Turn.interrupt(reason)`` is the only way to cancel one. Every stage checks ``turn.superseded``
before it does more work for a turn (ASR result, retrieval, queueing, emitting, speaking), so an
interrupted turn's data is never delivered late. ``Turns`` holds the live ones and decides what a
new speech start interrupts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from ..events import Utterance
from ..memory.store import Snapshot
from ..reasoning.intent import is_backchannel
from ..text import join_pieces, word_count

log = logging.getLogger(__name__)

MAX_PENDING = 16  # turns that started but never reached an answer (a cough the VAD cut short ...)


def interrupts(utt: Utterance, joined_text: str = "") -> bool:
    """Is speech over an answer meant to cut it? A stop, or something for the assistant that is more
    than "mm-hm"; noise (no words), backchannels and background talk are not. Speech that joined the
    turn before it (``joined_text``, what that turn was heard to say) must add words: a cough after
    a question leaves the question, and its answer, as they were."""
    if utt.joins is not None and word_count(utt.text) <= word_count(joined_text):
        return False
    return utt.command == "stop" or (utt.for_assistant and bool(utt.text) and not is_backchannel(utt.text))


@dataclass(eq=False)
class Turn:
    turn_id: int
    source: str = "speech"  # "speech" | "typed"
    snapshot: Snapshot | None = None
    started: float = field(default_factory=time.perf_counter)  # end of speech / arrival (latency clock)
    search_text: str = ""
    task: asyncio.Task | None = None  # the answer task, once the turn is being answered
    cancel: threading.Event = field(default_factory=threading.Event)  # interrupted: drop its data
    stop_llm: threading.Event = field(default_factory=threading.Event)  # its generation is not wanted
    playout_until: float = 0.0  # monotonic time its audio sent so far ends at the client
    sent: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time it starts playing, sentence)
    interrupted_at: float | None = None
    paused_at: float | None = None  # monotonic time its playback was paused, while it is
    reason: str | None = None  # why it was interrupted
    finished: bool = False  # its Answer event went out (history and metrics written once)
    answer: str = ""  # its whole answer text, once finished

    @property
    def superseded(self) -> bool:
        return self.cancel.is_set()

    @property
    def playing(self) -> bool:
        return self.paused_at is not None or time.monotonic() < self.playout_until

    def pause(self) -> bool:
        """The client holds this answer's audio (speech over it, not yet understood). True if it
        was playing and is now paused."""
        if self.paused_at is not None or self.superseded:
            return False
        self.paused_at = time.monotonic()
        return True

    def resume(self) -> float | None:
        """Playback goes on where it stopped: what was still to play is heard that much later.
        Returns how long it was held (None if it was not paused)."""
        if self.paused_at is None or self.superseded:
            return None
        held = time.monotonic() - self.paused_at
        self.sent = [(start + held if start >= self.paused_at else start, text) for start, text in self.sent]
        if self.playout_until > self.paused_at:
            self.playout_until += held
        self.paused_at = None
        return held

    def interrupt(self, reason: str) -> bool:
        """Stop this turn: its LLM stops after the current token, its answer task is cancelled, and
        any of its data still on the way is dropped. True if it was still live."""
        if self.cancel.is_set():
            return False
        self.reason = reason
        self.interrupted_at = self.paused_at if self.paused_at is not None else time.monotonic()
        self.cancel.set()
        self.stop_llm.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        return True

    def sent_audio(self, seconds: float, text: str) -> None:
        """An answer sentence went out: the client plays it after what it already has (after the
        pause, while paused)."""
        start = max(self.playout_until, self.paused_at if self.paused_at is not None else time.monotonic())
        self.sent.append((start, text))
        self.playout_until = start + seconds

    def heard(self, until: float | None = None) -> str:
        """The sentences the user heard (at least began to hear) before the interrupt, or before
        monotonic time ``until``."""
        if until is None:
            until = self.interrupted_at if self.interrupted_at is not None else float("inf")
        return join_pieces(text for start, text in self.sent if start < until)


class Turns:
    """The session's live turns: the one being answered (or still playing), and those still in
    ASR, the filter or retrieval."""

    def __init__(self) -> None:
        self._live: dict[int, Turn] = {}
        self.answering: Turn | None = None

    def open(self, turn_id: int, **kw) -> Turn:
        turn = self._live.get(turn_id)
        if turn is None:
            turn = self._live[turn_id] = Turn(turn_id, **kw)
            for old in list(self._live)[:-MAX_PENDING]:
                self.close(old)
        return turn

    def get(self, turn_id: int) -> Turn | None:
        """A live turn, or the one whose answer is still playing (closed once it was written)."""
        turn = self._live.get(turn_id)
        if turn is None and self.answering is not None and self.answering.turn_id == turn_id:
            return self.answering
        return turn

    def close(self, turn_id: int) -> None:
        """The turn is over (answered, or never became a question): forget it."""
        turn = self._live.pop(turn_id, None)
        if turn is not None and self.answering is turn and not turn.playing:
            self.answering = None

    def speaking(self) -> Turn | None:
        """The turn whose answer is being generated or still heard at the client."""
        t = self.answering
        if t is not None and not t.superseded and ((t.task is not None and not t.task.done()) or t.playing):
            return t
        return None

    def opened_after(self, turn_id: int) -> set[int]:
        """The live turns opened after turn ``turn_id`` (speech that began after it)."""
        ids = list(self._live)
        return set(ids[ids.index(turn_id) + 1:]) if turn_id in self._live else set()

    def interrupt(self, reason: str, keep: Collection[int] = ()) -> int | None:
        """Interrupt the answer being given (or played) and every question still on its way,
        except the turns in ``keep`` (the one just starting). Returns the id of the answer cut, if any."""
        cut = self.speaking()
        cancelled = cut.turn_id if cut is not None and cut.interrupt(reason) else None
        for turn in list(self._live.values()):  # kept (superseded) until their stage closes them
            if turn.turn_id not in keep and turn is not self.answering and turn.interrupt(reason):
                log.info("turn %d interrupted before its answer (%s)", turn.turn_id, reason)
        if self.answering is not None and (self.answering.superseded or not self.answering.playing):
            if self.answering.task is None or self.answering.task.done():
                self.answering = None
        return cancelled
