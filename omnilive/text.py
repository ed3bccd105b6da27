"""Small facts about text that several layers need (backends, reasoning)."""

from __future__ import annotations

import functools
import logging
import re

_CJK = re.compile(r"[\u3400-\u9fff]")


def has_cjk(text: str) -> bool:
    """Written (at least partly) in Chinese characters."""
    return bool(_CJK.search(text))


_CJK_END = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]$")  # a Chinese character or stop


def spaced(piece: str) -> str:
    """A piece of an answer as it runs into the next: with a space, but Chinese runs on without."""
    return piece if _CJK_END.search(piece) else piece + " "


def join_pieces(pieces) -> str:
    return "".join(map(spaced, pieces)).strip()


_WORD = re.compile(r"[\u3400-\u9fff]|[^\W_]+")


def word_count(text: str) -> int:
    """Words, counting each Chinese character as one (Chinese is written without spaces)."""
    return len(_WORD.findall(text))


@functools.cache
def _jieba_pos():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # its dictionary load prints to stderr otherwise
    return jieba.posseg


def zh_tagged(text: str) -> list[tuple[str, str]]:
    """Chinese words with jieba's part-of-speech tags ("法国" ns: a place; "杯子" n). The first call
    loads jieba's dictionaries (~0.7 s, once per process)."""
    return [(w, f) for w, f in _jieba_pos().cut(text)]


def zh_word_ends(text: str) -> list[int]:
    """Where jieba's words of ``text`` end (character offsets), for cutting it between words."""
    import jieba

    ends, at = [], 0
    for word in jieba.cut(text):
        at += len(word)
        ends.append(at)
    return ends
