"""The turn controller: what speech over an answer does, in one place.

Speech over an answer first *holds* it (the client pauses its audio; it is not the answer's own
voice in the mic: ``is_echo``). Once that speech is understood, ``settle`` cuts the answer (a
question, a stop, the speaker going on with a turn ended too early) or resumes it (a cough, "mm-hm",
talk not meant for the assistant), once the speaker can no longer be going on with it.
``interrupt`` is the one way an answer is cut: the turn's LLM, TTS and queued data stop
(runtime/turn.py), the client is told (``Interrupt``, a system event that also purges the turn's
queued audio on the way out: server/outbox.py), and the conversation keeps what the user heard.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection

import numpy as np

from ..events import Answer, AnswerPaused, AnswerResumed, Interrupt, Query, Utterance
from ..perception.vad import SpeechDetector
from .context import SessionContext
from .echo import EchoReference
from .hearing import Hearing
from .turn import Turn, Turns, interrupts

log = logging.getLogger(__name__)


class TurnControl:
    def __init__(self, ctx: SessionContext, detector: SpeechDetector, hearing: Hearing) -> None:
        self.ctx, self._detector, self._hearing = ctx, detector, hearing
        self.turns = Turns()
        self.echo = EchoReference()  # the answer as played, to tell its echo from the user
        self.held_by: int | None = None  # the speech an answer is paused for, until it is understood
        # (turn, what was heard): no interruption, but that turn ended moments ago and the speaker
        # may still go on with it (which may yet interrupt): resume once they cannot
        self._resume_after: tuple[int, str] | None = None
        self._heard_last: tuple[int, str] = (0, "")  # the last utterance: one that joins it must add words
        self._stopped: tuple[int, int] | None = None  # (the stop's turn, the answer it cut), while it may be joined

    def is_echo(self, audio: np.ndarray, t: float) -> bool:
        """Is ``audio`` (the mic up to stream time ``t``) the answer playing at the client? Also
        just after an answer ended: the room and the network still carry its last words."""
        return self.echo.is_echo(audio, t)

    def interrupt(self, t: float, reason: str, keep: Collection[int] = ()) -> int | None:
        """Cut the answer being given or played and drop every question still on its way (except
        the turns in ``keep``), then tell the client. Returns the id of the answer cut, if any."""
        cut = self.turns.speaking()
        cancelled = self.turns.interrupt(reason, keep=keep)
        self.ctx.counters.interrupts += cancelled is not None
        self._resume_after = None  # nothing held is left to play on
        if cancelled is not None:
            self.echo.clear()  # the client drops what it had queued
        if cut is not None and cancelled == cut.turn_id and cut.finished:  # generated, but heard only in part
            self.ctx.conversation.cut_short(cut.answer, cut.heard())
        self.ctx.emit(Interrupt(t=t, reason=reason, cancelled_turn=cancelled))
        return cancelled

    def stop(self, by: int | None = None) -> None:
        """The user asked the assistant to stop talking: a "stop" command said in turn ``by`` (what
        they began to say after it is kept: "Wait. What else ...") or the page's button."""
        later = self.turns.opened_after(by) if by is not None else set()
        cut = self.interrupt(self.ctx.stream_t, "command", keep=later)
        self._stopped = (by, cut) if by is not None and cut is not None else None

    def _stop_was_a_start(self, utt: Utterance) -> None:
        """"Wait, what else did you see?" heard as "Wait." (a stop, carried out at once) and then the
        rest, joining it: the answer was cut by a question, not stopped. The client and the
        conversation log are told so (the same turn, interrupted for ``speech``)."""
        if self._stopped is None or utt.joins != self._stopped[0]:
            return
        by, cut = self._stopped
        self._stopped = None
        if utt.command != "stop" and utt.for_assistant:
            log.info("%s: stop %d went on as %r; turn %d was interrupted by it", self.ctx.name, by, utt.text, cut)
            self.ctx.emit(Interrupt(t=utt.end, reason="speech", cancelled_turn=cut))

    def dropped(self, turn: Turn) -> None:
        """A question interrupted before its answer began: it ends here, unanswered, and the client
        and the conversation log hear that it ended (an empty, interrupted answer)."""
        log.info("%s: turn %d was interrupted before its answer; not answered", self.ctx.name, turn.turn_id)
        self.turns.close(turn.turn_id)
        self.ctx.emit(Answer(turn_id=turn.turn_id, text="", interrupted=True))

    def answer_cut(self, query: Query, turn: Turn, written: list[str]) -> None:
        """An answer cancelled while it was being written: the conversation and heard memory keep
        what the user heard of it (or read, when it was not spoken), marked as cut off."""
        turn.interrupt(turn.reason or "cancel")
        heard = turn.heard() if query.speak else " ".join(written)
        if heard and not turn.finished:
            self._hearing.answer(query, heard + " …", self.ctx.stream_t + self.ctx.t_offset)
            self.ctx.conversation.remember(query.text, heard + " …", query.kind, turn.search_text or query.text,
                                           query.clips)
        turn.finished = True

    def hold(self, t: float, turn_id: int) -> None:
        """Speech over an answer: pause its playback until the speech is understood (``settle``)."""
        self.held_by, self._resume_after = turn_id, None
        turn = self.turns.speaking()
        if turn is not None:
            self.pause(turn, t)

    def pause(self, turn: Turn, t: float) -> None:
        if turn.pause():
            self.ctx.counters.answers_paused += 1
            self.echo.pause(turn.paused_at)
            self.ctx.emit(AnswerPaused(t=t, turn_id=turn.turn_id))

    def settle(self, utt: Utterance) -> Utterance:
        """The speech an answer was paused for is understood: a stop or a question interrupts it;
        noise, "mm-hm" and talk not meant for the assistant let it play on (once the speaker cannot
        be going on with it any more). Returns the utterance, a backchannel no longer a question."""
        joined_text = self._heard_last[1] if utt.joins is not None and self._heard_last[0] == utt.joins else ""
        self._heard_last = (utt.turn_id, utt.text)
        self._stop_was_a_start(utt)
        if utt.turn_id != self.held_by:
            return utt
        self.held_by = None
        if interrupts(utt, joined_text):
            if utt.command != "stop":  # (a stop is carried out when it is dispatched)
                self.interrupt(utt.end, "speech", keep={utt.turn_id})
            return utt
        if self._detector.joinable(utt.turn_id):
            self._resume_after = (utt.turn_id, utt.text)
        else:
            self.resume(utt.end, utt.text)
        return dataclasses.replace(utt, for_assistant=False)

    def resume_if_due(self) -> None:
        if self._resume_after is not None and not self._detector.joinable(self._resume_after[0]) \
                and not self._detector.in_speech:
            heard, self._resume_after = self._resume_after[1], None
            self.resume(self.ctx.stream_t, heard)

    def settle_unheard(self, turn_id: int) -> None:
        """The speech an answer was paused for will never be understood (ASR failed or was behind)."""
        if turn_id == self.held_by:
            self.held_by = None
            self.resume(self.ctx.stream_t, "")

    def resume(self, t: float, heard: str) -> None:
        turn = self.turns.speaking()
        if turn is not None and turn.paused_at is not None:
            if (held := turn.resume()) is not None:
                self.echo.resume(held)
                self.ctx.counters.answers_resumed += 1
                log.info("%s: %r was no interruption; turn %d plays on", self.ctx.name, heard, turn.turn_id)
                self.ctx.emit(AnswerResumed(t=t, turn_id=turn.turn_id, heard=heard))
