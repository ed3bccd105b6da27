"""What the parts of a live session share: its models and settings, its stages (one thread each),
its memory, the stream clock, its counters and the one way out for events (``emit``).

``Session`` (runtime/session.py) builds one ``SessionContext`` and hands it to the parts named after
what they do: listening (runtime/listening.py), seeing (runtime/seeing.py), dispatching an
utterance (runtime/dispatch.py), speaking (runtime/speaking.py) and the turn controller
(runtime/control.py). None of them holds another's state; they call each other's small interfaces.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from ..backends.registry import Models
from ..config import Settings
from ..events import Event
from ..memory.store import MemoryStore
from ..reasoning.retrieve import Conversation
from .stage import Stage

STAGES = ("vad", "asr", "partial", "sound", "speaker", "judge", "retrieve", "vision", "memory", "llm", "tts")


@dataclass
class Counters:
    frames_seen: int = 0
    frames_sampled: int = 0
    frames_encoded: int = 0
    frames_corrupt: int = 0
    utterances: int = 0
    answers: int = 0
    interrupts: int = 0
    audio_dropped: int = 0
    early_asr_used: int = 0  # utterances whose transcript was started at the pause before their end
    early_asr_wasted: int = 0  # pauses after which the speaker went on
    stage_errors: int = 0  # exceptions a stage did not expect (reported, the stage went on)
    answers_paused: int = 0  # speech over an answer paused it
    answers_resumed: int = 0  # ... and was no interruption (noise, "mm-hm", background talk)
    echo_ignored: int = 0  # speech starts that were the answer's own voice in the mic
    partials: int = 0  # transcript_partial events


@dataclass
class SessionContext:
    name: str
    models: Models
    settings: Settings
    memory: MemoryStore
    t_offset: float  # where this session's stream time 0 lies on the memory's timeline
    emit: Callable[[Event], None]
    clock_origin: float | None = None  # the wall-clock time of memory time 0, when the memory knows it
    stages: dict[str, Stage] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    conversation: Conversation = field(default_factory=Conversation)  # the dialogue the LLM continues
    stream_t: float = 0.0  # latest stream time seen on any input
    loop: asyncio.AbstractEventLoop | None = None  # set when the session starts
    closing: bool = False
    speak_answers: bool = True  # spoken questions get spoken answers (the client may turn it off)
    answer_language: str | None = None  # None: the question's own; "en" / "zh" (the client's setting)
    remembering: bool = True  # False after "stop remembering": nothing seen or heard is kept
    _next_text_turn: int = 1_000_000  # typed questions and alerts get ids apart from spoken turns

    async def run(self, stage: str, fn: Callable, *args) -> Any:
        """``fn(*args)`` on ``stage``'s own thread."""
        return await self.stages[stage].run(fn, *args)

    def wall(self, memory_t: float) -> float | None:
        """The clock time of memory time ``memory_t`` ("at 14:05", "this morning"), when known."""
        return None if self.clock_origin is None else self.clock_origin + memory_t

    def text_turn(self) -> int:
        """A new turn id for a typed question or an alert."""
        self._next_text_turn += 1
        return self._next_text_turn
