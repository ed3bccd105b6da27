"""A memory held in RAM only: the store of a session with no memory directory (replays, benches,
tests), with the same ``MemoryDB`` protocol as SQLite and PostgreSQL, so nothing above it asks
which one it has. Gone when the process ends; heard text is matched by words without an index.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

from ..events import ClipMemory, HeardItem
from .longterm import Episode
from .rows import turn_of, turn_row
from .textmatch import like_share, mentions, word_scores


class RamMemoryDB:
    persistent = False

    def __init__(self, encoder_id: str = "", dim: int = 0) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, Any] = {"encoder": encoder_id, "dim": dim} if encoder_id else {}
        self._clips: dict[int, ClipMemory] = {}
        self._episodes: dict[int, Episode] = {}
        self._heard: dict[int, tuple[HeardItem, np.ndarray | None]] = {}
        self._heard_episodes: list[tuple[float, float, int, str]] = []
        self._turns: dict[int, dict[str, Any]] = {}
        self._watches: dict[int, tuple[str, str, str, float, float | None]] = {}
        self._sources: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)  # turn and watch ids

    def meta(self) -> dict[str, Any]:
        return dict(self._meta)

    def set_meta(self, **values: Any) -> None:
        self._meta.update(values)

    # ---- clips and episodes -------------------------------------------------------------------

    def add_clip(self, c: ClipMemory, wall_end: float, source: tuple[str, str, float, float] | None = None) -> None:
        with self._lock:
            if c.clip_id in self._clips:
                raise ValueError(f"clip {c.clip_id} is stored already")
            self._meta["wall_end"] = wall_end
            if source is not None:
                self._put_source(*source, finished=False)
            self._clips[c.clip_id] = c

    def add_episode(self, e: Episode, clip_ids: list[int]) -> None:
        with self._lock:
            self._episodes[e.episode_id] = e
            for i in clip_ids:
                self._clips.pop(i, None)

    def load(self, dim: int) -> tuple[list[ClipMemory], list[Episode]]:
        with self._lock:
            return sorted(self._clips.values(), key=lambda c: c.clip_id), \
                sorted(self._episodes.values(), key=lambda e: e.episode_id)

    def delete_between(self, start: float, end: float) -> dict[str, int]:
        hit = lambda a, b: b >= start and a <= end  # noqa: E731
        with self._lock:
            counts = {"clips": _drop(self._clips, lambda c: hit(c.start, c.end)),
                      "episodes": _drop(self._episodes, lambda e: hit(e.start, e.end)),
                      "turns": _drop(self._turns, lambda t: hit(t["start"], t["end"])),
                      "heard": _drop(self._heard, lambda r: hit(r[0].start, r[0].end))}
            kept = [e for e in self._heard_episodes if not hit(e[0], e[1])]
            counts["heard_episodes"] = len(self._heard_episodes) - len(kept)
            self._heard_episodes = kept
        return counts

    def scrub(self) -> None:
        """Nothing to scrub: what was deleted is no longer referenced."""

    def delete_heard_items(self, ids: list[int], words: list[str]) -> dict[str, int]:
        """(Cancelled watches are not kept in RAM.)"""
        with self._lock:
            for i in ids:
                self._heard.pop(i, None)
            said = lambda *texts: any(mentions(x, words) for x in texts)  # noqa: E731
            kept = [e for e in self._heard_episodes if not said(e[3])]
            counts = {"turns": _drop(self._turns, lambda t: said(t["heard"], t["answer"])),
                      "heard_episodes": len(self._heard_episodes) - len(kept), "watches": 0}
            self._heard_episodes = kept
            return counts

    # ---- heard memory -------------------------------------------------------------------------

    def add_heard(self, item: HeardItem, vector: np.ndarray | None) -> None:
        with self._lock:
            if item.item_id in self._heard:
                raise ValueError(f"heard item {item.item_id} is stored already")
            self._heard[item.item_id] = (item, None if vector is None else vector.astype(np.float32))

    def update_heard(self, item: HeardItem) -> None:
        with self._lock:
            if item.item_id in self._heard:
                self._heard[item.item_id] = (item, self._heard[item.item_id][1])

    def add_heard_episode(self, start: float, end: float, n_items: int, summary: str) -> None:
        with self._lock:
            self._heard_episodes.append((start, end, n_items, summary))
            self._heard_episodes.sort()

    def heard_episodes(self) -> list[tuple[float, float, int, str]]:
        return list(self._heard_episodes)

    def delete_heard_between(self, start: float, end: float) -> None:
        with self._lock:
            _drop(self._heard, lambda r: r[0].end >= start and r[0].start <= end)

    def delete_heard(self, item_id: int) -> None:
        with self._lock:
            self._heard.pop(item_id, None)

    def heard_items(self) -> list[tuple[HeardItem, np.ndarray | None]]:
        with self._lock:
            return sorted(self._heard.values(), key=lambda r: (r[0].start, r[0].item_id))

    def heard_match(self, words: list[str], limit: int = 50) -> list[tuple[int, float]]:
        with self._lock:
            rows = [(i, item.text) for i, (item, _) in self._heard.items()]
        return word_scores(words, rows, limit)

    def heard_like(self, grams: list[str], limit: int = 50) -> list[tuple[int, float]]:
        grams = grams[:12]
        with self._lock:
            rows = [(i, item.text) for i, (item, _) in self._heard.items() if any(g in item.text for g in grams)]
        return like_share(grams, rows[:limit])

    # ---- watches ------------------------------------------------------------------------------

    def add_watch(self, kind: str, thing: str, said: str, created: float, expires: float | None = None) -> int:
        with self._lock:
            watch_id = next(self._ids)
            self._watches[watch_id] = (kind, thing, said, created, expires)
            return watch_id

    def end_watch(self, watch_id: int) -> None:
        with self._lock:
            self._watches.pop(watch_id, None)

    def watches(self) -> list[tuple[int, str, str, str, float, float | None]]:
        with self._lock:
            return [(i, *w) for i, w in sorted(self._watches.items())]

    # ---- the conversation log -----------------------------------------------------------------

    def add_turn(self, turn: dict[str, Any]) -> int:
        with self._lock:
            turn_id = next(self._ids)
            self._turns[turn_id] = turn_of((turn_id, *turn_row(turn)))  # the shape the other stores give
            return turn_id

    def set_turn_state(self, turn_id: int, state: str) -> None:
        with self._lock:
            if turn_id in self._turns:
                self._turns[turn_id] = {**self._turns[turn_id], "state": state}

    def delete_turn(self, turn_id: int) -> None:
        with self._lock:
            self._turns.pop(turn_id, None)

    def turns(self, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            ids = sorted(i for i in self._turns if before is None or i < before)[-limit:]
            return [dict(self._turns[i]) for i in ids]

    # ---- ingested files -----------------------------------------------------------------------

    def source(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._sources.get(path)
            return None if row is None else dict(row)

    def set_source(self, path: str, fingerprint: str, offset: float, done_t: float, finished: bool) -> None:
        with self._lock:
            self._put_source(path, fingerprint, offset, done_t, finished)

    def _put_source(self, path: str, fingerprint: str, offset: float, done_t: float, finished: bool) -> None:
        self._sources[path] = {"fingerprint": fingerprint, "offset": offset, "done_t": done_t, "finished": finished}

    def checkpoint(self) -> None:
        """Nothing is written anywhere."""

    def close(self) -> None:
        """Nothing to release (the memory goes with this object)."""

    def size_bytes(self) -> int:
        return 0


def _drop(table: dict, gone) -> int:
    """Remove the values for which ``gone(value)`` holds; how many."""
    ids = [k for k, v in table.items() if gone(v)]
    for k in ids:
        del table[k]
    return len(ids)
