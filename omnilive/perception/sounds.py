"""Notable sounds in a stream of audio (a phone, an alarm, a dog, a baby, music ...), for heard memory.

The last ``WINDOW_S`` of audio is scored every ``HOP_S`` of stream time by the sound tagger (YAMNet,
about 14 ms per second of stream on one core), and a class of a notable kind
(omnilive/data/sound_kinds.json) above its threshold is a detection. Thresholds were set on the
evaldata sounds (bench/heard_bench.py): the int8 YAMNet gives speech 0.09 at most on every
notable class, and real ESC-50 events 0.5-1.0; music needs more (a dog clip scored "Music" 0.5).
Consecutive detections of one kind merge in the memory (memory/heard.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import SoundTagger
from ..events import SAMPLE_RATE
from ..memory.heard import kind_of, sound_kinds

WINDOW_S = 1.92  # YAMNet patches of 0.96 s every 0.48 s: three per window
HOP_S = 0.96
MIN_SCORE = 0.3
MIN_SCORE_BY_KIND = {"music": 0.6, "animal": 0.6, "vehicle": 0.6}  # generic kinds need more evidence
MAX_PER_WINDOW = 2  # distinct kinds kept from one window (a dog over music)


@dataclass(frozen=True, slots=True)
class Detection:
    start: float
    end: float
    label: str  # the AudioSet class
    score: float


class SoundWindows:
    """Overlapping windows on the stream's clock: the last ``WINDOW_S`` of audio every ``HOP_S``
    (a bark is shorter than a window; with one patch per window, most barks fell between them)."""

    def __init__(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self._end: float | None = None  # stream time at the end of the buffer
        self._due: float | None = None  # stream time at which the next window is complete

    def feed(self, t: float, samples: np.ndarray) -> tuple[float, np.ndarray] | None:
        """Add a chunk starting at stream time ``t``; a window (start, samples) when one is due."""
        keep = int(WINDOW_S * SAMPLE_RATE)
        self._buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])[-keep:]
        self._end = t + len(samples) / SAMPLE_RATE
        if self._due is None:
            self._due = t + WINDOW_S
        if self._end < self._due:
            return None
        self._due = self._end + HOP_S
        return self._end - len(self._buf) / SAMPLE_RATE, self._buf.copy()


def notable(tagger: SoundTagger) -> np.ndarray:
    """Indices of the tagger's classes that belong to a notable kind."""
    classes = {c for names in sound_kinds()[0].values() for c in names}
    return np.array([i for i, label in enumerate(tagger.labels) if label in classes], dtype=np.int64)


def detect(tagger: SoundTagger, classes: np.ndarray, start: float, samples: np.ndarray) -> list[Detection]:
    """The notable sounds in one window, most specific kind first (a bark before "Animal")."""
    scores = tagger.scores(samples).max(axis=0)
    found: dict[str, Detection] = {}
    for i in classes[np.argsort(-scores[classes])][:12]:
        label, score = tagger.labels[i], float(scores[i])
        kind = kind_of(label)
        if kind is None or score < MIN_SCORE_BY_KIND.get(kind, MIN_SCORE):
            continue
        if kind not in found:
            found[kind] = Detection(start, start + len(samples) / SAMPLE_RATE, label, score)
    specific = [d for k, d in found.items() if k not in MIN_SCORE_BY_KIND]
    generic = [d for k, d in found.items() if k in MIN_SCORE_BY_KIND and not (k == "animal" and specific)]
    return (specific + generic)[:MAX_PER_WINDOW]
