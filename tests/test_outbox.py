"""The two lanes to a client (server/outbox.py): a slow client loses data, never a system event, and
an interrupt takes the cut answer's queued audio out of its way."""

import asyncio

from omnilive.events import (
    AnswerAudio, AnswerDelta, AnswerPaused, ErrorEvent, Interrupt, Notice, SpeechStarted, TranscriptPartial,
)
from omnilive.server.outbox import Outbox


def audio(turn: int, seq: int) -> AnswerAudio:
    return AnswerAudio(turn_id=turn, seq=seq, pcm16=b"\0\0" * 160, sample_rate=16000, text="")


def drain(box: Outbox) -> list:
    async def run():
        return [await box.get() for _ in range(len(box))]
    return asyncio.run(run())


def test_a_full_outbox_drops_data_but_never_a_system_event():
    box = Outbox(limit=4)
    for i in range(10):  # a client that reads nothing
        box.put(TranscriptPartial(t=float(i), turn_id=1, text=f"word {i}"))
    system = [SpeechStarted(t=10.0, turn_id=2), AnswerPaused(t=10.0, turn_id=1),
              Interrupt(t=11.0, reason="speech", cancelled_turn=None), ErrorEvent(stage="asr", message="failed")]
    for ev in system:
        assert box.put(ev)
    assert not box.put(AnswerDelta(turn_id=1, text="late"))  # still full of data
    out = drain(box)
    assert [e.text for e in out if e.type == "transcript_partial"] == [f"word {i}" for i in range(4)]
    assert [e for e in out if e.is_system] == system and box.dropped == 7
    assert box.put(AnswerDelta(turn_id=1, text="room again"))  # read: there is room for data again


def test_an_interrupt_purges_the_cut_turns_queued_audio_and_keeps_the_order_of_the_rest():
    box = Outbox(limit=64)
    note = Notice(turn_id=8, message="shown, not spoken")
    queued = [audio(7, 0), AnswerDelta(turn_id=7, text="Once upon a time"), audio(7, 1), note, audio(8, 0), audio(7, 2)]
    for ev in queued:
        box.put(ev)
    cut = Interrupt(t=3.0, reason="speech", cancelled_turn=7)
    box.put(cut)
    out = drain(box)
    assert out == [queued[1], note, queued[4], cut]  # turn 7's audio gone, its text and everything else in order
    assert box.purged == 3
