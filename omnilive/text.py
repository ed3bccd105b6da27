"""Small facts about text that several layers need (backends, reasoning)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff]")


def has_cjk(text: str) -> bool:
    """Written (at least partly) in Chinese characters."""
    return bool(_CJK.search(text))
