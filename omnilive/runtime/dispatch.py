"""Dispatching an utterance (spoken or typed): is it for the assistant, and what is it?

    Utterance ─▶ judge ─▶ a stop            ─▶ TurnControl.stop
                       ─▶ not for me        ─▶ shown, kept in heard memory, not answered
                       ─▶ "this is my voice", "that was Anna" ─▶ the memory's voices, confirmed
                       ─▶ "forget ...", "stop remembering"  ─▶ done on the memory thread, then said
                          (spoken by a voice not the enrolled owner's: only the owner's "yes" does it)
                       ─▶ "tell me when you see ..."        ─▶ a watch, confirmed
                       ─▶ "remember that ..."               ─▶ a note, confirmed
                       ─▶ a question        ─▶ grounded on the turn's memory snapshot ─▶ Speaking

Requests named in so many words (a note, forget, watch) are for the assistant however they are
phrased; everything else goes past the instruction filter (reasoning/intent.py).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from ..events import MemoryForgotten, Notice, Query, Utterance
from ..reasoning.followup import FOLLOW_S, followup_request
from ..reasoning.heard import clean_note, confirm_note, note_item, note_of, to_you
from ..reasoning.intent import InstructionFilter, is_stop_command, is_stop_over_answer, language_of
from ..reasoning.privacy import (
    Forget, cancelled_forget, confirm_forget, confirmation, forget_request, forget_said, pause_request, pause_said,
)
from ..reasoning.retrieve import ground_question
from ..reasoning.speakers import enrol_request, enrolled_said, name_request, named_said, not_owner_said
from ..reasoning.understand import english_name
from ..reasoning.watch import cancel_request, list_request, renamed, watch_request
from ..text import has_cjk
from .context import SessionContext
from .control import TurnControl
from .hearing import Hearing
from .seeing import Seeing
from .speaking import Speaking
from .turn import Turn
from .watching import MAX_WATCHES, Watcher, for_next, watches_said

log = logging.getLogger(__name__)
CONFIRM_S = 30.0  # a spoken "forget ..." waits this long for its "yes"


def named_request(text: str) -> bool:
    """A note, forget, pause or watch request: said to the assistant, however phrased."""
    return note_of(text) is not None or bool(pause_request(text)) or forget_request(text) is not None or \
        watch_request(text) is not None or cancel_request(text) is not None or list_request(text) or \
        enrol_request(text) or name_request(text) is not None


class Dispatcher:
    def __init__(self, ctx: SessionContext, control: TurnControl, seeing: Seeing, speaking: Speaking,
                 hearing: Hearing, watcher: Watcher, set_remembering: Callable[[bool], None],
                 failed: Callable[[str, Exception], None]) -> None:
        self.ctx, self._control, self._seeing, self._speaking = ctx, control, seeing, speaking
        self._hearing, self._watcher, self._set_remembering, self._failed = hearing, watcher, set_remembering, failed
        self._filter = InstructionFilter(ctx.models.text_embedding, ctx.settings.runtime.respond, ctx.models.llm)
        # a spoken forget asked back: request, range, until when, and whether only the owner's yes counts
        self._asked: tuple[Forget, float, float, float, bool] | None = None
        self._voices: list[int] = []  # the voices of the latest utterances, newest last ("that was Anna")
        self._enrol_next = False

    async def judge(self, utt: Utterance) -> Utterance:
        """Mark a stop command, or whether the utterance is for the assistant."""
        if is_stop_command(utt.text) or (self._control.holds_answer(utt.turn_id) and is_stop_over_answer(utt.text)
                                         and cancel_request(utt.text) is None):
            return dataclasses.replace(utt, command="stop")
        asked = self._asked is not None and time.monotonic() < self._asked[3]  # a spoken forget waits for its yes
        follows = followup_request(utt.text) and self.ctx.conversation.answered(utt.start, FOLLOW_S) is not None
        if named_request(utt.text) or follows or (asked and confirmation(utt.text) is not None):
            return dataclasses.replace(utt, for_assistant=True)
        if utt.source == "typed":  # typed into the assistant's own box: said to it, whatever it says
            return dataclasses.replace(utt, for_assistant=bool(utt.text.strip()))
        try:
            verdict = await self.ctx.run("judge", self._filter.respond, utt.text)
        except Exception:
            log.exception("%s: instruction filter failed; answering", self.ctx.name)
            verdict = True
        return dataclasses.replace(utt, for_assistant=verdict)

    async def ask(self, text: str, *, speak: bool = True, t: float | None = None) -> int:
        """A typed question: for the assistant (typed into its box; a stop still stops), grounded on
        memory as it is now; it interrupts any answer in flight. A failing stage costs this
        question, never the session."""
        ctx = self.ctx
        turn_id = ctx.text_turn()
        t = ctx.stream_t if t is None else t
        self._control.interrupt(t, "cancel", keep={turn_id})
        turn = self._control.turns.open(turn_id, source="typed", snapshot=self._seeing.snapshot(t))
        try:
            utt = await self.judge(Utterance(turn_id=turn_id, start=t, end=t, text=text.strip(),
                                             language=language_of(text), source="typed"))
            ctx.emit(utt)
            self._hearing.utterance(utt)
            await self.route(utt, turn, speak)
        except Exception as exc:
            log.exception("%s: typed question %d failed", ctx.name, turn_id)
            self._control.turns.close(turn_id)
            self._failed("reasoning", exc)
        return turn_id

    async def route(self, utt: Utterance, turn: Turn, speak: bool) -> None:
        if utt.voice:
            self._voices = [*self._voices[-9:], utt.voice]
            if self._enrol_next:  # the page's button was pressed before this was said
                self._enrol_next = False
                await self.ctx.run("speaker", self.ctx.memory.speakers.enrol_owner, utt.voice)
                self.ctx.emit(Notice(turn_id=utt.turn_id, message="I'll know your voice from now on."))
        if utt.command == "stop":
            self._control.stop(by=turn.turn_id)
            self._control.turns.close(turn.turn_id)
        elif turn.superseded and utt.for_assistant:
            self._control.dropped(turn)
        elif not utt.for_assistant or turn.superseded:
            self._control.turns.close(turn.turn_id)
        else:
            tags = tuple(t.label for t in utt.tags + utt.background_tags)
            await self._request(turn, utt.text, tags, speak, language_of(utt.text, utt.language), utt.voice)

    async def _request(self, turn: Turn, text: str, tags: tuple[str, ...], speak: bool, language: str,
                       voice: int = 0) -> None:
        ctx = self.ctx
        snap = turn.snapshot or self._seeing.snapshot(ctx.stream_t)
        if await self._voice(turn, text, snap.t, speak, language, voice) or \
                await self._privacy(turn, text, snap.t, speak, language, voice) or \
                await self._watch(turn, text, snap.t, speak, language):
            return
        if await self._follow_up(turn, text, snap.t, speak, language):
            return
        note = note_of(text)
        if note is not None:  # "remember that ...": kept as a clean fact beside the words heard, and read back
            clean = await ctx.run("llm", clean_note, note, ctx.models.llm, language)
            self._hearing.keep(note_item(note, clean, snap.t, language))
            await self._say(turn, text, confirm_note(note, language, clean), snap.t, speak, language)
            return
        snap = await ctx.run("retrieve", self._seeing.sighted, snap)  # what is in view now, described too
        got = await ctx.run("retrieve", ground_question, ctx.memory, ctx.models.visual, ctx.models.llm, text,
                            snap, ctx.settings.memory.top_k, ctx.conversation, ctx.wall(snap.t))
        if turn.superseded:  # the user spoke again while this was being grounded
            self._control.dropped(turn)
            return
        turn.search_text = got.search_text
        query = got.query(turn.turn_id, snap.t, text, tags=tags, speak=speak, language=ctx.answer_language or language)
        ctx.emit(query)
        await self._speaking.submit(query, turn)

    async def _follow_up(self, turn: Turn, text: str, t: float, speak: bool, language: str) -> bool:
        """"Say that again": the last answer once more; "go on": the LLM continues it (never
        repeats it: reasoning/respond.py). Only while there is a recent answer to follow."""
        kind, last = followup_request(text), self.ctx.conversation.answered(t, FOLLOW_S)
        if kind is None or last is None:
            return False
        if kind == "repeat":
            await self._say(turn, text, last, t, speak, language, kind="repeat")
        else:
            query = Query(turn_id=turn.turn_id, t=t, text=text, speak=speak, kind="continue", language=language)
            self.ctx.emit(query)
            await self._speaking.submit(query, turn)
        return True

    async def _say(self, turn: Turn, text: str, said: str, t: float, speak: bool, language: str,
                   kind: str = "note") -> None:
        """Answer with a fixed sentence (a confirmation), through the same speaking path."""
        query = Query(turn_id=turn.turn_id, t=t, text=text, speak=speak, kind=kind, facts=said, language=language)
        self.ctx.emit(query)
        await self._speaking.submit(query, turn)

    async def _voice(self, turn: Turn, text: str, t: float, speak: bool, language: str, voice: int) -> bool:
        """"This is my voice" (the speaker's voice becomes the owner's; once an owner is enrolled,
        only the owner or the page can move it) and "that was Anna" (names the latest other voice)."""
        book = self.ctx.memory.speakers
        if enrol_request(text):
            if turn.source == "typed":  # the page's button, not these words, enrols from the page
                return False
            ok = bool(voice) and book.is_owner(voice) is not False
            if ok:
                await self.ctx.run("speaker", book.enrol_owner, voice)
            said = enrolled_said(ok, language) if ok or not voice else not_owner_said(language)
        elif (name := name_request(text)) is not None:
            other = next((v for v in reversed(self._voices) if v != voice and not book.is_owner(v)), None)
            if other is not None:
                await self.ctx.run("speaker", book.name, other, name)
            said = named_said(name if other is not None else None, language)
        else:
            return False
        await self._say(turn, text, said, t, speak, language, kind="privacy")
        return True

    def enrol_next(self) -> None:
        """The page's "this is my voice" button: the next spoken utterance's voice is the owner's."""
        self._enrol_next = True

    async def _privacy(self, turn: Turn, text: str, t: float, speak: bool, language: str, voice: int = 0) -> bool:
        """"Forget the last five minutes", "stop remembering": done at once (on the memory thread,
        after every write queued before it), then said. A spoken forget is asked back first ("yes"
        carries it out): any voice in the room, a TV's too, reaches the microphone, while typed
        words come from the user's own page. Once the owner's voice is enrolled, a spoken request in
        another voice (or one too short to tell) is not obeyed: a forget waits for the owner's own
        "yes", a pause is refused. True when ``text`` was such a request or its answer."""
        ctx, asked, self._asked = self.ctx, self._asked, None
        pause, req = pause_request(text), forget_request(text, ctx.wall(t))
        stranger = turn.source != "typed" and ctx.memory.speakers.is_owner(voice) is not True and \
            ctx.memory.speakers.owner is not None
        if asked is not None and time.monotonic() < asked[3] and pause is None and req is None:
            yes = confirmation(text)
            if yes is None:
                asked = None  # not an answer to it: dropped, and the text is a request of its own
            elif yes and asked[4] and stranger:
                self._asked = asked  # still waiting for the owner's yes
                await self._say(turn, text, not_owner_said(language), t, speak, language, kind="privacy")
                return True
            else:
                said = forget_said(asked[0], await self.forget(*asked[1:3], asked[0].about), language) if yes \
                    else cancelled_forget(language)
                await self._say(turn, text, said, t, speak, language, kind="privacy")
                return True
        if pause is None and req is None:
            return False
        if pause is not None and stranger:
            said = not_owner_said(language)
        elif pause is not None:
            self._set_remembering(pause == "resume")
            said = pause_said(pause, language)
        else:
            start = float("-inf") if req.everything or req.since_s is None else t - req.since_s
            end = float("inf") if req.everything else t - req.until_s
            if turn.source == "typed":
                said = forget_said(req, await self.forget(start, end, req.about), language)
            else:
                self._asked = (req, start, end, time.monotonic() + CONFIRM_S, stranger)
                said = confirm_forget(req, language, stranger)
        # (kind "privacy": said, but neither logged nor kept, so the request does not keep what it deleted)
        await self._say(turn, text, said, t, speak, language, kind="privacy")
        return True

    async def forget(self, start: float, end: float, about: str = "") -> dict[str, int]:
        """Forget a range of memory time (or what was said ``about`` something), however asked (by
        voice, the page, the REST API): on the memory thread, after every write queued before it;
        clips not stored yet and the conversation the LLM holds go too."""
        ctx = self.ctx
        if about:
            counts = await ctx.run("memory", ctx.memory.forget_about, about)
            ctx.conversation.forget(about)
        else:
            counts = await ctx.run("memory", ctx.memory.forget, start, end)
            self._seeing.forget_pending(start, end)
            ctx.conversation.forget()
        ctx.emit(MemoryForgotten(start=start if start > float("-inf") else None,
                                 end=end if end < float("inf") else None, about=about, counts=counts))
        return counts

    async def _watch(self, turn: Turn, text: str, t: float, speak: bool, language: str) -> bool:
        """"Tell me when you see a dog", "what are you watching for?", "stop watching for dogs"."""
        ctx = self.ctx
        req, cancel = watch_request(text), cancel_request(text)
        if req is not None and req.kind == "seen" and has_cjk(req.thing):
            # the frames' text side is English: "看到猫的时候告诉我" watches for "cat"
            english = await ctx.run("retrieve", english_name, text, ctx.models.llm, ctx.models.visual, req.thing)
            if english is None:
                log.warning("%s: watch %r could not be named in English; it may never match", ctx.name, req.thing)
            req = renamed(req, english) if english else req
        if req is not None and await ctx.run("memory", self._watcher.add, req, t) is None:  # (embeds, writes its row)
            said = f"I'm already watching for {MAX_WATCHES} things; cancel one first." if language != "zh" else \
                f"我已经在留意{MAX_WATCHES}件事了，请先取消一个。"
        elif req is not None:
            said = f"OK, I'll tell you when {to_you(req.said)}{for_next(req.for_s)}." if language != "zh" else \
                f"好的，{req.said}的时候我会告诉你。"
        elif cancel is not None:
            gone = await ctx.run("memory", self._watcher.cancel, cancel)
            said = ("OK, I've stopped watching for " + ", ".join(w.thing for w in gone) + ".") if gone else \
                "I wasn't watching for that."
        elif list_request(text):
            said = watches_said(self._watcher.watches)
        else:
            return False
        await self._say(turn, text, said, t, speak, language)
        return True
