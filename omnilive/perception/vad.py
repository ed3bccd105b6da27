"""Streaming speech detection: turns a stream of 16 kHz audio into speech-start / speech-end events.

Start is reported once speech has been confident for ``min_speech_ms`` (so a cough or a door does
not interrupt the assistant); the utterance handed to ASR includes ``preroll_ms`` of audio from
before that point so the first syllable is not cut. End is reported after ``min_silence_ms`` below
a lower threshold (hysteresis keeps brief pauses inside one utterance). A pause of
``early_asr_ms`` is reported too (SpeechPaused, with the audio the end would carry), so ASR can
start before the end is certain.

With an end-of-turn model (``turn``: Smart Turn), silence alone does not decide: after
``turn.check_ms`` of it the model hears the utterance so far; a finished turn ends there (sooner
than a fixed timeout), an unfinished one ("I left my keys on the ...") waits ``turn.incomplete_ms``
for the speaker to go on. And no end is final at once: if the speaker goes on within
``turn.join_ms``, the new speech *joins* the turn (SpeechStarted/SpeechEnded ``joins``, the audio
of both and the gap between), so a pause taken for the end costs a restarted answer, not half a
question; unless the runtime finds it said over that turn's answer (``part_ways``). (Joining needs
the model: batch transcription cuts at every pause.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..backends.base import EndOfTurnModel, VADStream
from ..config import TurnConfig, VADConfig
from ..events import SAMPLE_RATE, SpeechEnded, SpeechPaused, SpeechStarted

BACKGROUND_S = 3.0  # audio kept from before speech start, for background sound tags
TAIL_MS = 200  # trailing silence kept on an utterance: Whisper likes a little tail

VADEvent = SpeechStarted | SpeechPaused | SpeechEnded


@dataclass
class _Active:
    turn_id: int
    start: float
    parts: list[np.ndarray]
    started_emitted: bool = False
    complete: float | None = None  # the end-of-turn model's verdict on the current pause
    joins: int | None = None  # the turn (ended moments ago) this speech continues
    began: float = 0.0  # stream time of its first confident window (of this speech, if it joined)
    alone: tuple[float, int] | None = None  # joined: this speech's own start (pre-roll) and first part


class SpeechDetector:
    def __init__(self, stream: VADStream, cfg: VADConfig, first_turn: int = 1,
                 end_of_turn: EndOfTurnModel | None = None, turn_cfg: TurnConfig | None = None) -> None:
        self._vad = stream
        self._cfg = cfg
        self._eot = end_of_turn
        self._turn_cfg = turn_cfg or TurnConfig()
        self._win = stream.window
        self._pending = np.zeros(0, dtype=np.float32)
        self._t = 0.0  # stream time of the first sample in _pending
        self._history: deque[np.ndarray] = deque(maxlen=int(BACKGROUND_S * SAMPLE_RATE / self._win) + 1)
        self._active: _Active | None = None
        self._speech_run = 0  # consecutive confident windows
        self._silence_run = 0
        self._next_turn = first_turn
        self._background: np.ndarray | None = None
        self._ended: SpeechEnded | None = None  # the turn just ended: speech soon after joins it
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self._active is not None and self._active.started_emitted

    @property
    def turn_id(self) -> int | None:
        """The turn being spoken, once its start has been reported."""
        return self._active.turn_id if self.in_speech else None

    @property
    def voice_began(self) -> float:
        """Stream time the voice being heard was first confident (its own, not the turn it joined)."""
        return self._active.began if self._active is not None else self._t

    def joinable(self, turn_id: int) -> bool:
        """Did turn ``turn_id`` end so recently that speech may still join it?"""
        return self._ended is not None and self._ended.turn_id == turn_id

    @property
    def voiced(self) -> bool:
        """The latest window was confident speech (not a pause that may be the end)."""
        return self.in_speech and self.last_probability >= self._cfg.threshold

    def restart(self, seconds: float) -> None:
        """Keep only the last ``seconds`` of the utterance being spoken: what came before was not
        the user's (the answer's echo, until a voice joined it)."""
        if self._active is not None:
            keep = self.current_audio(seconds)
            self._active.parts = [keep]
            self._active.start = self._t - len(keep) / SAMPLE_RATE
            if self._active.alone is not None:
                self._active.alone = (self._active.start, 0)

    def part_ways(self) -> None:
        """The speech being spoken does not go on with the turn it joined (it was said over that
        turn's answer): it becomes a turn of its own, its audio from its own start."""
        active = self._active
        if active is not None and active.alone is not None:
            (active.start, first), active.alone, active.joins = active.alone, None, None
            active.parts = active.parts[first:]

    def current_audio(self, seconds: float | None = None) -> np.ndarray:
        """The utterance being spoken so far (its last ``seconds``), for partial transcripts and the
        echo check; empty between utterances."""
        if self._active is None:
            return np.zeros(0, np.float32)
        x = np.concatenate(self._active.parts)
        return x if seconds is None else x[-int(seconds * SAMPLE_RATE):]

    def _windows(self, ms: int) -> int:
        return max(1, round(ms * SAMPLE_RATE / 1000 / self._win))

    def feed(self, t: float, samples: np.ndarray) -> list[VADEvent]:
        """Feed audio whose first sample is at stream time ``t``; returns the events it completes."""
        if len(self._pending) == 0:
            self._t = t
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        events: list[VADEvent] = []
        n = len(self._pending) // self._win
        for i in range(n):
            window = self._pending[i * self._win : (i + 1) * self._win]
            ev = self._step(self._t + i * self._win / SAMPLE_RATE, window)
            if ev is not None:
                events.append(ev)
        self._pending = self._pending[n * self._win :]
        self._t += n * self._win / SAMPLE_RATE
        return events

    def flush(self) -> list[SpeechEnded]:
        """End of stream: close an utterance in progress."""
        self._ended = None  # nothing more will be said
        if self._active is not None and self._active.started_emitted:
            return [self._close(self._t)]
        self._active = None
        return []

    def _step(self, t: float, window: np.ndarray) -> VADEvent | None:
        cfg = self._cfg
        p = self._vad(window)
        self.last_probability = p
        win_end = t + self._win / SAMPLE_RATE
        if self._active is None:
            self._history.append(window)
            ended = self._ended
            if ended is not None and win_end - ended.t > self._turn_cfg.join_ms / 1000:
                ended = self._ended = None
            if p >= cfg.threshold:
                self._speech_run += 1
                if self._speech_run == 1:
                    hist = list(self._history)
                    preroll = self._windows(cfg.preroll_ms)
                    keep = hist[-(preroll + 1):]
                    start = win_end - len(keep) * self._win / SAMPLE_RATE
                    if ended is not None:  # the speaker went on: this speech, the gap and that turn are one
                        self._background = ended.background
                        parts = [ended.samples, *hist]
                        self._active = _Active(self._next_turn, ended.start, parts, began=t, joins=ended.turn_id,
                                               alone=(max(0.0, start), len(parts) - len(keep)))
                        return None
                    background = np.concatenate(hist[: -len(keep)]) if len(hist) > len(keep) else None
                    self._background = background
                    self._active = _Active(self._next_turn, max(0.0, start), list(keep), began=t)
            else:
                self._speech_run = 0
            return self._maybe_start(win_end)
        active = self._active
        active.parts.append(window)
        quiet = p < max(0.01, cfg.threshold - 0.15)
        if p >= cfg.threshold:
            self._speech_run += 1
            self._silence_run = 0
            active.complete = None  # the speaker went on: the next pause gets its own verdict
        elif quiet:
            self._silence_run += 1
            if not active.started_emitted:
                # A blip shorter than min_speech: forget it.
                self._reset()
                return None
        if active.started_emitted and quiet and self._eot is not None and active.complete is None \
                and self._silence_run == self._windows(self._turn_cfg.check_ms):
            active.complete = self._eot.complete(self._audio())
            if active.complete >= self._turn_cfg.complete:
                return self._close(win_end)
        if active.started_emitted and (
            self._silence_run >= self._windows(self._end_silence_ms(active))
            or win_end - active.start >= cfg.max_utterance_s
        ):
            return self._close(win_end)
        if active.started_emitted and cfg.early_asr_ms and quiet and self._silence_run == self._early_windows():
            return SpeechPaused(t=win_end, turn_id=active.turn_id, start=active.start,
                                samples=self._audio(), background=self._background)
        return self._maybe_start(win_end)

    def _end_silence_ms(self, active: _Active) -> int:
        """Silence that ends the turn: the fixed one, or longer when the model heard it unfinished."""
        if active.complete is not None:  # (only asked with a model)
            return self._turn_cfg.incomplete_ms
        return self._cfg.min_silence_ms

    def _early_windows(self) -> int:
        """Never earlier than the kept tail, so a pause's audio is exactly what the end will carry."""
        return self._windows(max(self._cfg.early_asr_ms, TAIL_MS))

    def _audio(self) -> np.ndarray:
        """The utterance so far, trailing silence trimmed to TAIL_MS."""
        active = self._active
        assert active is not None
        drop = max(0, self._silence_run - self._windows(TAIL_MS))
        return np.concatenate(active.parts[: len(active.parts) - drop] if drop else active.parts)

    def _maybe_start(self, now: float) -> SpeechStarted | None:
        active = self._active
        if active is None or active.started_emitted:
            return None
        if self._speech_run >= self._windows(self._cfg.min_speech_ms):
            active.started_emitted = True
            self._next_turn += 1
            return SpeechStarted(t=now, turn_id=active.turn_id, joins=active.joins)
        return None

    def _close(self, end: float) -> SpeechEnded:
        active = self._active
        assert active is not None
        ev = SpeechEnded(t=end, turn_id=active.turn_id, start=active.start, samples=self._audio(),
                         background=self._background, complete=active.complete, joins=active.joins)
        self._reset()
        self._ended = ev if self._eot is not None and self._turn_cfg.join_ms else None
        return ev

    def _reset(self) -> None:
        self._active = None
        self._speech_run = 0
        self._silence_run = 0
        self._background = None
        self._history.clear()
