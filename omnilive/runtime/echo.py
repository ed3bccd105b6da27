"""Is the speech the microphone hears the assistant's own voice coming back from the speakers?

The server knows every sample of answer audio it sent and when the client should play it. When the
VAD hears speech while an answer plays, the mic audio is compared with that reference over the
possible round-trip delays (``MAX_DELAY_S``): if one delayed, scaled copy of the answer explains most
of the mic's energy, it is echo and interrupts nothing. A person talking over the answer leaves a
residual the answer cannot explain. Browser echo cancellation stays on; this catches what it leaves
(speakers, no headphones, a device without AEC). The same fit takes the answer's echo out of the
user's speech before ASR (``cancel``), so a voice over the answer is transcribed without its words.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from ..events import SAMPLE_RATE

MAX_DELAY_S = 1.0  # network both ways + output and input buffers + the room
KEEP_S = 60.0  # answer audio kept for comparison
EXPLAINED = 0.6  # share of the mic's energy the delayed answer must explain to be taken for echo
CLOCK_CHUNKS = 64  # mic chunks over which the stream-time -> server-time offset is tracked


class EchoReference:
    """The answer audio as the client plays it, on the server's monotonic clock."""

    def __init__(self) -> None:
        self._parts: deque[tuple[float, np.ndarray]] = deque()
        self._held: list[tuple[float, np.ndarray]] = []  # what the client holds while the answer is paused
        self._paused_at: float | None = None
        self._offsets: deque[float] = deque(maxlen=CLOCK_CHUNKS)

    def played(self, start: float, samples: np.ndarray) -> None:
        """``samples`` (16 kHz) start playing at monotonic time ``start`` (once resumed, if paused)."""
        samples = samples.astype(np.float32, copy=False)
        if self._paused_at is not None:
            self._held.append((start, samples))
            return
        self._parts.append((start, samples))
        old = time.monotonic() - KEEP_S  # (answer audio may be queued far ahead of now)
        while self._parts and self._parts[0][0] + len(self._parts[0][1]) / SAMPLE_RATE < old:
            self._parts.popleft()

    def pause(self, at: float) -> None:
        """Playback stops at monotonic ``at``: nothing after it plays until ``resume``."""
        if self._paused_at is not None:
            return
        self._paused_at = at
        keep: deque[tuple[float, np.ndarray]] = deque()
        for s, x in self._parts:
            cut = int(round((at - s) * SAMPLE_RATE))
            if cut >= len(x):
                keep.append((s, x))
            elif cut <= 0:
                self._held.append((s, x))
            else:  # the chunk playing when it paused: its rest plays on resume
                keep.append((s, x[:cut]))
                self._held.append((at, x[cut:]))
        self._parts = keep

    def resume(self, held_s: float) -> None:
        """Playback goes on after ``held_s`` seconds: what was held plays that much later."""
        if self._paused_at is None:
            return
        self._parts.extend((s + held_s, x) for s, x in self._held)
        self._held, self._paused_at = [], None

    def clear(self) -> None:
        """The client dropped its queued audio (an interrupt)."""
        self._parts.clear()
        self._held, self._paused_at = [], None

    def frozen(self) -> "EchoReference":
        """A copy as it is now, for a fit on another thread (the event loop goes on changing this
        one: answer audio sent, paused, resumed, cleared)."""
        copy = EchoReference()
        copy._parts, copy._offsets = deque(self._parts), deque(self._offsets, maxlen=CLOCK_CHUNKS)
        copy._paused_at = self._paused_at
        return copy

    def mic_arrived(self, stream_end: float, now: float) -> None:
        """A mic chunk ending at stream time ``stream_end`` arrived at monotonic ``now``."""
        self._offsets.append(now - stream_end)

    def server_time(self, stream_t: float) -> float:
        """When mic audio of stream time ``stream_t`` reached the server (monotonic); now before any has."""
        if not self._offsets:
            return time.monotonic()
        return stream_t + min(self._offsets)  # the least-delayed chunk tells the capture clock best

    def segment(self, start: float, end: float) -> np.ndarray:
        """Reference audio between monotonic ``start`` and ``end`` (silence where none played)."""
        n = max(0, int(round((end - start) * SAMPLE_RATE)))
        out = np.zeros(n, np.float32)
        for s, x in self._parts:
            a = int(round((s - start) * SAMPLE_RATE))
            lo, hi = max(0, a), min(n, a + len(x))
            if lo < hi:
                out[lo:hi] = x[lo - a : hi - a]
        return out

    def _fit(self, mic: np.ndarray, stream_end: float) -> tuple[float, np.ndarray | None]:
        """The delayed, scaled copy of the answer audio that best matches ``mic`` (ending at stream
        time ``stream_end``), and the share of the mic's energy it accounts for."""
        if not self._parts or not self._offsets or len(mic) < SAMPLE_RATE // 10:
            return 0.0, None
        end = self.server_time(stream_end)
        ref = self.segment(end - len(mic) / SAMPLE_RATE - MAX_DELAY_S, end).astype(np.float64)
        x = mic.astype(np.float64)
        mic_energy = float(x @ x)
        if mic_energy <= 1e-9 or not ref.any():
            return 0.0, None
        lags = len(ref) - len(x) + 1
        size = 1 << int(np.ceil(np.log2(len(ref) + len(x))))
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(x, size)), size)[:lags]
        sq = np.concatenate([[0.0], np.cumsum(ref ** 2)])
        ref_energy = sq[len(x) : len(x) + lags] - sq[:lags]
        score = np.where(ref_energy > 1e-9, corr ** 2 / np.maximum(ref_energy, 1e-9), 0.0)
        k = int(np.argmax(score))
        if score[k] <= 0:
            return 0.0, None
        echo = (corr[k] / ref_energy[k]) * ref[k : k + len(x)]
        return float(score[k] / mic_energy), echo.astype(np.float32)

    def explains(self, mic: np.ndarray, stream_end: float) -> float:
        """Share of ``mic``'s energy that the answer's echo accounts for: near 1 for pure echo, low
        for a voice over it."""
        return self._fit(mic, stream_end)[0]

    def cancel(self, mic: np.ndarray, stream_end: float) -> np.ndarray:
        """``mic`` without the answer's echo (as far as one delayed, scaled copy of it explains it)."""
        share, echo = self._fit(mic, stream_end)
        return mic if echo is None or share < 0.05 else mic - echo

    def is_echo(self, mic: np.ndarray, stream_end: float) -> bool:
        return self.explains(mic, stream_end) >= EXPLAINED
