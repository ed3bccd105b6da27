"""Listening: microphone audio -> VAD (speech start, pause, end of turn) -> ASR and sound tags ->
an ``Utterance``, handed to the turn controller (hold, settle) and the dispatcher.

    audio ─▶ [audio queue] ─▶ VAD ──speech start──▶ hold the answer + memory snapshot   (at once)
                               │   (not when it is the answer's own voice: TurnControl.is_echo)
                               ├──while speaking──▶ partial transcripts (their own stage)
                               ├──a pause──▶ ASR started early (the pause may be the end)
                               └──end of turn──▶ [utterance queue] ─▶ ASR + sound tags ─▶ Utterance

Speech taken for the answer's echo is looked at again every ``ECHO_RECHECK_S``: a voice may join it.
The answer's echo is taken out of what ASR reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import numpy as np

from ..backends.base import ASRResult
from ..memory.speakers import Voice
from ..dsp import StreamResampler, to_mono_float
from ..events import (
    SAMPLE_RATE, AudioChunk, ErrorEvent, MemorySnapshot, SoundTag, SpeechEnded, SpeechPaused, SpeechStarted,
    TranscriptPartial, Utterance,
)
from ..perception.vad import SpeechDetector
from .context import SessionContext
from .control import TurnControl
from .dispatch import Dispatcher
from .hearing import Hearing
from .stage import cancelled
from .seeing import Seeing

log = logging.getLogger(__name__)

ECHO_RECHECK_S = 0.25  # while speech is taken for echo, look again this often (a voice may join it)
ECHO_WINDOW_S = 0.6  # mic audio compared with the answer at a recheck
PARTIAL_MIN_S = 1.2  # a shorter question is over before its partial could show (and it would slow the final)
PARTIAL_MAX_S = 15.0  # no partial transcripts beyond this much speech (each pass reads it all)
# partial passes back off under load: the next starts no sooner than the last one took / this share,
# so they take at most this share of their thread however slow the machine has become
PARTIAL_SHARE = 0.3


class Listening:
    def __init__(self, ctx: SessionContext, detector: SpeechDetector, control: TurnControl, dispatch: Dispatcher,
                 seeing: Seeing, hearing: Hearing) -> None:
        self.ctx, self._detector, self._control, self._dispatch = ctx, detector, control, dispatch
        self._seeing, self._hearing = seeing, hearing
        rt = ctx.settings.runtime
        self._audio_q: asyncio.Queue[AudioChunk | None] = asyncio.Queue(rt.audio_queue)
        # (utterance, wall-clock time its end was detected): the latter feeds latency metrics
        self._utt_q: asyncio.Queue[tuple[SpeechEnded, float] | None] = asyncio.Queue(rt.utterance_queue)
        self._early: dict[int, tuple[int, asyncio.Task]] = {}  # turn -> (samples, ASR started at a pause)
        self._resampler: StreamResampler | None = None
        self._from_file = False  # fed by put(): ASR falling behind slows the reader, drops nothing
        self._echo_turn: int | None = None  # speech taken for the answer's own voice, while it lasts
        self._echo_checked = 0.0
        self._partial: asyncio.Future | None = None
        self._partial_gap = ctx.settings.asr.partial_interval_s  # stream seconds between partial passes
        self._partial_at = 0.0

    # ---- audio in ------------------------------------------------------------------------------

    def _chunk(self, t: float, samples: np.ndarray, sample_rate: int) -> AudioChunk:
        """Validate and bring to 16 kHz mono (raises AudioFormatError saying what is wrong)."""
        x = to_mono_float(samples, sample_rate)
        if self._resampler is None or self._resampler.src_rate != sample_rate:
            self._resampler = StreamResampler(sample_rate, SAMPLE_RATE)
        return AudioChunk(t=t, samples=self._resampler(x))

    async def put(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        """Queue audio at any rate; waits when VAD (or, behind it, ASR) is behind: backpressure to
        a file reader, which loses no utterance however fast it reads."""
        self._from_file = True
        await self._audio_q.put(self._chunk(t, samples, sample_rate))

    def offer(self, t: float, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bool:
        """Live variant of put: never blocks; drops (and counts) when the VAD queue is full."""
        try:
            chunk = self._chunk(t, samples, sample_rate)
            self._control.echo.mic_arrived(chunk.t + chunk.duration, time.monotonic())
            self._audio_q.put_nowait(chunk)
            return True
        except asyncio.QueueFull:
            self.ctx.counters.audio_dropped += 1
            return False

    async def end(self) -> None:
        """No more audio: the workers finish what they have."""
        await self._audio_q.put(None)

    # ---- VAD -----------------------------------------------------------------------------------

    async def vad_worker(self) -> None:
        ctx = self.ctx
        while (chunk := await self._audio_q.get()) is not None:
            ctx.stream_t = max(ctx.stream_t, chunk.t + chunk.duration)
            try:
                events = await ctx.run("vad", self._detector.feed, chunk.t, chunk.samples)
            except Exception as exc:
                if cancelled():  # the session is closing
                    raise asyncio.CancelledError from exc
                log.exception("VAD failed on chunk at %.2fs", chunk.t)
                ctx.emit(ErrorEvent(stage="vad", message=str(exc)))
                continue
            for ev in events:
                await self._on_vad_event(ev)
            self._while_speaking(chunk.t + chunk.duration)
            self._hearing.audio(chunk)
        for ev in self._detector.flush():
            await self._on_vad_event(ev)
        self._control.resume_if_due()
        await self._utt_q.put(None)

    async def _on_vad_event(self, ev: SpeechStarted | SpeechPaused | SpeechEnded) -> None:
        if ev.turn_id == self._echo_turn:  # the answer's own voice: no turn, no ASR
            if isinstance(ev, SpeechEnded):
                self._echo_turn = None
            return
        if not isinstance(ev, SpeechStarted):  # the answer's echo out of what ASR will read (an FFT: off the loop)
            echo = self._control.echo.frozen()
            ev = dataclasses.replace(ev, samples=await self.ctx.run(
                "vad", echo.cancel, ev.samples, ev.start + len(ev.samples) / SAMPLE_RATE))
        if isinstance(ev, SpeechPaused):
            self._hear_early(ev)
        elif isinstance(ev, SpeechStarted):
            if self._control.is_echo(self._detector.current_audio(), ev.t):
                self.ctx.counters.echo_ignored += 1
                self._echo_turn = ev.turn_id
                log.info("%s: speech at %.2fs is the answer's own voice; not an interruption", self.ctx.name, ev.t)
                return
            self._speech_started(ev)
        elif self._utt_q.full() and not self._from_file:
            log.warning("%s: ASR is behind, dropping utterance %d", self.ctx.name, ev.turn_id)
            self._control.settle_unheard(ev.turn_id)
        else:
            await self._utt_q.put((ev, time.perf_counter()))

    def _speech_started(self, ev: SpeechStarted) -> None:
        """The user is talking: hold the answer and freeze what we have seen."""
        turns = self._control.turns
        joined = turns.get(ev.joins) if ev.joins is not None else None
        if joined is not None and self._control.talked_over(joined, self._detector.voice_began):
            log.info("%s: speech %d was said over turn %d's answer: a turn of its own", self.ctx.name,
                     ev.turn_id, joined.turn_id)
            self._detector.part_ways()
            ev, joined = dataclasses.replace(ev, joins=None), None
        self._control.hold(ev.t, ev.turn_id)  # (the speaker going on with the last turn, too: it may be a cough)
        snap = joined.snapshot if joined is not None and joined.snapshot is not None else self._seeing.snapshot(ev.t)
        turns.open(ev.turn_id, snapshot=snap)
        # what is in view is described while the user speaks, so a question finds it done (seeing.sighted)
        described = asyncio.ensure_future(self.ctx.run("retrieve", self._seeing.sighted, snap))
        described.add_done_callback(lambda f: f.cancelled() or f.exception())  # the question's own call says
        self.ctx.emit(ev)
        self.ctx.emit(MemorySnapshot(t=ev.t, turn_id=ev.turn_id, version=snap.version,
                                     n_clips=snap.version + len(snap.extra)))

    def _while_speaking(self, t: float) -> None:
        """After each mic chunk: look again at speech taken for echo (someone may be talking over
        the answer now), and start a partial transcript when one is due."""
        det = self._detector
        self._control.resume_if_due()
        if self._echo_turn is not None and det.turn_id == self._echo_turn and t - self._echo_checked >= ECHO_RECHECK_S:
            self._echo_checked = t
            if not self._control.is_echo(det.current_audio(ECHO_WINDOW_S), t):
                turn_id, self._echo_turn = self._echo_turn, None
                log.info("%s: a voice over the answer's echo at %.2fs", self.ctx.name, t)
                det.restart(ECHO_RECHECK_S + 0.2)  # the echo before the voice is not the user's
                self._speech_started(SpeechStarted(t=t, turn_id=turn_id))
        interval = self.ctx.settings.asr.partial_interval_s
        if (interval and det.voiced and det.turn_id is not None and det.turn_id != self._echo_turn
                and (self._partial is None or self._partial.done()) and t - self._partial_at >= self._partial_gap):
            audio = det.current_audio()
            if PARTIAL_MIN_S * SAMPLE_RATE <= len(audio) <= PARTIAL_MAX_S * SAMPLE_RATE:
                self._partial_at = t
                self._partial = asyncio.ensure_future(
                    self._transcribe_partial(det.turn_id, audio, t, self._control.echo.frozen()))

    async def _transcribe_partial(self, turn_id: int, audio: np.ndarray, t: float, echo) -> None:
        def transcribe():  # on the partial stage's thread, beside the final ASR: the echo out, then ASR
            return self.ctx.models.asr.transcribe(echo.cancel(audio, t), None)

        started = time.perf_counter()
        try:
            result = await self.ctx.run("partial", transcribe)
        except Exception:
            log.exception("%s: partial transcript failed", self.ctx.name)
            return
        took = time.perf_counter() - started  # (waiting for the thread too: a busy machine backs off more)
        self._partial_gap = max(self.ctx.settings.asr.partial_interval_s, took / PARTIAL_SHARE)
        if result.text and self._detector.turn_id == turn_id:  # not once the final one is on its way
            self.ctx.counters.partials += 1
            self.ctx.emit(TranscriptPartial(t=t, turn_id=turn_id, text=result.text))

    # ---- ASR -----------------------------------------------------------------------------------

    async def asr_worker(self) -> None:
        ctx = self.ctx
        while (item := await self._utt_q.get()) is not None:
            ev, detected = item
            try:
                utt = await self._recognise(ev, detected)
            except Exception as exc:
                if cancelled():  # the session is closing
                    raise asyncio.CancelledError from exc
                log.exception("ASR failed on turn %d", ev.turn_id)
                ctx.emit(ErrorEvent(stage="asr", message=str(exc)))
                self._control.settle_unheard(ev.turn_id)
                continue
            ctx.counters.utterances += 1
            utt = self._control.settle(await self._dispatch.judge(utt))
            ctx.emit(utt)
            self._hearing.utterance(utt)
            turn = self._control.turns.open(utt.turn_id)  # (opened at its speech start unless that was dropped)
            turn.started = detected
            await self._dispatch.route(utt, turn, ctx.speak_answers)

    def _hear_early(self, ev: SpeechPaused) -> None:
        """Start ASR at a pause. One at a time: a stale one still running means the ASR thread is
        busy, and queueing another behind it would only delay the real end."""
        if any(not task.done() for _, task in self._early.values()):
            return
        self.ctx.counters.early_asr_wasted += ev.turn_id in self._early  # the speaker went on after that pause
        task = asyncio.ensure_future(self._hear(ev.samples, ev.background))
        task.add_done_callback(lambda f: f.cancelled() or f.exception())  # a stale failure is not news
        self._early[ev.turn_id] = (len(ev.samples), task)

    async def _recognise(self, ev: SpeechEnded, detected: float) -> Utterance:
        c = self.ctx.counters
        early = self._early.pop(ev.turn_id, None)
        for turn in [t for t in self._early if t < ev.turn_id]:  # turns whose end never came to ASR
            del self._early[turn]
        if early is not None and early[0] == len(ev.samples):
            c.early_asr_used += 1  # the pause was the end: same audio, already in ASR
            result, tags, bg, heard_as = await early[1]
        else:
            c.early_asr_wasted += early is not None
            result, tags, bg, heard_as = await self._hear(ev.samples, ev.background)
        voice = await self._who(heard_as)
        min_score = self.ctx.settings.sound_events.min_score
        keep = lambda pairs: tuple(SoundTag(label=l, score=s) for l, s in pairs if s >= min_score)
        return Utterance(
            turn_id=ev.turn_id, start=ev.start, end=ev.t, text=result.text, language=result.language,
            tags=keep(tags), background_tags=keep(bg), asr_latency_s=time.perf_counter() - detected, joins=ev.joins,
            voice=voice.voice_id if voice else 0, voice_name=voice.label if voice else "",
        )

    async def _hear(self, samples: np.ndarray, background: np.ndarray | None) -> tuple[ASRResult, list, list, tuple | None]:
        """Transcript, sound tags of the utterance and of what was heard before it, and its voice."""
        ctx = self.ctx
        models, cfg = ctx.models, ctx.settings.sound_events
        asr = asyncio.ensure_future(ctx.run("asr", models.asr.transcribe, samples, None))  # runs now, beside tagging
        who = asyncio.ensure_future(self._embed_voice(samples))
        tags: list = []
        bg: list = []
        try:
            if models.sound_events is not None:
                tags = await ctx.run("sound", models.sound_events.tag, samples, cfg.top_k)
                if background is not None and len(background) > SAMPLE_RATE // 2:
                    bg = await ctx.run("sound", models.sound_events.tag, background, cfg.top_k)
        finally:
            result = await asr
            voice = await who
        return result, tags, bg, voice

    async def _embed_voice(self, samples: np.ndarray) -> tuple[np.ndarray, bool] | None:
        """An utterance's speaker embedding, and whether it is long enough to start a voice of its
        own; None with no speaker encoder, or when the encoder fails (the turn goes on without)."""
        ctx = self.ctx
        if ctx.models.speaker is None or len(samples) < SAMPLE_RATE // 4:
            return None
        try:
            emb = await ctx.run("speaker", ctx.models.speaker.embed, samples)
        except Exception:
            log.exception("%s: speaker embedding failed", ctx.name)
            return None
        return emb, len(samples) >= ctx.settings.speaker.min_speech_s * SAMPLE_RATE

    async def _who(self, heard_as: tuple[np.ndarray, bool] | None) -> Voice | None:
        """The final utterance's voice among the memory's (a new one when none is near): assigned
        once per turn, not for an early ASR the speaker then went on from."""
        if heard_as is None:
            return None
        return await self.ctx.run("speaker", self.ctx.memory.speakers.assign, *heard_as)
