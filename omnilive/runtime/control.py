"""The turn controller: what speech over an answer does, in one place.

Speech over an answer first *holds* it (the client pauses its audio; it is not the answer's own
voice in the mic: ``is_echo``). Once that speech is understood, ``settle`` cuts the answer (a
question, a stop, the speaker going on with a turn ended too early) or resumes it (a cough, "mm-hm",
talk not meant for the assistant), once the speaker can no longer be going on with it.
``interrupt`` is the one way an answer is cut: the turn's LLM, TTS and queued data stop
(runtime/turn.py), the client is told (``Interrupt``, a system event that also purges the turn's
queued audio on the way out: server/outbox.py), and the conversation keeps what the user heard.

Every turn for the assistant ends once, with a ``TurnEnded`` event (answered when its audio has
played out, or interrupted / stopped with what was heard of it): the conversation log, heard memory
and the LLM's conversation subscribe to that, not to the several ways a turn can end.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection

import numpy as np

from ..events import Answer, AnswerPaused, AnswerResumed, Interrupt, Query, TurnEnded, Utterance
from ..perception.vad import SpeechDetector
from ..text import join_pieces
from .context import SessionContext
from .echo import EchoReference
from .turn import Turn, Turns, interrupts

log = logging.getLogger(__name__)

PLAYOUT_RECHECK_S = 0.25  # a paused answer's end of playout is looked for again this often


def _cut_state(reason: str | None) -> str:
    return "stopped" if reason == "command" else "interrupted"


class TurnControl:
    def __init__(self, ctx: SessionContext, detector: SpeechDetector) -> None:
        self.ctx, self._detector = ctx, detector
        self.turns = Turns()
        self.echo = EchoReference()  # the answer as played, to tell its echo from the user
        self.held_by: int | None = None  # the speech an answer is paused for, until it is understood
        # (turn, what was heard): no interruption, but that turn ended moments ago and the speaker
        # may still go on with it (which may yet interrupt): resume once they cannot
        self._resume_after: tuple[int, str] | None = None
        self._heard_last: tuple[int, str] = (0, "")  # the last utterance: one that joins it must add words
        self._stopped: tuple[int, int] | None = None  # (the stop's turn, the answer it cut), while it may be joined
        self._playing: dict[int, tuple[Query, Turn]] = {}  # answers written and sent, their audio still playing

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
        self.ctx.emit(Interrupt(t=t, reason=reason, cancelled_turn=cancelled))
        if cut is not None and cancelled == cut.turn_id and cut.turn_id in self._playing:  # written, heard in part
            query, _ = self._playing.pop(cut.turn_id)
            self._ended(cut, query, _cut_state(reason), cut.heard())
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

    # ---- how a turn ends ------------------------------------------------------------------------

    def _ended(self, turn: Turn, query: Query | None, state: str, said: str) -> None:
        if state != "answered" and said:
            said += " …"  # cut off
        self.ctx.emit(TurnEnded(turn_id=turn.turn_id, state=state, said=said, query=query,
                                search_text=turn.search_text))

    def dropped(self, turn: Turn) -> None:
        """A question interrupted before its answer began: it ends here, unanswered, and the client
        and the conversation log hear that it ended (an empty, interrupted answer)."""
        log.info("%s: turn %d was interrupted before its answer; not answered", self.ctx.name, turn.turn_id)
        self.turns.close(turn.turn_id)
        self.ctx.emit(Answer(turn_id=turn.turn_id, text="", interrupted=True))
        self._ended(turn, None, _cut_state(turn.reason), "")

    def answered(self, query: Query, turn: Turn) -> None:
        """The answer is written and its audio sent: the turn ends once that audio has played at
        the client (the server counts what it sent, pauses included), or now if it was not spoken."""
        self._playing[turn.turn_id] = (query, turn)
        self._when_played(turn.turn_id)

    def _when_played(self, turn_id: int) -> None:
        item = self._playing.get(turn_id)
        if item is None:  # cut meanwhile (interrupt ended it)
            return
        query, turn = item
        left = turn.playout_until - time.monotonic()
        if turn.paused_at is not None or left > 0:
            self.ctx.loop.call_later(max(left, PLAYOUT_RECHECK_S), self._when_played, turn_id)
            return
        del self._playing[turn_id]
        self._ended(turn, query, "answered", turn.answer)

    def answer_cut(self, query: Query, turn: Turn, written: list[str]) -> None:
        """An answer cancelled while it was being written: it ends with what the user heard of it
        (or read, when it was not spoken)."""
        turn.interrupt(turn.reason or "cancel")
        if not turn.finished:
            turn.finished = True
            self._ended(turn, query, _cut_state(turn.reason), turn.heard() if query.speak else join_pieces(written))

    def end_all(self, heard: bool) -> None:
        """The session is ending: answers still playing end now, as heard in full (``heard``: the
        input is over, a replay) or as far as they have played (the client is gone)."""
        now = time.monotonic()
        for turn_id, (query, turn) in list(self._playing.items()):
            del self._playing[turn_id]
            if heard or not turn.playing:
                self._ended(turn, query, "answered", turn.answer)
            else:
                self._ended(turn, query, "interrupted", turn.heard(until=now))

    def talked_over(self, joined: Turn, began: float) -> bool:
        """Did speech that began at stream time ``began`` start once ``joined``'s answer was playing?
        Then it is said over that answer (a barge-in), not the speaker going on with the question."""
        return bool(joined.sent) and joined.sent[0][0] <= self.echo.server_time(began)

    def hold(self, t: float, turn_id: int) -> None:
        """Speech over an answer: pause its playback until the speech is understood (``settle``)."""
        self.held_by, self._resume_after = turn_id, None
        turn = self.turns.speaking()
        if turn is not None:
            self.pause(turn, t)

    def holds_answer(self, turn_id: int) -> bool:
        """Is an answer paused for speech ``turn_id`` (said over it, not yet understood)?"""
        turn = self.turns.speaking()
        return self.held_by == turn_id and turn is not None and turn.paused_at is not None

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
