"""Who spoke: the voices a memory has heard, as clusters of speaker embeddings.

Live, each utterance joins the nearest known voice when its cosine to that voice's centroid is at
least ``speaker.same``, or starts a new one ("speaker 2"); the centroid is the running mean of its
utterances. The owner is the voice enrolled as theirs ("this is my voice", the page's button) and is
called "you"; others can be named ("that was Anna"). The voices are kept in the memory's meta, so
ids stay the same across sessions and restarts. A recorded file with no memory is clustered as a
whole instead (``cluster``), which sees every utterance before deciding.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..config import SpeakerConfig

META_KEY = "speakers"
OWNER = "you"
SAME = SpeakerConfig().same  # until a session sets its configured speaker.same


@dataclass
class Voice:
    voice_id: int
    centroid: np.ndarray  # unit vector
    n: int  # utterances averaged into the centroid
    name: str = ""
    owner: bool = False

    @property
    def label(self) -> str:
        """What answers and the page call this voice."""
        return OWNER if self.owner else self.name or f"speaker {self.voice_id}"

    def add(self, emb: np.ndarray) -> None:
        mean = self.centroid * self.n + emb
        self.centroid = (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
        self.n += 1


class SpeakerBook:
    """A memory's voices. Thread-safe: the ASR thread assigns, the memory thread saves."""

    def __init__(self, same: float, db=None) -> None:
        self.same = same
        self._db = db
        self._lock = threading.Lock()
        self._voices: dict[int, Voice] = {}
        if db is not None:
            for v in db.meta().get(META_KEY) or []:
                self._voices[v["id"]] = Voice(v["id"], np.asarray(v["centroid"], np.float32), v["n"], v.get("name", ""),
                                              v.get("owner", False))

    def voices(self) -> list[Voice]:
        with self._lock:
            return list(self._voices.values())

    @property
    def owner(self) -> Voice | None:
        with self._lock:  # (the speaker thread may be adding a voice)
            return next((v for v in self._voices.values() if v.owner), None)

    def assign(self, emb: np.ndarray, new: bool = True) -> Voice | None:
        """The voice this utterance is in: the nearest one close enough, or a new one (``new``:
        speech too short to tell a voice by well may join one, never start one)."""
        with self._lock:
            best = max(self._voices.values(), key=lambda v: float(v.centroid @ emb), default=None)
            if best is not None and float(best.centroid @ emb) >= self.same:
                best.add(emb)
            elif not new:
                return None
            else:
                best = Voice(max(self._voices, default=0) + 1, emb.astype(np.float32), 1)
                self._voices[best.voice_id] = best
        self.save()
        return best

    def enrol_owner(self, voice_id: int) -> Voice | None:
        """Make ``voice_id`` the owner's voice (one owner: a re-enrolment moves it)."""
        with self._lock:
            voice = self._voices.get(voice_id)
            if voice is None:
                return None
            for v in self._voices.values():
                v.owner = v is voice
        self.save()
        return voice

    def name(self, voice_id: int, name: str) -> Voice | None:
        with self._lock:
            voice = self._voices.get(voice_id)
            if voice is not None:
                voice.name = name
        self.save()
        return voice

    def find(self, name: str) -> Voice | None:
        """The voice called ``name`` (case-insensitive)."""
        name = name.strip().lower()
        return next((v for v in self.voices() if v.name.lower() == name), None)

    def is_owner(self, voice_id: int) -> bool | None:
        """True / False once an owner is enrolled and the voice is known; None when it cannot be told."""
        owner = self.owner
        if owner is None or not voice_id:
            return None
        return owner.voice_id == voice_id

    def save(self) -> None:
        if self._db is None:
            return
        with self._lock:
            rows = [{"id": v.voice_id, "centroid": [round(float(x), 5) for x in v.centroid], "n": v.n, "name": v.name,
                     "owner": v.owner} for v in self._voices.values()]
        self._db.set_meta(**{META_KEY: rows})

    def keep_only(self, voice_ids: set[int]) -> None:
        """Forget the voices nothing kept in memory was said in any more (a voice is personal data);
        the owner's enrolment stays, so a forget never opens the door to another voice."""
        with self._lock:
            gone = [i for i, v in self._voices.items() if i not in voice_ids and not v.owner]
            for i in gone:
                del self._voices[i]
        if gone:
            self.save()


def cluster(embeddings: list[np.ndarray], same: float) -> list[int]:
    """Speaker numbers (1, 2, ... in order of first appearance) for the utterances of one recording:
    average-linkage clustering of cosine distances, cut where clusters are less alike than ``same``."""
    if len(embeddings) < 2:
        return [1] * len(embeddings)
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.stack(embeddings)
    tree = linkage(x, method="average", metric="cosine")
    raw = fcluster(tree, t=1.0 - same, criterion="distance")
    order: dict[int, int] = {}
    return [order.setdefault(int(c), len(order) + 1) for c in raw]
