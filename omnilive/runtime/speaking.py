"""Speaking: one answer at a time, from a grounded ``Query`` to text and speech at the client.

    [query queue] ─▶ LLM stream (its own thread) ─▶ sentences ─▶ AnswerDelta
                                                          └─▶ TTS (its own thread) ─▶ AnswerAudio

The answer task of a turn is cancelled by the turn controller's interrupt (runtime/control.py),
which also says when a turn has ended and what of it was heard. When one has, the LLM evaluates the
conversation so far (llama.cpp prefix reuse), and while the next question is said, its words so far
(runtime/session.py), so the prompt at its end only adds its last words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

import numpy as np

from ..backends.base import ChatMessage
from ..backends.llm import LLMError
from ..dsp import float_to_pcm16, resample
from ..events import SAMPLE_RATE, Answer, AnswerAudio, AnswerDelta, ErrorEvent, Notice, Query
from ..reasoning.facts import SYSTEM
from ..reasoning.respond import answer_sentences, facts_alone, facts_first
from ..reasoning.sentences import ZH_FIRST_CHARS
from ..text import has_cjk, join_pieces, spaced, word_count, zh_word_ends
from .context import SessionContext
from .control import TurnControl
from .priority import FIRST_AUDIO, Pending, lane, yielding
from .turn import Turn

log = logging.getLogger(__name__)
LLM_DOWN = "Sorry, I can't answer right now: my language model is unavailable."
LLM_DOWN_ZH = "抱歉，我现在无法回答：语言模型暂时不可用。"


_CLAUSE = re.compile(r"^((?:\S+\s+){2,}?\S+[,;:])\s+(\S.*)$")
_CLAUSE_ZH = re.compile(r"^(.{4,}?[，、：；,])\s*(.{4,})$")  # four characters or more on each side
FIRST_CLAUSE_MIN_WORDS = 8
# Kokoro's cost follows the audio it makes (~0.3 s a second of speech, beside a fixed ~0.25 s): a
# Chinese first sentence without an early comma is cut between words after ZH_FIRST_CHARS
ZH_FIRST_CLAUSE_MAX = 7  # a first clause longer than this is cut between words instead


def first_clause(sentence: str) -> tuple[str, ...]:
    """A long first sentence as its first clause (three words or more, to a comma, colon or
    semicolon) and the rest, synthesized one after the other: its audio starts sooner (Piper here:
    "I saw a bird," 0.06 s, the whole 6 s sentence 0.3 s; Kokoro's Mandarin "大约十分钟前，" 0.4 s,
    the whole 5 s sentence 2.1 s). A Chinese one without a comma early on is cut between words
    ("为什么鸟儿 / 总是飞得低呢？"). Short ones stay whole."""
    if word_count(sentence) < FIRST_CLAUSE_MIN_WORDS:
        return (sentence,)
    if not has_cjk(sentence):
        m = _CLAUSE.match(sentence)
        return (sentence,) if m is None else (m.group(1), m.group(2))
    m = _CLAUSE_ZH.match(sentence)
    if m is not None and len(m.group(1)) <= ZH_FIRST_CLAUSE_MAX:
        return m.group(1), m.group(2)
    cut = next((e for e in zh_word_ends(sentence) if ZH_FIRST_CHARS <= e <= len(sentence) - ZH_FIRST_CHARS), None)
    return (sentence,) if cut is None else (sentence[:cut], sentence[cut:])


class Speaking:
    def __init__(self, ctx: SessionContext, control: TurnControl) -> None:
        self.ctx, self._control = ctx, control
        self._query_q: asyncio.Queue[tuple[Query, Turn] | None] = asyncio.Queue(ctx.settings.runtime.utterance_queue)
        self._primes = 0  # primes asked for; one queued before the latest (or an answer) is skipped

    async def submit(self, query: Query, turn: Turn) -> None:
        """Answer ``query`` after the answers queued before it."""
        await self._query_q.put((query, turn))

    def offer(self, query: Query, turn: Turn) -> bool:
        """Answer ``query`` unless answers are backed up (an alert: never worth waiting for)."""
        try:
            self._query_q.put_nowait((query, turn))
            return True
        except asyncio.QueueFull:
            return False

    async def end(self) -> None:
        await self._query_q.put(None)

    def prime_llm(self, then: str = "") -> None:
        """Evaluate the system prompt and the conversation so far on the LLM thread now, between
        turns, so the next turn's prompt only adds its question (llama.cpp's prefix reuse); with
        ``then``, the words of the question being asked so far (a partial transcript), so the
        prompt at its end only adds its last words."""
        prime = getattr(self.ctx.models.llm, "prime", None)
        if prime is None or self.ctx.closing:
            return
        self._primes += 1
        mine, messages = self._primes, [ChatMessage("system", SYSTEM), *self.ctx.conversation.history]

        def run() -> None:  # only the latest, and not once an answer is waiting: primes never pile up
            if mine == self._primes:  # (answers came fast, each queued a prime: a chat answer waited 30 s)
                # (it gives way to an answer asked meanwhile)
                prime(messages, stop=lambda: mine != self._primes, then=then)

        self.ctx.stages["llm"].submit(run)

    async def worker(self) -> None:
        turns = self._control.turns
        while (item := await self._query_q.get()) is not None:
            query, turn = item
            if turn.superseded:
                self._control.dropped(turn)
                continue
            turns.answering = turn
            if self._control.held_by is not None:  # the user is talking: it starts held
                self._control.pause(turn, self.ctx.stream_t)
            turn.task = asyncio.create_task(self._answer(query, turn), name=f"{self.ctx.name}-answer")
            try:
                await turn.task
            except asyncio.CancelledError:
                if self.ctx.closing:
                    raise
            finally:
                turns.close(turn.turn_id)

    async def _answer(self, query: Query, turn: Turn) -> None:
        """Generate, speak and record one answer (cancelled by an interrupt)."""
        ctx = self.ctx
        parts: list[str] = []
        first_token: float | None = None
        first_audio: float | None = None
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        first = FIRST_AUDIO.pending() if query.speak and ctx.models.tts is not None else None
        tts_task = asyncio.create_task(self._speak(query, sentences, turn, first)) if query.speak else None
        try:
            try:
                async for sentence, t_first in self._sentences(query, turn, first):
                    first_token = first_token or t_first
                    parts.append(sentence)
                    ctx.emit(AnswerDelta(turn_id=query.turn_id, text=spaced(sentence)))
                    await sentences.put(sentence)
            except LLMError as exc:  # the server is down: say so, in words and (if asked) speech
                # plainly: the user gets no server address, URL or exception; the log gets it all (redacted)
                log.warning("turn %d: no answer: %s", query.turn_id, exc)
                ctx.emit(ErrorEvent(stage="llm", message="the language model is unavailable"))
                parts = [LLM_DOWN_ZH if query.language == "zh" else LLM_DOWN]
                ctx.emit(AnswerDelta(turn_id=query.turn_id, text=parts[0]))
                await sentences.put(parts[0])
            await sentences.put(None)
            if tts_task is not None:
                first_audio = await tts_task
            text = join_pieces(parts)
            ctx.counters.answers += 1
            turn.finished, turn.answer = True, text
            ctx.emit(Answer(turn_id=query.turn_id, text=text,
                            first_token_s=None if first_token is None else first_token - turn.started,
                            first_audio_s=None if first_audio is None else first_audio - turn.started))
            self._control.answered(query, turn)  # it ends once heard (runtime/control.py)
        except asyncio.CancelledError:
            if tts_task is not None:
                tts_task.cancel()
            ctx.emit(Answer(turn_id=query.turn_id, text=join_pieces(parts), interrupted=True))
            self._control.answer_cut(query, turn, parts)  # it ends with what was heard of it
            raise
        finally:
            if first is not None:
                first.done()

    async def _sentences(self, query: Query, turn: Turn, first: Pending | None):
        """Yield (sentence, time of first token) from ``answer_sentences`` running on the LLM
        thread; the thread stops after its current token once ``turn.stop_llm`` is set, and waits
        after the first sentence until ``first`` is done (its audio made)."""
        out: asyncio.Queue = asyncio.Queue()
        ctx = self.ctx
        loop = ctx.loop
        first_facts = facts_first(ctx.settings)
        said = facts_alone(query, first_facts)
        if said is not None:  # no LLM: not behind its thread's queue (a priming, another answer)
            yield said, time.perf_counter()
            return

        def produce() -> None:
            try:
                for item in answer_sentences(yielding(ctx.models.llm), query, list(ctx.conversation.history),
                                             facts_first=first_facts, max_tokens=ctx.settings.llm.max_tokens,
                                             cancel=turn.stop_llm):
                    if first is not None:
                        first.take()
                    loop.call_soon_threadsafe(out.put_nowait, item)
                    if turn.stop_llm.is_set():
                        break
                loop.call_soon_threadsafe(out.put_nowait, None)
            except BaseException as exc:  # hand errors to the event loop side
                loop.call_soon_threadsafe(out.put_nowait, exc)

        self._primes += 1  # a prime still queued would only delay this answer, which evaluates its own prompt
        fut = asyncio.ensure_future(ctx.run("llm", produce))
        try:
            while (item := await out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item if isinstance(item, LLMError) else LLMError(str(item))
                yield item
        finally:
            turn.stop_llm.set()  # we stopped reading: let the LLM thread stop too
            await asyncio.shield(fut)

    async def _synthesize(self, piece: str, needed: float, first: bool) -> np.ndarray:
        """``piece``'s audio. A voice on this CPU says the pieces of all sessions one at a time,
        the one needed soonest first (``Lane``): four users' first pieces synthesized at once took
        0.8 s each on two cores, one after another 0.15-0.35 s."""
        tts = self.ctx.models.tts
        async with lane().take(needed) if tts.runs_here else contextlib.nullcontext():
            with FIRST_AUDIO.synthesizing() if first else contextlib.nullcontext():
                return await self.ctx.run("tts", tts.synthesize, piece)

    async def _speak(self, query: Query, sentences: asyncio.Queue, turn: Turn,
                     first: Pending | None) -> float | None:
        ctx = self.ctx
        tts = ctx.models.tts
        first_audio = None
        needed = turn.started  # when the next piece's audio is needed: now, then when the last runs out
        seq = 0
        muted = False
        while (s := await sentences.get()) is not None:
            if tts is None:
                continue
            if not tts.speaks(s):  # e.g. Chinese text and an English voice: shown, never read as noise
                if first is not None:
                    first.done()
                if not muted:
                    muted = True
                    ctx.emit(Notice(turn_id=query.turn_id, message=(
                        "This answer is shown but not spoken: the configured voice does not speak its language "
                        "(for Chinese set tts.voices.zh, e.g. \"kokoro:jm_kumo\", or use a speech server).")))
                continue
            for piece in first_clause(s) if seq == 0 else (s,):
                try:
                    audio = await self._synthesize(piece, needed, seq == 0)
                except Exception as exc:
                    log.exception("TTS failed")
                    ctx.emit(ErrorEvent(stage="tts", message=str(exc)))
                    continue
                finally:
                    if first is not None:
                        first.done()
                if turn.superseded:
                    return first_audio
                first_audio = first_audio or time.perf_counter()
                ctx.emit(AnswerAudio(turn_id=query.turn_id, seq=seq, pcm16=float_to_pcm16(audio),
                                     sample_rate=tts.sample_rate, text=piece))
                turn.sent_audio(len(audio) / tts.sample_rate, piece)  # talking over it pauses it until it has played
                needed = time.perf_counter() + turn.playout_until - time.monotonic()
                self._control.echo.played(turn.sent[-1][0], resample(audio, tts.sample_rate, SAMPLE_RATE))
                seq += 1
        return first_audio
