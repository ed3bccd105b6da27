"""One question against a memory outside a live stream (``omnilive ask``, benchmarks, tests): a
session on that memory, the question typed into it, and what it answered read back. The judge,
the routing (stop, forget, watch, note, question), the grounding and the answer are those of a live
turn, because it is one. The memory is asked, not changed: the session keeps nothing of the
question or its answer (as after "stop remembering")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..backends.registry import Models
from ..config import Settings
from ..events import Event, Query
from ..memory.store import MemoryStore
from .session import Session

ASK_TIMEOUT_S = 300.0  # a question that has not ended by then is an error, not a hang


@dataclass(frozen=True, slots=True)
class Asked:
    respond: bool  # the instruction filter's verdict
    command: str | None  # "stop" for a stop request
    answer: str
    query: Query | None


async def ask(models: Models, settings: Settings, store: MemoryStore, question: str, *, keep: bool = False) -> Asked:
    """Type ``question`` into a session on ``store``; its answer once the turn has ended.
    ``keep``: the question and answer go into the memory's conversation log and heard memory."""
    session = Session(models, settings, name="ask", memory=store, live=False)
    session.set_remembering(keep)
    events: list[Event] = []
    ended = asyncio.Event()
    turn_id: int | None = None

    def watch(ev: Event) -> None:
        events.append(ev)
        if turn_id is not None and _ended(events, turn_id):
            ended.set()

    session.subscribe(watch)
    await session.start()
    try:
        # asked at the memory's end: "a minute ago", "the last 30 seconds" count back from there
        turn_id = await session.ask(question, speak=False, t=store.end - session.t_offset)
        if not _ended(events, turn_id):
            await asyncio.wait_for(ended.wait(), ASK_TIMEOUT_S)
    finally:
        await session.close()
    utt = next(e for e in events if e.type == "utterance" and e.turn_id == turn_id)
    answer = next((e for e in events if e.type == "answer" and e.turn_id == turn_id), None)
    query = next((e for e in events if e.type == "query" and e.turn_id == turn_id), None)
    return Asked(bool(utt.for_assistant), utt.command, answer.text if answer else "", query)


def _ended(events: list[Event], turn_id: int) -> bool:
    """Has the turn ended: answered, or judged as nothing to answer (a stop, background talk)?"""
    for e in events:
        if e.type == "utterance" and e.turn_id == turn_id and (e.command or not e.for_assistant):
            return True
        if e.type == "answer" and e.turn_id == turn_id:
            return True
        if e.type == "error" and e.stage == "reasoning":
            return True
    return False


def ask_memory(models: Models, settings: Settings, store: MemoryStore, question: str, *, keep: bool = False) -> Asked:
    """``ask`` for callers without an event loop."""
    return asyncio.run(ask(models, settings, store, question, keep=keep))
