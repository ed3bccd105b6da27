"""Is the speech the microphone hears the assistant's own voice coming back from the speakers?

The server knows every sample of answer audio it sent and when the client should play it. When the
VAD hears speech while an answer plays, the mic audio is compared with that reference over the
possible round-trip delays (``MAX_DELAY_S``): if one delayed, scaled copy of the answer explains most
of the mic's energy, it is echo and interrupts nothing. A person talking over the answer leaves a
residual the answer cannot explain. Browser echo cancellation stays on; this catches what it leaves
(speakers, no headphones, a device without AEC).
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
        self._offsets: deque[float] = deque(maxlen=CLOCK_CHUNKS)

    def played(self, start: float, samples: np.ndarray) -> None:
        """``samples`` (16 kHz) start playing at monotonic time ``start``."""
        self._parts.append((start, samples.astype(np.float32, copy=False)))
        old = time.monotonic() - KEEP_S  # (answer audio may be queued far ahead of now)
        while self._parts and self._parts[0][0] + len(self._parts[0][1]) / SAMPLE_RATE < old:
            self._parts.popleft()

    def held(self, since: float, seconds: float) -> None:
        """Playback was paused at ``since`` for ``seconds``: what was still to play moves later."""
        self._parts = deque((s + seconds if s >= since else s, x) for s, x in self._parts)

    def clear(self) -> None:
        """The client dropped its queued audio (an interrupt)."""
        self._parts.clear()

    def mic_arrived(self, stream_end: float, now: float) -> None:
        """A mic chunk ending at stream time ``stream_end`` arrived at monotonic ``now``."""
        self._offsets.append(now - stream_end)

    def _to_server_time(self, stream_t: float) -> float:
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

    def explains(self, mic: np.ndarray, stream_end: float) -> float:
        """Share of ``mic``'s energy (ending at stream time ``stream_end``) that one delayed, scaled
        copy of the answer audio accounts for: near 1 for pure echo, low for a voice over it."""
        if not self._parts or not self._offsets or len(mic) < SAMPLE_RATE // 10:
            return 0.0
        end = self._to_server_time(stream_end)
        ref = self.segment(end - len(mic) / SAMPLE_RATE - MAX_DELAY_S, end)
        mic = mic.astype(np.float64)
        mic_energy = float(mic @ mic)
        if mic_energy <= 1e-9 or not ref.any():
            return 0.0
        lags = len(ref) - len(mic) + 1
        size = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size)), size)[:lags]
        sq = np.concatenate([[0.0], np.cumsum(ref.astype(np.float64) ** 2)])
        ref_energy = sq[len(mic) : len(mic) + lags] - sq[:lags]
        score = np.where(ref_energy > 1e-9, corr ** 2 / np.maximum(ref_energy, 1e-9), 0.0)
        return float(score.max() / mic_energy)

    def is_echo(self, mic: np.ndarray, stream_end: float) -> bool:
        return self.explains(mic, stream_end) >= EXPLAINED
