"""Matching what was heard by its words, beside the stores' own indexes (SQLite FTS5, PostgreSQL
tsvector): loose matches of long words by their trigrams (a name the ASR spelt differently), and
Chinese by shared character pairs. The in-RAM store matches with these alone.
"""

from __future__ import annotations

import re

from ..text import has_cjk

FUZZY_SHARE = 0.34  # of a word's trigrams a row must hold to match it loosely


def word_grams(words: list[str]) -> dict[str, list[str]]:
    """The trigrams of each long word (a name the ASR may spell differently)."""
    return {w: [w[i:i + 3] for i in range(len(w) - 2)] for w in words if len(w) >= 5}


def add_fuzzy(scores: dict[int, float], grams: dict[str, list[str]], rows) -> None:
    """At half weight, rows (id, text) holding at least FUZZY_SHARE of one word's trigrams."""
    for rowid, text in rows:
        low = text.lower()
        share = max(sum(g in low for g in gs) / len(gs) for gs in grams.values())
        if share >= FUZZY_SHARE:
            scores[rowid] = max(scores.get(rowid, 0.0), 0.5 * share)


def like_share(grams: list[str], rows) -> list[tuple[int, float]]:
    """Chinese: (id, share of the question's character pairs found) per row (id, text)."""
    return [(r[0], sum(g in r[1] for g in grams) / len(grams)) for r in rows]


def word_scores(words: list[str], rows, limit: int = 50) -> list[tuple[int, float]]:
    """(id, 0..1) for rows (id, text) holding any of ``words`` as a word (by the share of them it
    holds), or, at half weight, most of one long word's trigrams: what FTS does, without an index."""
    words = [w.lower() for w in words]
    rows = list(rows)
    scores: dict[int, float] = {}
    for rowid, text in rows:
        have = set(re.findall(r"[\w']+", text.lower()))
        hits = sum(w in have for w in words)
        if hits:
            scores[rowid] = hits / len(words)
    grams = word_grams(words)
    if grams:
        add_fuzzy(scores, grams, [(i, t) for i, t in rows if any(g in t.lower() for gs in grams.values() for g in gs)])
    return sorted(scores.items(), key=lambda p: -p[1])[:limit]


# what else a "forget what I said about X" deletes when it says X: (table, its texts, which rows)
MENTIONED = (("turns", ("heard", "answer"), ""), ("heard_episodes", ("summary",), ""),
             ("watches", ("thing", "said"), " AND active = 0"))


def mentions(text: str, words: list[str]) -> bool:
    """Does ``text`` say one of ``words`` as a word (or its plural)? "car" is in "my cars", not in
    "scary" or "Oscar". Chinese is written without spaces: there a word counts anywhere."""
    for w in words:
        if has_cjk(w):
            if w in text:
                return True
        elif re.search(rf"(?<!\w){re.escape(w)}(?:s|es)?(?!\w)", text, re.I):
            return True
    return False


def mentioning(rows, words: list[str]) -> list:
    """The ids of rows (id, text, ...) that mention one of ``words`` in any of their texts."""
    return [r[0] for r in rows if any(mentions(x, words) for x in r[1:])]
