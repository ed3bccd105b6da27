"""One live session: perception, memory and reasoning running concurrently (IXC2.5-OL).

    audio ─▶ [audio_q] ─▶ VAD ──speech start──▶ pause the answer + memory snapshot   (system, at once)
                            │   (not when it is the answer's own voice: runtime/echo.py)
                            ├──while speaking──▶ partial transcripts
                            └──speech end──▶ [utterance_q] ─▶ ASR + sound tags ─▶ Utterance
                                                                  ├─▶ interrupt, or resume the answer
                                                                  └─▶ [query_q] ─▶ answer task
    video ─▶ sampler (1 fps) ─▶ [frame_q, drop-oldest] ─▶ encoder ─▶ clip builder ─▶ memory
    answer task: ground on snapshot ─▶ LLM stream ─▶ sentences ─▶ TTS ─▶ AnswerAudio

Each stage is an asyncio task, supervised: an exception it did not expect is reported as an
``error`` event and the stage goes on with its next input, so a session is never silently deaf.
Its model calls run on the stage's own one-thread executor, so a slow LLM or a long sound-tagging
pass never delays VAD or frame encoding (onnxruntime, CTranslate2, torch and llama.cpp release the
GIL while they compute), and no stage can run two inferences at once and oversubscribe the CPU.

Turn rules live in ``runtime/turn.py``: every turn has a ``Turn`` handle, and an interrupt is
``Turns.interrupt`` there; this module only wires stages to turns. Speech over an answer pauses it
(``_hold``); once that speech is understood, ``_settle`` interrupts the answer (a question, a stop,
the speaker going on with a turn ended too early) or resumes it (noise, a backchannel, background talk).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..backends.base import ASRResult, ChatMessage
from ..backends.llm import LLMError
from ..backends.registry import Models
from ..config import Settings
from ..dsp import StreamResampler, float_to_pcm16, resample, to_mono_float
from ..events import (
    SAMPLE_RATE, Alert, Answer, AnswerAudio, AnswerDelta, AnswerPaused, AnswerResumed, AudioChunk, ClipMemory, ErrorEvent,
    Event, Frame, HeardItem, Interrupt, MemoryForgotten, MemorySnapshot, MemoryState, Notice, Query, SoundTag, SpeechEnded, SpeechPaused, SpeechStarted, Summary,
    TranscriptPartial, Utterance, Watches,
)
from ..memory.clips import ClipBuilder, Sealed, add_encoded, fit, with_text
from ..memory.store import MemoryStore, Snapshot
from ..perception.vad import SpeechDetector
from ..perception.video import FrameSampler, validate_frame
from ..reasoning.answer import SYSTEM
from ..reasoning.heard import confirm_note, note_of, to_you
from ..reasoning.privacy import forget_request, forget_said, pause_request, pause_said
from ..reasoning.watch import WatchRequest, cancel_request, list_request, renamed, watch_request
from ..reasoning.understand import english_name
from ..reasoning.intent import InstructionFilter, is_stop_command, language_of
from ..reasoning.respond import answer_sentences, facts_first
from ..reasoning.retrieve import HISTORY_TURNS, Conversation, ground_question
from ..text import has_cjk
from .echo import EchoReference
from .hearing import Hearing
from .history import TurnLog
from .watching import Watcher, alert_said, for_next, watches_said
from .queues import DropOldestQueue
from .stage import Stage, StageMetrics
from .turn import Turn, Turns, interrupts

log = logging.getLogger(__name__)

STAGES = ("vad", "asr", "partial", "sound", "judge", "retrieve", "vision", "memory", "llm", "tts")
SEALED_QUEUE = 8  # clips waiting for OCR and the store
KEY_FRAME_SIDE = 640  # frames are kept at most this large on arrival (a clip holds all of its frames)
ECHO_RECHECK_S = 0.25  # while speech is taken for echo, look again this often (a voice may join it)
ECHO_WINDOW_S = 0.6  # mic audio compared with the answer at a recheck
PARTIAL_MIN_S = 1.2  # a shorter question is over before its partial could show (and it would slow the final)
PARTIAL_MAX_S = 15.0  # no partial transcripts beyond this much speech (each pass reads it all)


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


class Session:
    def __init__(self, models: Models, settings: Settings, name: str = "session",
                 memory: MemoryStore | None = None) -> None:
        self.models = models
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self.name = name
        rt = settings.runtime
        self.counters = Counters()
        self.memory = memory if memory is not None else MemoryStore(models.visual.dim, settings.memory, encoder=models.visual)
        # a reopened memory continues its timeline: this session's stream time 0 is "now" on it
        self._t_offset = self.memory.resume_at(live=True)
        self._clips = ClipBuilder(settings.memory, first_id=self.memory.next_clip_id)
        self._sealed_q: asyncio.Queue[Sealed | None] = asyncio.Queue(SEALED_QUEUE)
        self._unstored: list[ClipMemory] = []  # sealed, waiting for OCR / the store: snapshots see them
        self._detector = SpeechDetector(models.vad.stream(), settings.vad, end_of_turn=models.turn, turn_cfg=settings.turn)
        self._sampler = FrameSampler(rt.video_fps)
        self._audio_q: asyncio.Queue[AudioChunk | None] = asyncio.Queue(rt.audio_queue)
        self._frame_q: DropOldestQueue[Frame | None] = DropOldestQueue(rt.frame_queue, f"{name}/frames")
        # (utterance, wall-clock time its end was detected): the latter feeds latency metrics
        self._utt_q: asyncio.Queue[tuple[SpeechEnded, float] | None] = asyncio.Queue(rt.utterance_queue)
        self._early: dict[int, tuple[int, asyncio.Task]] = {}  # turn -> (samples, ASR started at a pause)
        self._query_q: asyncio.Queue[tuple[Query, Turn] | None] = asyncio.Queue(rt.utterance_queue)
        self._stages = {s: Stage(f"{name}-{s}", self._stage_failed) for s in STAGES}
        self._subscribers: list[Callable[[Event], Any]] = []
        self._turns = Turns()
        self._conversation = Conversation()
        self._conversation.restore(self.memory.turns(limit=2 * HISTORY_TURNS))  # the last visit's dialogue
        self._turn_log: TurnLog | None = None
        if self.memory.db is not None:
            self.memory.db.set_meta(clock_origin=time.time() - self._t_offset)  # memory time 0, as wall clock
            self._turn_log = TurnLog(self.memory, self._t_offset)
            self.subscribe(self._turn_log)
        self._filter = InstructionFilter(models.text_embedding, rt.respond, models.llm)
        self._next_text_turn = 1_000_000  # typed questions get ids apart from spoken turns
        self._tasks: list[asyncio.Task] = []
        self._stream_t = 0.0  # latest stream time seen on any input
        self._resampler: StreamResampler | None = None
        self._closing = False
        self._from_file = False  # fed by put_audio: ASR falling behind slows the reader, drops nothing
        self.speak_answers = True  # spoken questions get spoken answers (the client may turn it off)
        self.answer_language: str | None = None  # None: the question's own; "en" / "zh" (the client's setting)
        self.remembering = True  # False after "stop remembering": nothing seen or heard is kept
        self._echo = EchoReference()
        self._echo_turn: int | None = None  # speech taken for the answer's own voice, while it lasts
        self._echo_checked = 0.0
        self._held_by: int | None = None  # the speech an answer is paused for, until it is understood
        # (turn, what was heard): no interruption, but that turn ended moments ago and the speaker
        # may still go on with it (which may yet interrupt): resume once they cannot
        self._resume_after: tuple[int, str] | None = None
        self._heard_last: tuple[int, str] = (0, "")  # the last utterance: one that joins it must add words
        self._partial: asyncio.Future | None = None
        self._partial_at = 0.0
        self.memory.heard.use(models.text_embedding)
        self._hearing = Hearing(self.memory, models.sound_events, self._stages, self._emit, self._t_offset, name)
        self._watcher = Watcher(self.memory, models.visual, self._on_alert, changed=self._watches_changed)
        self.subscribe(self._watch_event)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> "Session":
        self._loop = asyncio.get_running_loop()
        self._prime_llm()
        workers = {"vad": self._vad_worker, "asr": self._asr_worker, "vision": self._vision_worker,
                   "memory": self._memory_worker, "llm": self._reasoning_worker}
        self._tasks = [asyncio.create_task(self._stages[stage].supervise(fn), name=f"{self.name}-{stage}")
                       for stage, fn in workers.items()]
        return self

    def _stage_failed(self, stage: str, exc: Exception) -> None:
        """A stage's loop hit an exception it did not expect (runtime/stage.py): report it."""
        self.counters.stage_errors += 1
        self._emit(ErrorEvent(stage=stage.removeprefix(f"{self.name}-"), message=f"{type(exc).__name__}: {exc}"))

    @property
    def stage_metrics(self) -> dict[str, StageMetrics]:
        """Calls and busy seconds of each stage (the server adds them to /metrics)."""
        return {name: stage.metrics for name, stage in self._stages.items()}

    async def finish(self) -> Summary:
        """End of input: drain every stage in order, let the last answer finish, then stop."""
        await self._audio_q.put(None)
        self._frame_q.put(None)
        await asyncio.gather(*self._tasks[:4])
        await self._query_q.put(None)
        await self._tasks[4]
        await self._hearing.drain()  # heard items kept and shown before the summary
        return self._summary()

    @property
    def t_offset(self) -> float:
        """Where this session's stream time 0 lies on the memory's timeline."""
        return self._t_offset

    @property
    def frames_dropped(self) -> int:
        return self._frame_q.dropped

    async def close(self) -> None:
        """Stop now (client gone, shutdown): cancel the answer and every stage, and keep what was
        seen: clips waiting for OCR and the clip being built go into memory as they are."""
        self._closing = True
        self._hearing.closing = True
        self._turns.interrupt("close")
        for t in self._tasks:
            t.cancel()
        # nothing is awaited before the last clips are handed to the memory thread: close() may
        # itself be running in a task that is being cancelled (a server shutting down)
        last = self._clips.flush(end=self._stream_t + self._t_offset)
        keep = self._unstored + ([last.clip] if last is not None else [])
        self._unstored = []

        def store_all() -> None:  # on the memory thread, after any store it is still finishing
            for clip in keep:
                if clip.clip_id < self.memory.next_clip_id:
                    continue  # the memory worker stored it while close() was starting
                try:
                    self.memory.add(clip)
                except Exception:
                    log.exception("%s: could not keep clip %d", self.name, clip.clip_id)

        # (always: heard items submitted before it are written first, while the memory is open)
        kept = self._stages["memory"].submit(store_all)
        for stage in self._stages.values():
            stage.shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.shield(asyncio.wrap_future(kept))

    def _prime_llm(self) -> None:
        """Evaluate the system prompt and the conversation so far on the LLM thread now, between
        turns, so the next turn's prompt only adds its question (llama.cpp's prefix reuse)."""
        prime = getattr(self.models.llm, "prime", None)
        if prime is not None and not self._closing:
            self._stages["llm"].submit(prime, [ChatMessage("system", SYSTEM), *self._conversation.history])

    def report_error(self, stage: str, message: str) -> None:
        """Tell the client about a failure outside the session's stages (e.g. its media source)."""
        log.warning("%s: %s: %s", self.name, stage, message)
        self._emit(ErrorEvent(stage=stage, message=message))

    def subscribe(self, callback: Callable[[Event], Any]) -> None:
        """``callback(event)`` runs on the event loop for every event the session emits."""
        self._subscribers.append(callback)

    def _emit(self, event: Event) -> None:
        if not event.is_system and isinstance(event, (AnswerDelta, AnswerAudio)):
            turn = self._turns.answering
            if turn is None or turn.turn_id != event.turn_id or turn.superseded:
                return  # data of an interrupted turn is dropped, never delivered late
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:  # a broken consumer must not break the session
                log.exception("event subscriber failed on %s", event.type)

    async def _run(self, stage: str, fn: Callable, *args) -> Any:
        return await self._stages[stage].run(fn, *args)

    # ---- inputs --------------------------------------------------------------------------------

    def _chunk(self, t: float, samples: np.ndarray, sample_rate: int) -> AudioChunk:
        """Validate and bring to 16 kHz mono (raises AudioFormatError saying what is wrong)."""
        x = to_mono_float(samples, sample_rate)
        if self._resampler is None or self._resampler.src_rate != sample_rate:
            self._resampler = StreamResampler(sample_rate, SAMPLE_RATE)
        return AudioChunk(t=t, samples=self._resampler(x))

    async def put_audio(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue audio at any rate; waits when VAD (or, behind it, ASR) is behind: backpressure to
        a file reader, which loses no utterance however fast it reads."""
        self._from_file = True
        await self._audio_q.put(self._chunk(t, samples, sample_rate))

    def offer_audio(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bool:
        """Live variant of put_audio: never blocks; drops (and counts) when the VAD queue is full."""
        try:
            chunk = self._chunk(t, samples, sample_rate)
            self._echo.mic_arrived(chunk.t + chunk.duration, time.monotonic())
            self._audio_q.put_nowait(chunk)
            return True
        except asyncio.QueueFull:
            self.counters.audio_dropped += 1
            return False

    def offer_frame(self, t: float, image: np.ndarray) -> bool:
        """Sample by stream time, validate, enqueue for the encoder (dropping the oldest if behind)."""
        self.counters.frames_seen += 1
        self._stream_t = max(self._stream_t, t)
        if not self._sampler.keep(t):
            return False
        try:
            image = validate_frame(image)
        except ValueError as exc:
            self.counters.frames_corrupt += 1
            log.warning("%s: dropping frame at %.2fs: %s", self.name, t, exc)
            return False
        self.counters.frames_sampled += 1
        self._frame_q.put(Frame(t=t, image=image))
        return True

    def wants_frame(self, t: float) -> bool:
        """Would a frame at stream time ``t`` be sampled? Lets a caller skip decoding the others."""
        return self._sampler.would_keep(t)

    def skip_frame(self, t: float) -> None:
        """A frame that was not sampled (and so never decoded): counted, nothing more."""
        self.counters.frames_seen += 1
        self._stream_t = max(self._stream_t, t)

    async def ask(self, text: str, *, speak: bool = True, t: float | None = None) -> int:
        """A typed question: judged by the instruction filter like speech (typed chatter is shown,
        not answered), grounded on memory as it is now; interrupts any answer in flight."""
        self._next_text_turn += 1
        turn_id = self._next_text_turn
        t = self._stream_t if t is None else t
        self._interrupt(t, "cancel", keep=turn_id)
        turn = self._turns.open(turn_id, source="typed", snapshot=self._snapshot(t))
        try:
            utt = await self._judge(Utterance(turn_id=turn_id, start=t, end=t, text=text.strip(),
                                              language=language_of(text), source="typed"))
            self._emit(utt)
            self._hearing.utterance(utt)
            await self._route(utt, turn, speak)
        except Exception as exc:  # a failing stage costs this question, never the session
            log.exception("%s: typed question %d failed", self.name, turn_id)
            self._turns.close(turn_id)
            self._stage_failed("reasoning", exc)
        return turn_id

    def stop(self) -> None:
        """The user asked the assistant to stop talking (a "stop" command or the page's button)."""
        self._interrupt(self._stream_t, "command")

    def _interrupt(self, t: float, reason: str, keep: int | None = None) -> None:
        """The one entry to interrupts: cut the answer being given or played and drop every
        question still on its way (runtime/turn.py), then tell the client."""
        cut = self._turns.speaking()
        cancelled = self._turns.interrupt(reason, keep=keep)
        self.counters.interrupts += cancelled is not None
        self._resume_after = None  # nothing held is left to play on
        if cancelled is not None:
            self._echo.clear()  # the client drops what it had queued
        if cut is not None and cancelled == cut.turn_id and cut.finished:  # generated, but heard only in part
            self._conversation.cut_short(cut.answer, cut.heard())
        self._emit(Interrupt(t=t, reason=reason, cancelled_turn=cancelled))

    # ---- perception: audio ---------------------------------------------------------------------

    async def _vad_worker(self) -> None:
        while (chunk := await self._audio_q.get()) is not None:
            self._stream_t = max(self._stream_t, chunk.t + chunk.duration)
            try:
                events = await self._run("vad", self._detector.feed, chunk.t, chunk.samples)
            except Exception as exc:
                log.exception("VAD failed on chunk at %.2fs", chunk.t)
                self._emit(ErrorEvent(stage="vad", message=str(exc)))
                continue
            for ev in events:
                await self._on_vad_event(ev)
            self._while_speaking(chunk.t + chunk.duration)
            self._hearing.audio(chunk)
        for ev in self._detector.flush():
            await self._on_vad_event(ev)
        self._resume_if_due()
        await self._utt_q.put(None)

    async def _on_vad_event(self, ev: SpeechStarted | SpeechPaused | SpeechEnded) -> None:
        if ev.turn_id == self._echo_turn:  # the answer's own voice: no turn, no ASR
            if isinstance(ev, SpeechEnded):
                self._echo_turn = None
            return
        if not isinstance(ev, SpeechStarted):  # the answer's echo out of what ASR will read
            ev = dataclasses.replace(ev, samples=self._echo.cancel(ev.samples, ev.start + len(ev.samples) / SAMPLE_RATE))
        if isinstance(ev, SpeechPaused):
            self._hear_early(ev)
        elif isinstance(ev, SpeechStarted):
            if self._is_echo(ev.t):
                self.counters.echo_ignored += 1
                self._echo_turn = ev.turn_id
                log.info("%s: speech at %.2fs is the answer's own voice; not an interruption", self.name, ev.t)
                return
            self._speech_started(ev)
        elif self._utt_q.full() and not self._from_file:
            log.warning("%s: ASR is behind, dropping utterance %d", self.name, ev.turn_id)
            self._settle_unheard(ev.turn_id)
        else:
            await self._utt_q.put((ev, time.perf_counter()))

    def _speech_started(self, ev: SpeechStarted) -> None:
        """System path: the user is talking. Hold the answer and freeze what we have seen."""
        joined = self._turns.get(ev.joins) if ev.joins is not None else None
        self._hold(ev.t, ev.turn_id)  # (the speaker going on with the last turn, too: it may be a cough)
        snap = joined.snapshot if joined is not None and joined.snapshot is not None else self._snapshot(ev.t)
        self._turns.open(ev.turn_id, snapshot=snap)
        self._emit(ev)
        self._emit(MemorySnapshot(t=ev.t, turn_id=ev.turn_id, version=snap.version,
                                  n_clips=snap.version + len(snap.extra)))

    def _is_echo(self, t: float) -> bool:
        """Is the speech the VAD hears up to stream time ``t`` the answer playing at the client?"""
        # also just after an answer ended: the room and the network still carry its last words
        return self._echo.is_echo(self._detector.current_audio(), t)

    def _while_speaking(self, t: float) -> None:
        """After each mic chunk: look again at speech taken for echo (someone may be talking over
        the answer now), and start a partial transcript when one is due."""
        det = self._detector
        self._resume_if_due()
        if self._echo_turn is not None and det.turn_id == self._echo_turn and t - self._echo_checked >= ECHO_RECHECK_S:
            self._echo_checked = t
            if not self._echo.is_echo(det.current_audio(ECHO_WINDOW_S), t):
                turn_id, self._echo_turn = self._echo_turn, None
                log.info("%s: a voice over the answer's echo at %.2fs", self.name, t)
                det.restart(ECHO_RECHECK_S + 0.2)  # the echo before the voice is not the user's
                self._speech_started(SpeechStarted(t=t, turn_id=turn_id))
        interval = self.settings.asr.partial_interval_s
        if (interval and det.voiced and det.turn_id is not None and det.turn_id != self._echo_turn
                and (self._partial is None or self._partial.done()) and t - self._partial_at >= interval):
            audio = self._echo.cancel(det.current_audio(), t)
            if PARTIAL_MIN_S * SAMPLE_RATE <= len(audio) <= PARTIAL_MAX_S * SAMPLE_RATE:
                self._partial_at = t
                self._partial = asyncio.ensure_future(self._transcribe_partial(det.turn_id, audio, t))

    async def _transcribe_partial(self, turn_id: int, audio: np.ndarray, t: float) -> None:
        try:
            result = await self._run("partial", self.models.asr.transcribe, audio, None)  # (beside the final ASR)
        except Exception:
            log.exception("%s: partial transcript failed", self.name)
            return
        if result.text and self._detector.turn_id == turn_id:  # not once the final one is on its way
            self.counters.partials += 1
            self._emit(TranscriptPartial(t=t, turn_id=turn_id, text=result.text))

    def _hold(self, t: float, turn_id: int) -> None:
        """Speech over an answer: pause its playback until the speech is understood (``_settle``)."""
        self._held_by, self._resume_after = turn_id, None
        turn = self._turns.speaking()
        if turn is not None:
            self._pause(turn, t)

    def _pause(self, turn: Turn, t: float) -> None:
        if turn.pause():
            self.counters.answers_paused += 1
            self._echo.pause(turn.paused_at)
            self._emit(AnswerPaused(t=t, turn_id=turn.turn_id))

    def _settle(self, utt: Utterance) -> Utterance:
        """The speech an answer was paused for is understood: a stop or a question interrupts it;
        noise, "mm-hm" and talk not meant for the assistant let it play on (once the speaker cannot
        be going on with it any more). Returns the utterance, a backchannel no longer a question."""
        joined_text = self._heard_last[1] if utt.joins is not None and self._heard_last[0] == utt.joins else ""
        self._heard_last = (utt.turn_id, utt.text)
        if utt.turn_id != self._held_by:
            return utt
        self._held_by = None
        if interrupts(utt, joined_text):
            if utt.command != "stop":  # (a stop is carried out by _route)
                self._interrupt(utt.end, "speech", keep=utt.turn_id)
            return utt
        if self._detector.joinable(utt.turn_id):
            self._resume_after = (utt.turn_id, utt.text)
        else:
            self._resume(utt.end, utt.text)
        return dataclasses.replace(utt, for_assistant=False)

    def _resume_if_due(self) -> None:
        if self._resume_after is not None and not self._detector.joinable(self._resume_after[0]) \
                and not self._detector.in_speech:
            heard, self._resume_after = self._resume_after[1], None
            self._resume(self._stream_t, heard)

    def _settle_unheard(self, turn_id: int) -> None:
        """The speech an answer was paused for will never be understood (ASR failed or was behind)."""
        if turn_id == self._held_by:
            self._held_by = None
            self._resume(self._stream_t, "")

    def _resume(self, t: float, heard: str) -> None:
        turn = self._turns.speaking()
        if turn is not None and turn.paused_at is not None:
            if (held := turn.resume()) is not None:
                self._echo.resume(held)
                self.counters.answers_resumed += 1
                log.info("%s: %r was no interruption; turn %d plays on", self.name, heard, turn.turn_id)
                self._emit(AnswerResumed(t=t, turn_id=turn.turn_id, heard=heard))

    async def _asr_worker(self) -> None:
        while (item := await self._utt_q.get()) is not None:
            ev, detected = item
            try:
                utt = await self._recognise(ev, detected)
            except Exception as exc:
                log.exception("ASR failed on turn %d", ev.turn_id)
                self._emit(ErrorEvent(stage="asr", message=str(exc)))
                self._settle_unheard(ev.turn_id)
                continue
            self.counters.utterances += 1
            utt = self._settle(await self._judge(utt))
            self._emit(utt)
            self._hearing.utterance(utt)
            turn = self._turns.open(utt.turn_id)  # (opened at its speech start unless that was dropped)
            turn.started = detected
            await self._route(utt, turn, self.speak_answers)

    def _hear_early(self, ev: SpeechPaused) -> None:
        """Start ASR at a pause. One at a time: a stale one still running means the ASR thread is
        busy, and queueing another behind it would only delay the real end."""
        if any(not task.done() for _, task in self._early.values()):
            return
        self.counters.early_asr_wasted += ev.turn_id in self._early  # the speaker went on after that pause
        task = asyncio.ensure_future(self._hear(ev.samples, ev.background))
        task.add_done_callback(lambda f: f.cancelled() or f.exception())  # a stale failure is not news
        self._early[ev.turn_id] = (len(ev.samples), task)

    async def _recognise(self, ev: SpeechEnded, detected: float) -> Utterance:
        early = self._early.pop(ev.turn_id, None)
        for turn in [t for t in self._early if t < ev.turn_id]:  # turns whose end never came to ASR
            del self._early[turn]
        if early is not None and early[0] == len(ev.samples):
            self.counters.early_asr_used += 1  # the pause was the end: same audio, already in ASR
            result, tags, bg = await early[1]
        else:
            self.counters.early_asr_wasted += early is not None
            result, tags, bg = await self._hear(ev.samples, ev.background)
        keep = lambda pairs: tuple(SoundTag(label=l, score=s) for l, s in pairs if s >= self.settings.sound_events.min_score)
        return Utterance(
            turn_id=ev.turn_id, start=ev.start, end=ev.t, text=result.text, language=result.language,
            tags=keep(tags), background_tags=keep(bg), asr_latency_s=time.perf_counter() - detected, joins=ev.joins,
        )

    async def _hear(self, samples: np.ndarray, background: np.ndarray | None) -> tuple[ASRResult, list, list]:
        """Transcript, and sound tags of the utterance and of what was heard before it."""
        models, cfg = self.models, self.settings.sound_events
        asr = asyncio.ensure_future(self._run("asr", models.asr.transcribe, samples, None))  # runs now, beside tagging
        tags: list = []
        bg: list = []
        try:
            if models.sound_events is not None:
                tags = await self._run("sound", models.sound_events.tag, samples, cfg.top_k)
                if background is not None and len(background) > SAMPLE_RATE // 2:
                    bg = await self._run("sound", models.sound_events.tag, background, cfg.top_k)
        finally:
            result = await asr
        return result, tags, bg

    async def _judge(self, utt: Utterance) -> Utterance:
        if is_stop_command(utt.text):
            return dataclasses.replace(utt, command="stop")
        if note_of(utt.text) is not None or pause_request(utt.text) or forget_request(utt.text) is not None or \
                watch_request(utt.text) is not None or cancel_request(utt.text) is not None or list_request(utt.text):
            return dataclasses.replace(utt, for_assistant=True)  # said to the assistant, however phrased
        try:
            verdict = await self._run("judge", self._filter.respond, utt.text)
        except Exception:
            log.exception("%s: instruction filter failed; answering", self.name)
            verdict = True
        return dataclasses.replace(utt, for_assistant=verdict)

    async def _route(self, utt: Utterance, turn: Turn, speak: bool) -> None:
        if utt.command == "stop":
            self._turns.close(turn.turn_id)
            self.stop()
        elif not utt.for_assistant or turn.superseded:
            if turn.superseded:
                log.info("%s: turn %d was interrupted before its answer; not answered", self.name, turn.turn_id)
            self._turns.close(turn.turn_id)
        else:
            tags = tuple(t.label for t in utt.tags + utt.background_tags)
            await self._queue_query(turn, utt.text, tags, speak, language_of(utt.text, utt.language))

    # ---- perception: video and memory ----------------------------------------------------------

    async def _vision_worker(self) -> None:
        while (frame := await self._frame_q.get()) is not None:
            try:
                image, feats = await self._run("vision", self._encode, frame.image)
            except Exception as exc:
                self.counters.frames_corrupt += 1
                log.warning("%s: encoder rejected frame at %.2fs: %s", self.name, frame.t, exc)
                continue
            self.counters.frames_encoded += 1
            self._watcher.frame(frame.t + self._t_offset, feats.vectors[0], feats.labels[0] if feats.labels else [], image)
            for sealed in add_encoded(self._clips, feats, [(frame.t + self._t_offset, image)]):
                await self._seal(sealed)
        last = self._clips.flush(end=self._stream_t + self._t_offset)
        if last is not None:
            await self._seal(last)
        await self._sealed_q.put(None)

    def _encode(self, image: np.ndarray):
        """On the vision thread: the frame scaled to at most KEY_FRAME_SIDE (a clip keeps every frame
        it is built from) and its features."""
        image = fit(image, KEY_FRAME_SIDE)
        return image, self.models.visual.encode([image])

    async def _seal(self, sealed: Sealed) -> None:
        self._unstored.append(sealed.clip)
        await self._sealed_q.put(sealed)  # bounded: the encoder waits when OCR and the store are behind

    async def _memory_worker(self) -> None:
        """Sealed clips, in order: OCR on the key frame, then into the (persistent) store. Off the
        encoder's thread, so reading a page of text never delays the next frame."""
        while (sealed := await self._sealed_q.get()) is not None:
            clip = sealed.clip
            if not self.remembering:  # "stop remembering": seen, answered about now, never kept
                self._unstored = [c for c in self._unstored if c is not sealed.clip]
                continue
            try:
                clip = await self._run("memory", self._store, sealed)
            except Exception as exc:  # a full disk must not end the session; the clip is lost
                log.exception("%s: could not store clip %d", self.name, clip.clip_id)
                self._emit(ErrorEvent(stage="memory", message=str(exc)))
            finally:
                if sealed.clip in self._unstored:
                    self._unstored.remove(sealed.clip)
            self._emit(clip)

    def _store(self, sealed: Sealed) -> ClipMemory:
        clip = with_text(self.models.ocr, sealed)
        self.memory.add(clip)
        return clip

    def _snapshot(self, t: float) -> Snapshot:
        """Memory as of stream time ``t``: the store plus clips sealed but not stored yet and the one
        being built. A clip the memory thread stored meanwhile is in the store's part already
        (ids below ``version``), so it is not counted twice."""
        t += self._t_offset
        peek = self._clips.peek(end=t)
        snap = self.memory.snapshot(t)
        pending = tuple(self._unstored) + ((peek,) if peek is not None else ())
        return dataclasses.replace(snap, extra=tuple(c for c in pending if c.clip_id >= snap.version))

    # ---- reasoning -----------------------------------------------------------------------------

    async def _queue_query(self, turn: Turn, text: str, tags: tuple[str, ...], speak: bool, language: str) -> None:
        snap = turn.snapshot or self._snapshot(self._stream_t)
        if await self._privacy(turn, text, snap.t, speak, language) or await self._watch(turn, text, snap.t, speak, language):
            return
        note = note_of(text)
        if note is not None:  # "remember that ...": kept, and confirmed in so many words
            t = snap.t
            self._hearing.keep(HeardItem(item_id=0, start=t, end=t, kind="note", text=note, speaker="user",
                                         language=language))
            query = Query(turn_id=turn.turn_id, t=t, text=text, speak=speak, kind="note",
                          facts=confirm_note(note, language), language=language)
            self._emit(query)
            await self._query_q.put((query, turn))
            return
        got = await self._run("retrieve", ground_question, self.memory, self.models.visual, self.models.llm, text,
                              snap, self.settings.memory.top_k, self._conversation, time.time())  # live: "now" is now
        if turn.superseded:  # the user spoke again while this was being grounded
            self._turns.close(turn.turn_id)
            return
        turn.search_text = got.search_text
        query = got.query(turn.turn_id, snap.t, text, tags=tags, speak=speak, language=self.answer_language or language)
        self._emit(query)
        await self._query_q.put((query, turn))

    async def _privacy(self, turn: Turn, text: str, t: float, speak: bool, language: str) -> bool:
        """"Forget the last five minutes", "stop remembering": done at once (on the memory thread,
        after every write queued before it), then said. True when ``text`` was such a request."""
        pause, req = pause_request(text), forget_request(text, time.time())
        if pause is None and req is None:
            return False
        if pause is not None:
            self.set_remembering(pause == "resume")
            said = pause_said(pause, language)
        else:
            start = float("-inf") if req.everything or req.since_s is None else t - req.since_s
            end = float("inf") if req.everything else t - req.until_s
            if req.about:
                counts = await self._run("memory", self.memory.forget_about, req.about)
                self._conversation.forget(req.about)
            else:
                counts = await self._run("memory", self.memory.forget, start, end)
                self._forget_pending(start, end)
                self._conversation.forget()
            self._emit(MemoryForgotten(start=start if start > float("-inf") else None,
                                       end=end if end < float("inf") else None, about=req.about, counts=counts))
            said = forget_said(req, counts, language)
        # (kind "privacy": said, but neither logged nor kept, so the request does not keep what it deleted)
        query = Query(turn_id=turn.turn_id, t=t, text=text, speak=speak, kind="privacy", facts=said, language=language)
        self._emit(query)
        await self._query_q.put((query, turn))
        return True

    async def _watch(self, turn: Turn, text: str, t: float, speak: bool, language: str) -> bool:
        """"Tell me when you see a dog", "what are you watching for?", "stop watching for dogs"."""
        req, cancel = watch_request(text), cancel_request(text)
        if req is not None and req.kind == "seen" and has_cjk(req.thing):
            # the frames' text side is English: "看到猫的时候告诉我" watches for "cat"
            english = await self._run("retrieve", english_name, text, self.models.llm)
            if english is None:
                log.warning("%s: watch %r could not be named in English; it may never match", self.name, req.thing)
            req = renamed(req, english) if english else req
        if req is not None:
            await self._run("memory", self._watcher.add, req, t)  # embeds the thing, writes its row
            said = f"OK, I'll tell you when {to_you(req.said)}{for_next(req.for_s)}." if language != "zh" else \
                f"好的，{req.said}的时候我会告诉你。"
        elif cancel is not None:
            gone = await self._run("memory", self._watcher.cancel, cancel)
            said = ("OK, I've stopped watching for " + ", ".join(w.thing for w in gone) + ".") if gone else \
                "I wasn't watching for that."
        elif list_request(text):
            said = watches_said(self._watcher.watches)
        else:
            return False
        query = Query(turn_id=turn.turn_id, t=t, text=text, speak=speak, kind="note", facts=said, language=language)
        self._emit(query)
        await self._query_q.put((query, turn))
        return True

    def watch(self, req: WatchRequest, t: float | None = None) -> None:
        """Start a watch before the stream does (``omnilive replay --watch``)."""
        self._watcher.add(req, self._stream_t + self._t_offset if t is None else t)

    async def unwatch(self, watch_id: int) -> bool:
        """Cancel one watch by its id (the page's cancel button)."""
        return await self._run("memory", self._watcher.cancel_id, watch_id)

    def _watches_changed(self) -> None:
        """From the memory thread or the loop: the page hears of it on the loop, in order."""
        if self._loop is None:
            self._emit(self.watches())
        else:
            self._loop.call_soon_threadsafe(lambda: self._emit(self.watches()))

    def _watch_event(self, ev: Event) -> None:
        """Heard items and stored clips (their OCR text) go past the watches too."""
        if isinstance(ev, HeardItem):
            self._watcher.heard(ev)
        elif isinstance(ev, ClipMemory):
            self._watcher.clip(ev)

    def watches(self) -> Watches:
        return Watches(items=tuple({"watch_id": w.watch_id, "kind": w.kind, "thing": w.thing, "said": w.said,
                                    "expires": w.expires} for w in self._watcher.watches))

    def _on_alert(self, alert: Alert, w) -> None:
        """A watch matched: tell the client, and say it (an answer of its own turn, held like any
        answer while the user is talking)."""
        self._emit(alert)
        self._next_text_turn += 1
        turn = self._turns.open(self._next_text_turn, source="alert")
        query = Query(turn_id=turn.turn_id, t=alert.t, text=f"(watching for {w.thing})", speak=self.speak_answers,
                      kind="alert", facts=alert_said(alert, w))
        self._emit(query)
        try:
            self._query_q.put_nowait((query, turn))
        except asyncio.QueueFull:
            log.warning("%s: alert for %s not spoken: answers are backed up", self.name, w.thing)
            self._turns.close(turn.turn_id)

    def set_remembering(self, on: bool) -> None:
        """Keep what is seen and heard (True), or perceive and answer but keep nothing (False)."""
        self.remembering = self._hearing.remembering = on
        if self._turn_log is not None:
            self._turn_log.remembering = on
        self._emit(MemoryState(remembering=on))

    def _forget_pending(self, start: float, end: float) -> None:
        """Clips not yet in the store (waiting for OCR, or being built) in a forgotten range go too."""
        self._unstored = [c for c in self._unstored if c.end < start or c.start > end]
        building = self._clips.peek(end=self._stream_t + self._t_offset)
        if building is not None and building.end >= start and building.start <= end:
            self._clips.flush(end=self._stream_t + self._t_offset)  # dropped, never stored

    async def _reasoning_worker(self) -> None:
        while (item := await self._query_q.get()) is not None:
            query, turn = item
            if turn.superseded:
                log.info("%s: dropping unanswered turn %d", self.name, turn.turn_id)
                continue
            self._turns.answering = turn
            if self._held_by is not None:  # the user is talking: it starts held
                self._pause(turn, self._stream_t)
            turn.task = asyncio.create_task(self._answer(query, turn), name=f"{self.name}-answer")
            try:
                await turn.task
            except asyncio.CancelledError:
                if self._closing:
                    raise
            finally:
                self._turns.close(turn.turn_id)

    async def _answer(self, query: Query, turn: Turn) -> None:
        """Generate, speak and record one answer. Cancelled by ``Turn.interrupt``: then the part that
        was sent to be heard goes into the conversation, marked as cut off."""
        started = turn.started
        parts: list[str] = []
        first_token: float | None = None
        first_audio: float | None = None
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        tts_task = asyncio.create_task(self._speak(query, sentences, turn)) if query.speak else None
        try:
            try:
                async for sentence, t_first in self._sentences(query, turn):
                    first_token = first_token or t_first
                    parts.append(sentence)
                    self._emit(AnswerDelta(turn_id=query.turn_id, text=sentence + " "))
                    await sentences.put(sentence)
            except LLMError as exc:  # the server is down: say so, in words and (if asked) speech
                self._emit(ErrorEvent(stage="llm", message=str(exc)))
                parts = [f"Sorry, I can't answer right now: my language model is unavailable ({exc})."]
                self._emit(AnswerDelta(turn_id=query.turn_id, text=parts[0]))
                await sentences.put(parts[0])
            await sentences.put(None)
            if tts_task is not None:
                first_audio = await tts_task
            text = " ".join(parts)
            self._hearing.answer(query, text, self._stream_t + self._t_offset)
            self.counters.answers += 1
            self._conversation.remember(query.text, text, query.kind, turn.search_text or query.text, query.clips)
            turn.finished, turn.answer = True, text
            self._prime_llm()
            self._emit(Answer(turn_id=query.turn_id, text=text,
                              first_token_s=None if first_token is None else first_token - started,
                              first_audio_s=None if first_audio is None else first_audio - started))
        except asyncio.CancelledError:
            turn.interrupt(turn.reason or "cancel")
            if tts_task is not None:
                tts_task.cancel()
            heard = turn.heard() if query.speak else " ".join(parts)
            if heard and not turn.finished:  # what the user actually heard (or read), cut off
                self._hearing.answer(query, heard + " …", self._stream_t + self._t_offset)
                self._conversation.remember(query.text, heard + " …", query.kind, turn.search_text or query.text,
                                            query.clips)
            turn.finished = True
            self._emit(Answer(turn_id=query.turn_id, text=" ".join(parts), interrupted=True))
            raise

    async def _sentences(self, query: Query, turn: Turn):
        """Yield (sentence, time of first token) from ``answer_sentences`` running on the LLM
        thread; the thread stops after its current token once ``turn.stop_llm`` is set."""
        out: asyncio.Queue = asyncio.Queue()
        loop = self._loop
        llm_cfg = self.settings.llm
        first_facts = facts_first(self.settings)

        def produce() -> None:
            try:
                for item in answer_sentences(self.models.llm, query, list(self._conversation.history),
                                             facts_first=first_facts, max_tokens=llm_cfg.max_tokens,
                                             cancel=turn.stop_llm):
                    loop.call_soon_threadsafe(out.put_nowait, item)
                    if turn.stop_llm.is_set():
                        break
                loop.call_soon_threadsafe(out.put_nowait, None)
            except BaseException as exc:  # hand errors to the event loop side
                loop.call_soon_threadsafe(out.put_nowait, exc)

        fut = asyncio.ensure_future(self._stages["llm"].run(produce))
        try:
            while (item := await out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item if isinstance(item, LLMError) else LLMError(str(item))
                yield item
        finally:
            turn.stop_llm.set()  # we stopped reading: let the LLM thread stop too
            await asyncio.shield(fut)

    async def _speak(self, query: Query, sentences: asyncio.Queue, turn: Turn) -> float | None:
        tts = self.models.tts
        first_audio = None
        seq = 0
        muted = False
        while (s := await sentences.get()) is not None:
            if tts is None:
                continue
            if not tts.speaks(s):  # e.g. Chinese text and an English voice: shown, never read as noise
                if not muted:
                    muted = True
                    self._emit(Notice(turn_id=query.turn_id, message=(
                        "This answer is shown but not spoken: the configured voice does not speak its language "
                        "(for Chinese set tts.voice to a Piper zh_CN voice, or use a speech server).")))
                continue
            try:
                audio = await self._run("tts", tts.synthesize, s)
            except Exception as exc:
                log.exception("TTS failed")
                self._emit(ErrorEvent(stage="tts", message=str(exc)))
                continue
            if turn.superseded:
                break
            first_audio = first_audio or time.perf_counter()
            self._emit(AnswerAudio(turn_id=query.turn_id, seq=seq, pcm16=float_to_pcm16(audio),
                                   sample_rate=tts.sample_rate, text=s))
            turn.sent_audio(len(audio) / tts.sample_rate, s)  # talking over it pauses it until it has played
            self._echo.played(turn.sent[-1][0], resample(audio, tts.sample_rate, SAMPLE_RATE))
            seq += 1
        return first_audio

    def _summary(self) -> Summary:
        c = self.counters
        return Summary(duration_s=self._stream_t, frames_seen=c.frames_seen, frames_sampled=c.frames_sampled,
                       frames_encoded=c.frames_encoded, frames_dropped=self._frame_q.dropped,
                       frames_corrupt=c.frames_corrupt, clips=len(self.memory), utterances=c.utterances,
                       answers=c.answers, interrupts=c.interrupts)
