"""Heard memory: what was said (by the user, by people in the background, by the assistant), the
notable sounds, and notes the user asked to be kept, on the same timeline as the clips.

Search is hybrid: lexical through SQLite FTS5 (trigram tokenizer, so it also matches inside
Chinese text, which has no spaces; two-character Chinese words, too short for trigrams, are
matched by their characters) and semantic through the text embedder's vectors, held in RAM
like the clips' (a day of continuous talk is ~17k utterances, 26 MB, a few ms per dot product).
Sounds are found by kind: "an alarm" reaches Buzzer, Alarm clock, Smoke detector
(omnilive/data/sound_kinds.json, scripts/make_sound_kinds.py).

Growth is bounded: consecutive detections of one sound merge into one item, and each item is a
line of text plus a 384-dim float16 vector (about 1 KB).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import replace
from functools import lru_cache
from importlib import resources

import numpy as np

from ..backends.base import TextEmbedder
from ..config import MemoryConfig
from ..events import HeardItem
from ..text import has_cjk
from .ranking import content_words

log = logging.getLogger(__name__)
EPISODE_SUMMARY_CHARS = 360  # a talk episode's summary: a few of its sentences
SOUND_MERGE_S = 3.0  # a detection of the same kind this soon after the last extends it
SEMANTIC_MIN = 0.35  # below this cosine an utterance is not "about" the question by meaning alone
# a question with no topic of its own ("what was the name she mentioned?") takes its best match from
# this cosine on when it stands clear of every other utterance (the ASR's spelling of a name can
# move a match across SEMANTIC_MIN: "Abigail Claifren" 0.33, "Clayfern" 0.35; the next was 0.17)
CLEAR_MIN, CLEAR_MARGIN = 0.25, 0.12
_CJK = re.compile(r"[\u3400-\u9fff]+")
# how a question about talk is asked, not what it is about ("what did someone say about X?")
_ASKING = {"say", "said", "says", "saying", "someone", "somebody", "anyone", "anybody", "people", "person",
           "talk", "talked", "talking", "mention", "mentioned", "discuss", "discussed", "spoke", "speak",
           "hear", "heard", "tell", "told", "guy", "man", "woman", "lady", "name", "word", "words", "thing"}
_ZH_FILLER = set("的了吗呢吧啊呀他她它们我你说过什么关于有没在是和就都也这那一个")


@lru_cache(maxsize=1)
def sound_kinds() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Plain kind -> AudioSet classes, and plain words for some classes (see the generating script)."""
    data = json.loads(resources.files("omnilive.data").joinpath("sound_kinds.json").read_text())
    return data["kinds"], data["plain"]


def kind_of(label: str) -> str | None:
    """The most specific plain kind of an AudioSet class ("Bark" -> "dog"), None for generic ones."""
    kinds, _ = sound_kinds()
    found = [k for k, names in kinds.items() if label in names and k not in ("animal", "vehicle", "music")]
    if found:
        return min(found, key=lambda k: len(kinds[k]))
    return next((k for k in ("music", "vehicle", "animal") if label in kinds[k]), None)


MASS = {"music", "water", "rain", "thunder", "wind", "fire", "laughter", "applause", "typing", "footsteps",
         "screaming", "singing", "fireworks", "cough", "glass", "kitchen", "tools", "drinking", "insect"}


def sound_said(label: str) -> str:
    """A sound as a person says it: "Telephone bell ringing" -> "a phone ringing", "Bark" -> "a dog barking"."""
    _, plain = sound_kinds()
    if label in plain:
        return plain[label]
    kind = kind_of(label) or label.split(",")[0].lower()
    kind = {"telephone": "phone", "baby crying": "baby crying"}.get(kind, kind)
    if kind in MASS or kind.endswith("s"):
        return kind
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def kinds_asked(text: str) -> set[str]:
    """The sound kinds a question names ("did the phone ring?" -> {"telephone"})."""
    kinds, _ = sound_kinds()
    words = content_words(text)
    low = text.lower()
    asked = {k for k in kinds if all(w in words or w in low for w in k.split())}
    synonyms = {"phone": "telephone", "ring": "telephone", "rang": "telephone", "bark": "dog", "barked": "dog",
                "barking": "dog", "meow": "cat", "crying": "baby crying", "cried": "baby crying", "baby": "baby crying",
                "laugh": "laughter", "laughed": "laughter", "laughing": "laughter", "clap": "applause",
                "clapping": "applause", "knocked": "knock", "knocking": "knock", "song": "music", "playing": "music",
                "doorbel": "doorbell", "alarm": "alarm", "beep": "alarm", "beeping": "alarm", "siren": "siren",
                "bird": "bird", "birds": "bird", "chirping": "bird", "thunder": "thunder", "storm": "thunder",
                "cough": "cough", "coughed": "cough", "sneeze": "cough", "glass": "glass", "broke": "crash",
                "crash": "crash", "horn": "horn", "honk": "horn", "engine": "engine", "car": "vehicle",
                "狗": "dog", "猫": "cat", "电话": "telephone", "铃": "telephone", "闹钟": "alarm",
                "警报": "alarm", "门铃": "doorbell", "敲门": "knock", "音乐": "music", "鸟": "bird", "哭": "baby crying",
                "笑": "laughter", "掌声": "applause", "雷": "thunder", "咳嗽": "cough"}
    for w, k in synonyms.items():
        if (w in words) if w.isascii() else (w in text):
            asked.add(k)
    played = re.search(r"\bplay(?:ing|ed|s)?\s+(?:the\s+|a\s+|an\s+|some\s+)?([a-z]{3,})", low)
    if "music" in asked and played and not _music_word(played.group(1), kinds["music"]) and \
            not re.search(r"\b(music|songs?|tunes?)\b", low):
        asked.discard("music")  # "playing basketball", "playing cards": a game, not a sound
    if "ring" in words and "door" in low:
        asked.discard("telephone")
        asked.add("doorbell")
    return asked


def _music_word(word: str, classes: list[str]) -> bool:
    """Is ``word`` music, an instrument among AudioSet's music classes ("piano", "guitar"), or a
    word that does not name a thing ("playing earlier", "playing loudly")?"""
    if word in ("music", "song", "songs", "tune", "tunes") or word.endswith("ly"):
        return True
    if not content_words(word):
        return True
    return any(re.search(rf"\b{re.escape(word)}s?\b", c.lower()) for c in classes)


class HeardMemory:
    """The heard items of one memory: rows in its database (``MemoryDB``), vectors in RAM."""

    def __init__(self, db, embedder: TextEmbedder | None, cfg: MemoryConfig | None = None) -> None:
        self.db = db  # a MemoryDB (memory/db.py)
        self._embedder = embedder
        self._cfg = cfg or MemoryConfig()
        # talk older than memory.short_term_s, in blocks of memory.episode_max_s: (start, end, n, summary)
        self.episodes: list[tuple[float, float, int, str]] = db.heard_episodes()
        self._lock = threading.Lock()
        rows = db.heard_items()
        dims = {len(v) for _, v in rows if v is not None}
        dim = embedder.dim if embedder is not None else dims.pop() if len(dims) == 1 else 1
        self._items: list[HeardItem] = []
        self._vectors = np.zeros((0, dim), np.float32)
        self._next_id = 1
        if rows:
            self._items = [item for item, _ in rows]
            vecs = [v if v is not None and len(v) == dim else np.zeros(dim, np.float32) for _, v in rows]
            self._vectors = np.asarray(vecs, np.float32).reshape(-1, dim)
            self._next_id = max((i.item_id for i in self._items), default=0) + 1

    def use(self, embedder: TextEmbedder | None) -> None:
        """The text embedder for new items and questions (a session sets the one it was given);
        one of another size than the stored vectors is not used (search by words only)."""
        if embedder is None or self._embedder is not None:
            return
        if len(self._items) and self._vectors.shape[1] != embedder.dim:
            log.warning("heard memory was embedded with %d dims, not %d: searching it by words only",
                        self._vectors.shape[1], embedder.dim)
            return
        self._embedder = embedder
        if not len(self._items):
            self._vectors = np.zeros((0, embedder.dim), np.float32)

    def remove(self, item_id: int) -> None:
        with self._lock:
            keep = [n for n, it in enumerate(self._items) if it.item_id != item_id]
            self._items = [self._items[n] for n in keep]
            self._vectors = self._vectors[keep]
            self.db.delete_heard(item_id)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def end(self) -> float:
        return max((i.end for i in self._items[-8:]), default=0.0)

    @property
    def items(self) -> list[HeardItem]:
        return list(self._items)

    def _embed(self, text: str) -> np.ndarray | None:
        if self._embedder is None or not text or has_cjk(text):  # the embedder is English-only
            return None
        return self._embedder.embed([text])[0].astype(np.float32)

    def _embed_all(self, texts) -> np.ndarray | None:
        texts = [t for t in texts if t and not has_cjk(t)]
        if self._embedder is None or not texts:
            return None
        return self._embedder.embed(texts).astype(np.float32)

    def add(self, item: HeardItem) -> HeardItem | None:
        """Keep an utterance, note or sound (a sound right after one of its kind extends that one
        instead: then the extended item is returned, or None when nothing changed)."""
        if item.kind == "sound":
            merged = self._merge_sound(item)
            if merged is not False:
                return merged
        vector = self._embed(item.text) if item.kind != "sound" else None
        with self._lock:
            item = replace(item, item_id=self._next_id)
            self._next_id += 1
            self.db.add_heard(item, vector)
            self._items.append(item)
            row = vector if vector is not None else np.zeros(self._vectors.shape[1], np.float32)
            self._vectors = np.vstack([self._vectors, row[None]]) if len(self._vectors) else row[None].copy()
        self._consolidate(item.end)
        return item

    def _consolidate(self, now: float) -> None:
        """Talk older than ``short_term_s`` becomes episodes of ``episode_max_s`` with a summary of
        their most central sentences (extractive: no LLM call on the memory thread); the verbatim
        utterances stay. A summary of hours of talk reads these, so its cost stays bounded."""
        horizon = now - self._cfg.short_term_s
        done = self.episodes[-1][1] if self.episodes else float("-inf")
        while True:
            talk = [(n, i) for n, i in enumerate(self._items) if i.kind == "speech" and i.start > done]
            if not talk or talk[0][1].start + self._cfg.episode_max_s > horizon:
                return
            until = talk[0][1].start + self._cfg.episode_max_s
            block = [(n, i) for n, i in talk if i.start < until]
            if not block:  # (times so large that adding episode_max_s changes nothing)
                return
            summary = self._central([n for n, _ in block], [i for _, i in block])
            end = max(i.end for _, i in block)
            episode = (block[0][1].start, end, len(block), summary)
            self.db.add_heard_episode(*episode)
            self.episodes.append(episode)
            done = max(end, block[-1][1].start)

    def _central(self, rows: list[int], items: list[HeardItem], keep: int = 3) -> str:
        """The ``keep`` utterances closest to the block's mean meaning, in the order they were said."""
        vecs = self._vectors[rows]
        if len(items) > keep and np.abs(vecs).sum() > 0:
            centre = vecs.mean(axis=0)
            best = sorted(np.argsort(-(vecs @ centre))[:keep].tolist())
            items = [items[i] for i in best]
        parts: list[str] = []
        for text in (i.text for i in items[:keep]):  # whole sentences, as many as fit
            if parts and sum(map(len, parts)) + len(text) > EPISODE_SUMMARY_CHARS:
                break
            parts.append(text if len(text) <= EPISODE_SUMMARY_CHARS else text[:EPISODE_SUMMARY_CHARS] + "…")
        return " … ".join(parts)

    def _merge_sound(self, item: HeardItem) -> HeardItem | None | bool:
        kind = kind_of(item.labels[0]) if item.labels else None
        with self._lock:
            for i in range(len(self._items) - 1, max(-1, len(self._items) - 8), -1):
                last = self._items[i]
                if last.kind != "sound" or not last.labels:
                    continue
                if item.start - last.end > SOUND_MERGE_S:
                    continue  # (items are in start order; a longer one may still reach)
                if kind_of(last.labels[0]) == kind:
                    if item.end <= last.end and item.score <= last.score:
                        return None
                    grown = replace(last, end=max(last.end, item.end), score=max(last.score, item.score))
                    self._items[i] = grown
                    self.db.update_heard(grown)
                    return grown
        return False

    def forget(self, start: float, end: float) -> int:
        """Drop items overlapping [start, end] from RAM (the database rows go with the clips')."""
        with self._lock:
            keep = [i for i, it in enumerate(self._items) if it.end < start or it.start > end]
            dropped = len(self._items) - len(keep)
            self._items = [self._items[i] for i in keep]
            self._vectors = self._vectors[keep] if keep else self._vectors[:0]
            self.episodes = [e for e in self.episodes if e[1] < start or e[0] > end]
        return dropped

    def between(self, start: float = float("-inf"), end: float = float("inf"),
                kinds: tuple[str, ...] = ("speech", "sound", "note")) -> list[HeardItem]:
        return [i for i in self._items if i.kind in kinds and i.end >= start and i.start <= end]

    def voices(self) -> set[int]:
        """The voices of the speech kept."""
        with self._lock:
            return {i.voice for i in self._items if i.kind == "speech"}

    def sounds(self, kinds: set[str], start: float = float("-inf"), end: float = float("inf")) -> list[HeardItem]:
        """Sound items of these plain kinds, oldest first."""
        classes = {c for k in kinds for c in sound_kinds()[0].get(k, [])}
        return [i for i in self.between(start, end, ("sound",)) if set(i.labels) & classes]

    def search(self, question: str, k: int = 3, kinds: tuple[str, ...] = ("speech", "note"),
               start: float = float("-inf"), end: float = float("inf"),
               speakers: tuple[str, ...] = ("background", "assistant", "user"),
               voices: frozenset[int] | None = None) -> list[tuple[HeardItem, float]]:
        """The k items best matching ``question`` by words (FTS5) and meaning (vectors), best first.
        (A note is the user's; ``speakers`` filters speech by role, ``voices`` by who spoke.)"""
        scores: dict[int, float] = {}
        for item_id, lex in self._lexical(question):
            scores[item_id] = scores.get(item_id, 0.0) + 0.5 * lex
        about = topic(question)
        queries = self._embed_all(dict.fromkeys([question, about]))
        by_id = {it.item_id: n for n, it in enumerate(self._items)}
        if queries is not None and len(self._vectors):  # the question, and what it is about: the closer
            sims = (self._vectors @ queries.T).max(axis=1)
            order = np.argsort(-sims)
            for n in order[: 4 * k + 8]:
                if sims[n] >= SEMANTIC_MIN:
                    scores[self._items[n].item_id] = scores.get(self._items[n].item_id, 0.0) + float(sims[n])
            best, runner_up = sims[order[0]], (sims[order[1]] if len(order) > 1 else 0.0)
            if about == question and not has_cjk(question) and CLEAR_MIN <= best < SEMANTIC_MIN and \
                    best - runner_up >= CLEAR_MARGIN:
                item_id = self._items[order[0]].item_id
                scores[item_id] = scores.get(item_id, 0.0) + float(best)
        out = []
        for item_id, score in scores.items():
            n = by_id.get(item_id)
            if n is None:
                continue
            item = self._items[n]
            if item.kind in kinds and item.end >= start and item.start <= end and \
                    (item.kind != "speech" or (item.speaker in speakers and (voices is None or item.voice in voices))):
                out.append((item, score + (0.2 if item.kind == "note" else 0.0)))
        out.sort(key=lambda p: (-p[1], -p[0].start))
        return out[:k]

    def _lexical(self, question: str) -> list[tuple[int, float]]:
        """(item id, 0..1) for items sharing the question's words: FTS5 bm25 for words of three
        letters or more, character overlap for Chinese."""
        if has_cjk(question):
            chars = [c for c in "".join(_CJK.findall(question)) if c not in _ZH_FILLER]
            grams = {a + b for a, b in zip(chars, chars[1:])} | ({chars[0]} if len(chars) == 1 else set())
            return self.db.heard_like(sorted(grams)) if grams else []
        words = sorted(w for w in content_words(question) if len(w) >= 3 and w not in _ASKING)
        return self.db.heard_match(words) if words else []


def topic(question: str) -> str:
    """What a question about talk is about: "what did she say about the dentist?" -> "dentist"
    (the whole question when nothing is left, or when it is Chinese)."""
    if has_cjk(question):
        return question
    words = [w for w in re.findall(r"[A-Za-z0-9']+", question) if w.lower() not in _ASKING]
    kept = [w for w in words if content_words(w)]
    return " ".join(kept) if kept else question
