"""One live session: perception, memory and reasoning running concurrently (IXC2.5-OL).

``Session`` wires the parts, each named after what it does, and runs their lifecycle:

    audio ─▶ Listening (VAD, echo, partials, ASR, sound tags) ─▶ Utterance
                 │  speech start ─▶ TurnControl.hold (+ memory snapshot)
                 └─ Utterance ─▶ TurnControl.settle (interrupt or resume) ─▶ Dispatcher (stop / note /
                                 privacy / watch / question) ─▶ Speaking (LLM, sentences, TTS) ─▶ client
    video ─▶ Seeing (1 fps, encoder, clips, OCR) ─▶ memory store

Each worker is an asyncio task, supervised: an exception it did not expect is reported as an
``error`` event and the worker goes on with its next input, so a session is never silently deaf.
Model calls run on each stage's own one-thread executor (runtime/stage.py), so a slow LLM never
delays VAD or frame encoding, and no stage runs two inferences at once on a small CPU. What an
interrupt does is in runtime/control.py; a turn's handle in runtime/turn.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import numpy as np

from ..backends.registry import Models
from ..config import Settings
from ..events import (
    SAMPLE_RATE, Alert, AnswerAudio, AnswerDelta, ClipMemory, ErrorEvent, Event, HeardItem, MemoryState, Query,
    Summary, TranscriptPartial, TurnEnded, Watches,
)
from ..memory.store import MemoryStore, Snapshot
from ..perception.vad import SpeechDetector
from ..reasoning.retrieve import HISTORY_TURNS
from ..reasoning.watch import WatchRequest
from .context import STAGES, SessionContext
from .control import TurnControl
from .dispatch import Dispatcher
from .hearing import Hearing
from .history import TurnLog
from .listening import Listening
from .seeing import Seeing
from .speaking import Speaking
from .stage import Stage, StageMetrics
from .watching import Watch, Watcher, alert_said

log = logging.getLogger(__name__)


class Session:
    def __init__(self, models: Models, settings: Settings, name: str = "session",
                 memory: MemoryStore | None = None, live: bool = True) -> None:
        """``live``: a stream happening now (its memory's clock follows the wall clock), not a
        question put to a memory afterwards (runtime/asking.py)."""
        self.models, self.settings, self.name = models, settings, name
        self.started_at = time.monotonic()  # (per-second costs in /metrics)
        memory = memory if memory is not None else MemoryStore(models.visual.dim, settings.memory, encoder=models.visual)
        memory.speakers.same = settings.speaker.same
        # a reopened memory continues its timeline: this session's stream time 0 is "now" on it
        ctx = self.ctx = SessionContext(name=name, models=models, settings=settings, memory=memory,
                                        t_offset=memory.resume_at(live=live), emit=self._emit)
        ctx.stages = {s: Stage(f"{name}-{s}", self._stage_failed) for s in STAGES}
        ctx.conversation.restore(memory.turns(limit=2 * HISTORY_TURNS))  # the last visit's dialogue
        self._subscribers: list[Callable[[Event], Any]] = []
        self._tasks: list[asyncio.Task] = []
        if live:  # memory time 0, as wall clock
            ctx.clock_origin = time.time() - ctx.t_offset
            memory.db.set_meta(clock_origin=ctx.clock_origin)
        else:
            ctx.clock_origin = memory.db.meta().get("clock_origin")
        self._turn_log = TurnLog(memory, ctx.t_offset, self._on_memory_thread)
        self.subscribe(self._turn_log)
        memory.heard.use(models.text_embedding)
        detector = SpeechDetector(models.vad.stream(), settings.vad, end_of_turn=models.turn, turn_cfg=settings.turn)
        self._hearing = Hearing(memory, models.sound_events, ctx.stages, self._emit, ctx.t_offset, name)
        self._watcher = Watcher(memory, models.visual, self._on_alert, changed=self._watches_changed)
        self.control = TurnControl(ctx, detector)
        self.seeing = Seeing(ctx, self._watcher)
        self.speaking = Speaking(ctx, self.control)
        self.dispatch = Dispatcher(ctx, self.control, self.seeing, self.speaking, self._hearing, self._watcher,
                                   self.set_remembering, self._stage_failed)
        self.listening = Listening(ctx, detector, self.control, self.dispatch, self.seeing, self._hearing)
        self.subscribe(self._watch_event)
        self.subscribe(self._turn_ended)
        self.subscribe(self._words_so_far)

    # ---- what the server and the CLI read and set ----------------------------------------------

    memory = property(lambda self: self.ctx.memory)
    counters = property(lambda self: self.ctx.counters)
    t_offset = property(lambda self: self.ctx.t_offset, doc="Where stream time 0 lies on the memory's timeline.")
    stream_t = property(lambda self: self.ctx.stream_t, doc="The latest stream time seen on any input.")
    frames_dropped = property(lambda self: self.seeing.frames_dropped)
    remembering = property(lambda self: self.ctx.remembering)

    @property
    def speak_answers(self) -> bool:
        return self.ctx.speak_answers

    @speak_answers.setter
    def speak_answers(self, on: bool) -> None:
        self.ctx.speak_answers = on

    @property
    def answer_language(self) -> str | None:
        return self.ctx.answer_language

    @answer_language.setter
    def answer_language(self, language: str | None) -> None:
        self.ctx.answer_language = language

    @property
    def stage_metrics(self) -> dict[str, StageMetrics]:
        """Calls and busy seconds of each stage (the server adds them to /metrics)."""
        return {name: stage.metrics for name, stage in self.ctx.stages.items()}

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> "Session":
        self.ctx.loop = asyncio.get_running_loop()
        self.speaking.prime_llm()
        workers = {"vad": self.listening.vad_worker, "asr": self.listening.asr_worker,
                   "vision": self.seeing.vision_worker, "memory": self.seeing.memory_worker,
                   "llm": self.speaking.worker}
        self._tasks = [asyncio.create_task(self.ctx.stages[stage].supervise(fn), name=f"{self.name}-{stage}")
                       for stage, fn in workers.items()]
        return self

    def _stage_failed(self, stage: str, exc: Exception) -> None:
        """A stage's loop hit an exception it did not expect (runtime/stage.py): report it."""
        self.ctx.counters.stage_errors += 1
        self._emit(ErrorEvent(stage=stage.removeprefix(f"{self.name}-"), message=f"{type(exc).__name__}: {exc}"))

    async def finish(self) -> Summary:
        """End of input: drain every stage in order, let the last answer finish, then stop."""
        await self.listening.end()
        self.seeing.end()
        await asyncio.gather(*self._tasks[:4])
        await self.speaking.end()
        await self._tasks[4]
        self.control.end_all(heard=True)  # (no client plays a replay's answers: each was said)
        await self._hearing.drain()  # heard items kept and shown before the summary
        return self._summary()

    async def close(self) -> None:
        """Stop now (client gone, shutdown): cancel the answer and every stage, and keep what was
        seen: clips waiting for OCR and the clip being built go into memory as they are."""
        self.ctx.closing = True
        self.control.end_all(heard=False)  # answers still playing end as far as the client heard them (and are kept)
        self._hearing.closing = True
        self.control.turns.interrupt("close")
        for t in self._tasks:
            t.cancel()
        # (always: heard items submitted before it are written first, while the memory is open)
        kept = self.seeing.keep_on_close()
        for stage in self.ctx.stages.values():
            stage.shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.shield(kept)

    def _on_memory_thread(self, fn: Callable, *args) -> Any:
        """``fn(*args)`` after every memory write queued before it; here and now once the session
        is closing (its memory thread is gone, and the last turn is still logged)."""
        try:
            fut = self.ctx.stages["memory"].submit(fn, *args)
        except RuntimeError:
            return fn(*args)
        fut.add_done_callback(self._write_failed)
        return fut

    def _write_failed(self, fut) -> None:
        """A write of the conversation log failed (a full disk): the client is told, as for a clip."""
        exc = None if fut.cancelled() else fut.exception()
        if exc is None:
            return
        log.warning("%s: a write to memory failed: %s", self.name, exc)
        try:
            self.ctx.loop.call_soon_threadsafe(self._emit, ErrorEvent(stage="memory", message=str(exc)))
        except (RuntimeError, AttributeError):  # the loop is gone (or never ran): the log has it
            pass

    def report_error(self, stage: str, message: str) -> None:
        """Tell the client about a failure outside the session's stages (e.g. its media source)."""
        log.warning("%s: %s: %s", self.name, stage, message)
        self._emit(ErrorEvent(stage=stage, message=message))

    def subscribe(self, callback: Callable[[Event], Any]) -> None:
        """``callback(event)`` runs on the event loop for every event the session emits."""
        self._subscribers.append(callback)

    def _emit(self, event: Event) -> None:
        if not event.is_system and isinstance(event, (AnswerDelta, AnswerAudio)):
            turn = self.control.turns.answering
            if turn is None or turn.turn_id != event.turn_id or turn.superseded:
                return  # data of an interrupted turn is dropped, never delivered late
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:  # a broken consumer must not break the session
                log.exception("event subscriber failed on %s", event.type)

    # ---- inputs --------------------------------------------------------------------------------

    async def put_audio(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue audio at any rate; waits when VAD or ASR is behind (a file reader loses nothing)."""
        await self.listening.put(t, samples, sample_rate)

    def offer_audio(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bool:
        """Live audio: never blocks; dropped (and counted) when the VAD queue is full."""
        return self.listening.offer(t, samples, sample_rate)

    def offer_frame(self, t: float, image: np.ndarray) -> bool:
        """A camera frame: sampled by stream time, validated, queued for the encoder."""
        return self.seeing.offer(t, image)

    def wants_frame(self, t: float) -> bool:
        """Would a frame at stream time ``t`` be sampled? Lets a caller skip decoding the others."""
        return self.seeing.wants(t)

    def skip_frame(self, t: float) -> None:
        self.seeing.skip(t)

    def snapshot(self, t: float) -> Snapshot:
        """Memory as of stream time ``t`` (stored clips, sealed ones and the one being built)."""
        return self.seeing.snapshot(t)

    async def ask(self, text: str, *, speak: bool = True, t: float | None = None) -> int:
        """A typed question: judged like speech, grounded on memory as it is now; it interrupts any
        answer in flight. Returns its turn id."""
        return await self.dispatch.ask(text, speak=speak, t=t)

    def stop(self) -> None:
        """The user asked the assistant to stop talking (a "stop" command or the page's button)."""
        self.control.stop()

    async def forget(self, start: float, end: float, about: str = "") -> dict[str, int]:
        """Forget [start, end] (memory seconds) or what was said ``about`` something: the one way
        in for every entry point, so a live session forgets what it holds too (runtime/dispatch.py)."""
        return await self.dispatch.forget(start, end, about)

    def set_remembering(self, on: bool) -> None:
        """Keep what is seen and heard (True), or perceive and answer but keep nothing (False)."""
        self.ctx.remembering = self._hearing.remembering = on
        self._turn_log.remembering = on
        self._emit(MemoryState(remembering=on))

    # ---- watches -------------------------------------------------------------------------------

    def watch(self, req: WatchRequest, t: float | None = None) -> None:
        """Start a watch before the stream does (``omnilive replay --watch``)."""
        self._watcher.add(req, self.ctx.stream_t + self.ctx.t_offset if t is None else t)

    async def unwatch(self, watch_id: int) -> bool:
        """Cancel one watch by its id (the page's cancel button)."""
        return await self.ctx.run("memory", self._watcher.cancel_id, watch_id)

    def watches(self) -> Watches:
        return Watches(items=tuple({"watch_id": w.watch_id, "kind": w.kind, "thing": w.thing, "said": w.said,
                                    "expires": w.expires} for w in self._watcher.watches))

    def _watches_changed(self) -> None:
        """From the memory thread or the loop: the page hears of it on the loop, in order."""
        if self.ctx.loop is None:
            self._emit(self.watches())
        else:
            self.ctx.loop.call_soon_threadsafe(lambda: self._emit(self.watches()))

    def _watch_event(self, ev: Event) -> None:
        """Heard items and stored clips (their OCR text) go past the watches too."""
        if isinstance(ev, HeardItem):
            self._watcher.heard(ev)
        elif isinstance(ev, ClipMemory):
            self._watcher.clip(ev)

    def _on_alert(self, alert: Alert, w: Watch) -> None:
        """A watch matched: tell the client, and say it (an answer of its own turn, held like any
        answer while the user is talking)."""
        self._emit(alert)
        turn = self.control.turns.open(self.ctx.text_turn(), source="alert")
        query = Query(turn_id=turn.turn_id, t=alert.t, text=f"(watching for {w.thing})", speak=self.ctx.speak_answers,
                      kind="alert", facts=alert_said(alert, w))
        self._emit(query)
        if not self.speaking.offer(query, turn):
            log.warning("%s: alert for %s not spoken: answers are backed up", self.name, w.thing)
            self.control.turns.close(turn.turn_id)

    def _turn_ended(self, ev: Event) -> None:
        """A turn is over: what the user heard of its answer goes into heard memory and the LLM's
        conversation (the conversation log writes its row: runtime/history.py)."""
        if not isinstance(ev, TurnEnded) or ev.query is None or not ev.said:
            return
        q = ev.query
        self._hearing.answer(q, ev.said, self.ctx.stream_t + self.ctx.t_offset)
        self.ctx.conversation.remember(q.text, ev.said, q.kind, ev.search_text or q.text, q.clips, self.ctx.stream_t)
        self.speaking.prime_llm()

    def _words_so_far(self, ev: Event) -> None:
        """A question's words while it is being said go to the LLM now, when it is free (a chat
        question's first token then waits for its last words, not all of them). A guess: talk not
        for the assistant, words the final transcript changes or a question answered from the facts
        cost that evaluation (~0.1 s of the LLM's thread for a short question); four sessions
        answered memory questions as fast with it as when only a session alone made it
        (bench/load_bench.py: 0.73-0.83 vs 0.77-0.85 s)."""
        if isinstance(ev, TranscriptPartial):  # (sent only while its speech goes on)
            self.speaking.prime_llm(then=ev.text)

    def _summary(self) -> Summary:
        c = self.ctx.counters
        return Summary(duration_s=self.ctx.stream_t, frames_seen=c.frames_seen, frames_sampled=c.frames_sampled,
                       frames_encoded=c.frames_encoded, frames_dropped=self.seeing.frames_dropped,
                       frames_corrupt=c.frames_corrupt, clips=len(self.ctx.memory), utterances=c.utterances,
                       answers=c.answers, interrupts=c.interrupts)
