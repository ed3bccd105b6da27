"""The session's memory: recent clips (short-term) and consolidated episodes (long-term), snapshots
of it, and grounding of questions to it.

Snapshots are cheap because nothing in memory is ever modified in place: sealed episodes are only
appended (a snapshot records how many it sees), and the short-term window is an immutable tuple
replaced on each change (a snapshot keeps a reference). The window is bounded by
``short_term_s`` + ``episode_max_s``, so taking a snapshot and sealing a clip cost the same after
ten minutes or ten hours. Questions are scored against every item (see ranking.py).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backends.base import TextEmbedder, VisualEncoder
from ..config import MemoryConfig
from ..events import ClipMemory, GroundedClip, HeardItem
from ..perception.scene import coco_said
from .heard import HeardMemory
from .speakers import SAME, SpeakerBook
from .longterm import Consolidator, Episode
from .db import MemoryDB, open_db
from .ram import RamMemoryDB
from .clips import CONCEPTS
from .ranking import Candidate, Vocabulary, concept_scores, content_words, query_text, rank
from .rows import grounded

FORGET_MIN = 0.5  # "delete what I said about X": what matches X this well (words + meaning, heard.py)
PRESELECT = 48  # candidates kept by vector score before re-ranking (plus every word match)


@dataclass(frozen=True, slots=True)
class Snapshot:
    t: float
    version: int  # clips sealed so far (ids below this existed)
    short: tuple[ClipMemory, ...]
    n_episodes: int
    n_rows: int
    extra: tuple[ClipMemory, ...] = ()  # clips not in the store yet (the one being built, ...)
    generation: int = 0  # the store's forget count when taken: an older snapshot is retaken


@dataclass(frozen=True, slots=True)
class _Keys:
    """What ranking needs of one clip or episode besides its vectors (computed once)."""

    label_words: frozenset[str]
    text_words: frozenset[str]
    concepts: np.ndarray | None
    priors: np.ndarray | None


class _Rows:
    """A growable matrix: appended rows never move, so a prefix is a consistent view."""

    def __init__(self, dim: int, dtype=np.float32) -> None:
        self.data = np.zeros((256, dim), dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self.data):
            grown = np.zeros((max(need, 2 * len(self.data)), self.data.shape[1]), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n: need] = rows
        self.n = need


class MemoryStore:
    def __init__(self, dim: int, cfg: MemoryConfig | None = None, db: MemoryDB | None = None,
                 encoder: VisualEncoder | None = None, text: TextEmbedder | None = None) -> None:
        """``db`` keeps the rows (memory/db.py; in RAM when none is given); ``encoder`` supplies the
        label words and concept vocabulary used in ranking (optional); ``text`` embeds what was
        heard for search by meaning (without it: by words only)."""
        self.dim = dim
        self.db: MemoryDB = db if db is not None else RamMemoryDB(encoder.name if encoder is not None else "", dim)
        self.heard = HeardMemory(self.db, text, cfg)
        self.speakers = SpeakerBook(SAME, self.db)  # the session sets speaker.same
        self.cfg = cfg or MemoryConfig()
        self._label_text = encoder.label_words if encoder is not None else (lambda label: label)
        self._vocab = Vocabulary.of(encoder)
        self._lock = threading.Lock()  # the encoder thread adds while answer threads read
        self._generation = 0
        self._next_clip = 0
        clips, episodes = self.db.load(dim)
        self._rebuild(clips, episodes)

    def _rebuild(self, clips: list[ClipMemory], episodes: list[Episode]) -> None:
        """(Re)build the in-RAM indexes from these clips and episodes (at open, after a forget)."""
        self._clip_keys: dict[int, _Keys] = {c.clip_id: self._keys(c) for c in clips}  # short-term id -> keys
        self._short: tuple[ClipMemory, ...] = tuple(clips)
        self._fed = 0  # short-term clips (from the front) already given to the consolidator
        self._episodes: list[Episode] = []
        self._rows = _Rows(self.dim)
        self._row_start: list[int] = []
        self._words: dict[str, list[int]] = defaultdict(list)  # label/OCR word -> episode indices
        self._episode_keys: list[_Keys] = []
        self._ep_concepts = _Rows(CONCEPTS, np.int32)  # per episode: concept indices ...
        self._ep_priors = _Rows(CONCEPTS)  # ... and their prior terms (see ranking.py)
        for e in episodes:
            self._append_episode(e)
        ids = [c.clip_id for c in clips] + [e.last_clip for e in episodes]
        self._next_clip = max([self._next_clip - 1, *ids]) + 1
        # an episode being built starts again (ids of deleted episodes may be reused: they are gone)
        self._consolidator = Consolidator(self.cfg, first_id=episodes[-1].episode_id + 1 if episodes else 0)

    @classmethod
    def open(cls, where: str | Path | None, encoder: VisualEncoder, cfg: MemoryConfig,
             text: TextEmbedder | None = None) -> "MemoryStore":
        """The memory at ``where`` for this encoder's embedding space: a directory, with ``cfg.url``
        set a memory's name in that PostgreSQL database, or with ``where`` None one in RAM."""
        return cls(encoder.dim, cfg, open_db(where, encoder.name, encoder.dim, cfg.url), encoder, text)

    def _keys(self, item: ClipMemory | Episode) -> "_Keys":
        """Label words: the classifier's labels and what they are kinds of, and the detected
        objects with their colours ("silver car": "the red car" finds it by its words)."""
        idx, prior = self._vocab.encode(item.concepts, CONCEPTS) if self._vocab else (None, None)
        seen = [self._label_text(x) for x in item.labels]
        if item.scene is not None:
            seen += [f"{o.colour} {o.label} {coco_said(o.label)}{' people' if o.label == 'person' else ''}"
                     for o in item.scene.objects]
        return _Keys(frozenset(content_words(" ".join(seen))), frozenset(content_words(item.text)), idx, prior)

    def __len__(self) -> int:
        """Clips sealed so far (short-term plus those consolidated into episodes)."""
        return self._next_clip

    @property
    def next_clip_id(self) -> int:
        return self._next_clip

    @property
    def end(self) -> float:
        """Stream time at which the latest memory ends (0 when empty): seen or heard."""
        seen = self._short[-1].end if self._short else self._episodes[-1].end if self._episodes else 0.0
        return max(seen, self.heard.end)

    def resume_at(self, live: bool) -> float:
        """Stream time at which new input continues this memory: right after its end, plus, for a
        live session, the wall-clock time that passed since (so "10 minutes ago" stays true)."""
        if self.end == 0.0:
            return 0.0
        gap = 1.0
        if live:
            gap = max(gap, time.time() - float(self.db.meta().get("wall_end", time.time())))
        return self.end + gap

    @property
    def clips(self) -> list[ClipMemory]:
        return list(self._short)

    @property
    def episodes(self) -> list[Episode]:
        return list(self._episodes)

    def add(self, clip: ClipMemory, source: tuple[str, str, float, float] | None = None) -> list[Episode]:
        """Keep a sealed clip (committed to disk first, with an ingested file's progress ``source``
        in the same transaction), then consolidate what has grown old."""
        self.db.add_clip(clip, wall_end=time.time(), source=source)
        keys = self._keys(clip)
        with self._lock:
            self._clip_keys[clip.clip_id] = keys
            self._short = self._short + (clip,)
            self._next_clip = max(self._next_clip, clip.clip_id + 1)
        return self._consolidate(now=clip.end)

    def _consolidate(self, now: float) -> list[Episode]:
        sealed = []
        horizon = now - self.cfg.short_term_s
        while self._fed < len(self._short) and self._short[self._fed].end <= horizon:
            episode = self._consolidator.add(self._short[self._fed])
            self._fed += 1
            if episode is not None:
                self._store_episode(episode)
                sealed.append(episode)
        return sealed

    def _store_episode(self, e: Episode) -> None:
        ids = [c.clip_id for c in self._short[: e.n_clips]]
        self.db.add_episode(e, ids)
        with self._lock:
            self._append_episode(e)
            for c in self._short[: e.n_clips]:
                self._clip_keys.pop(c.clip_id, None)
            self._short = self._short[e.n_clips:]
            self._fed -= e.n_clips

    def _append_episode(self, e: Episode) -> None:
        index = len(self._episodes)
        self._row_start.append(self._rows.n)
        self._rows.extend(e.vectors.astype(np.float32))
        keys = self._keys(e)
        for w in keys.label_words | keys.text_words:
            self._words[w].append(index)
        self._episode_keys.append(keys)
        if keys.concepts is not None:
            self._ep_concepts.extend(keys.concepts[None])
            self._ep_priors.extend(keys.priors[None])
        self._episodes.append(e)

    def snapshot(self, t: float, extra: tuple[ClipMemory, ...] = ()) -> Snapshot:
        with self._lock:
            return Snapshot(t=t, version=self._next_clip, short=self._short, n_episodes=len(self._episodes),
                            n_rows=self._rows.n, extra=extra, generation=self._generation)

    def _current(self, snapshot: Snapshot | None) -> Snapshot:
        """``snapshot``, or the memory now when there is none or a forget happened after it was taken
        (what was forgotten must not come back in an answer already under way)."""
        if snapshot is None:
            return self.snapshot(self.end)
        if snapshot.generation != self._generation:
            return self.snapshot(snapshot.t, snapshot.extra)
        return snapshot

    def forget(self, start: float, end: float) -> dict[str, int]:
        """Delete every clip, episode and conversation turn overlapping [start, end] (stream seconds)."""
        with self._lock:
            counts = self.db.delete_between(start, end)
            clips = [c for c in self._short if c.end < start or c.start > end]
            episodes = [e for e in self._episodes if e.end < start or e.start > end]
            counts["heard"] = self.heard.forget(start, end)
            self.speakers.keep_only(self.heard.voices())
            self._rebuild(clips, episodes)
            self._generation += 1
        self.db.scrub()
        return counts

    def forget_about(self, topic: str) -> dict[str, int]:
        """Delete what was said (and noted) about ``topic``, and the conversation turns, summaries of
        talk and cancelled watches that name it."""
        found = [i for i, score in self.heard.search(topic, k=50, speakers=("background", "assistant", "user"))
                 if score >= FORGET_MIN]
        words = sorted(w for w in content_words(topic) if len(w) >= 3)
        with self._lock:
            for item in found:
                self.heard.remove(item.item_id)
            counts = self.db.delete_heard_items([i.item_id for i in found], words)
            self.speakers.keep_only(self.heard.voices())
            self.heard.episodes = self.db.heard_episodes()
            self._generation += 1
        self.db.scrub()
        return {"heard": len(found), **counts}

    # ---- the conversation log (runtime/history.py writes it) --------------------------------------

    def log_turn(self, turn: dict) -> int:
        return self.db.add_turn(turn)

    def unlog_turn(self, turn_id: int) -> None:
        self.db.delete_turn(turn_id)

    def turns(self, limit: int = 50, before: int | None = None) -> list[dict]:
        return self.db.turns(limit, before)

    def keyframe_at(self, t: float) -> bytes | None:
        """The key frame of the clip or episode that holds stream time ``t``."""
        items: list[ClipMemory | Episode] = [*self._short, *self._episodes]
        return next((i.keyframe_jpeg for i in items if i.start - 0.5 <= t <= i.end + 0.5 and i.keyframe_jpeg), None)

    def heard_latest(self, limit: int, before: float | None = None) -> list[HeardItem]:
        """The latest ``limit`` things heard (said, noted, sounds) starting by ``before``, oldest first."""
        return self.heard.between(end=before if before is not None else float("inf"))[-limit:]

    def items(self, limit: int = 60, before: float | None = None) -> list[GroundedClip]:
        """The latest ``limit`` clips and episodes ending before ``before``, oldest first (the page's timeline)."""
        items = [*self._episodes, *self._short]
        if before is not None:
            items = [i for i in items if i.start < before]
        return [grounded(i, 1.0) for i in items[-limit:]]

    def recent(self, snapshot: Snapshot | None = None, n: int = 1) -> list[GroundedClip]:
        """The latest n moments as seen by ``snapshot``, oldest first (for "what do you see?")."""
        snap = self._current(snapshot)
        items: list[ClipMemory | Episode] = list(snap.extra[::-1]) + list(snap.short[::-1])
        if len(items) < n:
            items += self._episodes[: snap.n_episodes][::-1][: n - len(items)]
        return [grounded(item, 1.0) for item in items[:n]][::-1]

    def between(self, snapshot: Snapshot | None = None, start: float = float("-inf"),
                end: float = float("inf")) -> list[GroundedClip]:
        """Every moment (episode or clip) overlapping [start, end] as seen by ``snapshot``, oldest
        first (for "what happened in the last ten minutes?")."""
        snap = self._current(snapshot)
        items: list[ClipMemory | Episode] = [*self._episodes[: snap.n_episodes], *snap.short, *snap.extra]
        return [grounded(i, 1.0) for i in sorted(items, key=lambda i: i.start) if i.end >= start and i.start <= end]

    def ground(self, query: np.ndarray, snapshot: Snapshot | None = None, k: int = 3, question: str = "",
               before: float | None = None, after: float | None = None) -> list[GroundedClip]:
        """The k best distinct moments for the question, as seen by ``snapshot``, best first;
        optionally only those ending by ``before`` or starting from ``after`` (follow-ups)."""
        snap = self._current(snapshot)
        q = query.astype(np.float32)
        sims = self._vocab.vectors @ q if self._vocab else None
        candidates = self._episode_candidates(q, sims, snap, question, k)
        for c in snap.short + snap.extra:
            keys = self._clip_keys.get(c.clip_id) or self._keys(c)  # not stored yet: the clip being built
            score = float(c.global_vector @ q)
            if sims is not None:
                score = max(score, float(concept_scores(sims, keys.concepts, keys.priors)))
            candidates.append(Candidate(ref=c, start=c.start, end=c.end, labels=c.labels,
                                        label_words=keys.label_words, text_words=keys.text_words, vector_score=score))
        if before is not None or after is not None:
            candidates = [c for c in candidates if (before is None or c.end <= before)
                          and (after is None or c.start >= after)]
        return [grounded(c.ref, score, matched) for c, score, matched in rank(candidates, question, k, gap=self.cfg.clip_max_s)]

    def _episode_candidates(self, q: np.ndarray, sims: np.ndarray | None, snap: Snapshot, question: str,
                            k: int) -> list[Candidate]:
        n = snap.n_episodes
        if n == 0:
            return []
        rows = self._rows.data[: snap.n_rows] @ q
        starts = np.asarray(self._row_start[:n])
        best = np.maximum.reduceat(rows, starts)
        if sims is not None:
            best = np.maximum(best, concept_scores(sims, self._ep_concepts.data[:n], self._ep_priors.data[:n]))
        keep = set(np.argsort(-best)[: PRESELECT + k].tolist())
        for w in content_words(question):
            keep.update(i for i in self._words.get(w, ()) if i < n)
        episodes, keys = self._episodes, self._episode_keys
        return [Candidate(ref=episodes[i], start=episodes[i].start, end=episodes[i].end, labels=episodes[i].labels,
                          label_words=keys[i].label_words, text_words=keys[i].text_words, vector_score=float(best[i]))
                for i in sorted(keep)]

    def meta(self) -> dict:
        return self.db.meta()

    def watches(self) -> list[tuple]:
        """The active watches (id, kind, thing, said, created, expires)."""
        return self.db.watches()

    def stats(self) -> dict[str, float]:
        out = {"clips": len(self._short), "episodes": len(self._episodes), "clips_sealed": self._next_clip,
               "heard": len(self.heard), "end": round(self.end, 3)}
        if self.db.persistent:
            out["bytes"] = self.db.size_bytes()
        return out

    def close(self) -> None:
        self.db.close()


def recall(store: MemoryStore, visual: VisualEncoder, question: str, k: int, snapshot: Snapshot | None = None,
           before: float | None = None, after: float | None = None) -> list[GroundedClip]:
    """Ground a question: embed what it asks about, then rank memory (see ranking.py)."""
    vector = visual.embed_text([query_text(question)])[0]
    return store.ground(vector, snapshot, k=k, question=question, before=before, after=after)
