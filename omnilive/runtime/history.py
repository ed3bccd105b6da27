"""The conversation log: each turn (what was heard, the reply, how it ended, what it was grounded
on) is written into the memory, so a reloaded page shows the conversation again and the next
session's LLM continues it instead of starting blank.

It listens to the session's events rather than being called from the answer path: the log can
never change what is answered, and a failing write is one log line, not a lost answer. Its writes
go to the session's memory thread (``submit``), in order, never onto the event loop.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from ..events import Answer, Event, Interrupt, Query, TurnEnded, Utterance
from ..memory.store import MemoryStore
from ..reasoning.sight import names_of

log = logging.getLogger(__name__)
# what a row's ``state`` says: answered, interrupted (talked over), stopped (a stop command),
# heard (background talk, not for the assistant), command (the stop itself)
STATES = ("answered", "interrupted", "stopped", "heard", "command")


@dataclass
class _Open:
    utterance: Utterance
    wall: float
    grounding: list[dict] = field(default_factory=list)
    language: str = ""


class TurnLog:
    """Subscribe to a session (``session.subscribe(TurnLog(...))``): rows go into ``store``'s log
    with times on the memory's timeline (``t_offset`` added to the session's stream times)."""

    def __init__(self, store: MemoryStore, t_offset: float,
                 submit: Callable[..., Any] = lambda fn, *args: fn(*args)) -> None:
        self._store, self._offset, self._submit = store, t_offset, submit
        self._open: dict[int, _Open] = {}
        # session turn id -> the row written, or its write still under way (a joined turn replaces it)
        self._rows: dict[int, int | Future] = {}
        self._states: dict[int, str] = {}  # session turn id -> the state its row says
        self.remembering = True  # False after "stop remembering": the conversation is not logged either

    def __call__(self, ev: Event) -> None:
        try:
            if isinstance(ev, Utterance):
                self._heard(ev)
            elif isinstance(ev, Query) and ev.kind == "privacy":  # "forget ...", "stop remembering": not logged
                self._open.pop(ev.turn_id, None)
            elif isinstance(ev, Query) and ev.turn_id in self._open:
                turn = self._open[ev.turn_id]
                turn.language = ev.language
                turn.grounding = [{"start": c.start, "end": c.end, "label": (names_of(c) or [""])[0]}
                                  for c in ev.clips[:3]]
                turn.grounding += [{"start": h.start, "end": h.end, "kind": h.kind, "text": h.text} for h in ev.heard[:3]]
            elif isinstance(ev, Answer) and ev.turn_id in self._open:  # written: a page reloading now shows it
                turn = self._open.pop(ev.turn_id)
                self._write(turn, ev.text, "interrupted" if ev.interrupted else "answered")
            elif isinstance(ev, TurnEnded) and ev.turn_id in self._rows:  # how it ended: cut while it played?
                self._set_state(ev.turn_id, ev.state)
            elif isinstance(ev, Interrupt) and ev.cancelled_turn in self._rows and ev.reason == "speech":
                self._set_state(ev.cancelled_turn, "interrupted")  # a stop the speaker went on with: a question cut it
        except Exception:  # the log must never take the session down
            log.exception("could not log turn")

    def _set_state(self, turn_id: int, state: str) -> None:
        if self._states.get(turn_id) == state:
            return
        self._states[turn_id] = state
        row = self._rows[turn_id]
        self._submit(lambda: self._store.db.set_turn_state(_row_id(row), state))

    def _heard(self, utt: Utterance) -> None:
        if utt.joins is not None:  # the speaker went on: this utterance replaces the earlier one
            self._open.pop(utt.joins, None)
            row = self._rows.pop(utt.joins, None)
            self._states.pop(utt.joins, None)
            if row is not None:
                self._submit(lambda: self._store.unlog_turn(_row_id(row)))
        turn = _Open(utt, time.time(), language=utt.language)
        if utt.for_assistant and not utt.command:
            self._open[utt.turn_id] = turn  # written when its answer is
        else:
            self._write(turn, "", "command" if utt.command else "heard")

    def _write(self, turn: _Open, answer: str, state: str) -> None:
        if not self.remembering:
            return
        u = turn.utterance
        self._states[u.turn_id] = state
        self._rows[u.turn_id] = self._submit(self._store.log_turn, {
            "start": u.start + self._offset, "end": u.end + self._offset, "wall": turn.wall, "heard": u.text,
            "language": turn.language or u.language, "source": u.source, "for_assistant": u.for_assistant,
            "answer": answer, "state": state, "grounding": turn.grounding})


def _row_id(row: int | Future) -> int:
    """On the memory thread: the row's id (its write, submitted before, has run: one thread, in order)."""
    return row.result() if isinstance(row, Future) else row
