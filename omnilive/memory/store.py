"""The session's memory of clips, snapshots of it, and grounding of questions to clips.

Clips are append-only, so a snapshot is just a version number (how many clips it sees) plus a
copy of the clip that was still being built: taking one costs nothing, and frames that arrive
while the user speaks cannot change what the answer is grounded on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..events import ClipMemory, GroundedClip


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    partial: ClipMemory | None
    t: float


class MemoryStore:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._clips: list[ClipMemory] = []
        self._vectors = np.zeros((64, dim), dtype=np.float32)
        self._lock = threading.Lock()  # the encoder thread appends while answer threads read

    def __len__(self) -> int:
        return len(self._clips)

    @property
    def clips(self) -> list[ClipMemory]:
        return list(self._clips)

    def add(self, clip: ClipMemory) -> None:
        with self._lock:
            n = len(self._clips)
            if n == len(self._vectors):
                grown = np.zeros((2 * n, self.dim), dtype=np.float32)
                grown[:n] = self._vectors
                self._vectors = grown
            self._vectors[n] = clip.global_vector
            self._clips.append(clip)

    def snapshot(self, t: float, partial: ClipMemory | None) -> Snapshot:
        return Snapshot(version=len(self._clips), partial=partial, t=t)

    def ground(self, query: np.ndarray, snapshot: Snapshot | None = None, k: int = 3) -> list[GroundedClip]:
        """The k clips most similar to the query vector, best first, as seen by ``snapshot``."""
        with self._lock:
            version = len(self._clips) if snapshot is None else snapshot.version
            clips = self._clips[:version]
            vectors = self._vectors[:version]
        if snapshot is not None and snapshot.partial is not None:
            clips = clips + [snapshot.partial]
            vectors = np.vstack([vectors, snapshot.partial.global_vector[None]])
        if not clips:
            return []
        scores = vectors @ query.astype(np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return [
            GroundedClip(clip_id=clips[i].clip_id, start=clips[i].start, end=clips[i].end,
                         score=float(scores[i]), labels=clips[i].labels, text=clips[i].text,
                         keyframe_jpeg=clips[i].keyframe_jpeg)
            for i in best
        ]
