"""Small facts about text that several layers need (backends, reasoning)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff]")


def has_cjk(text: str) -> bool:
    """Written (at least partly) in Chinese characters."""
    return bool(_CJK.search(text))


_WORD = re.compile(r"[\u3400-\u9fff]|[^\W_]+")


def word_count(text: str) -> int:
    """Words, counting each Chinese character as one (Chinese is written without spaces)."""
    return len(_WORD.findall(text))
