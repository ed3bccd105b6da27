"""Cut a stream of text deltas into sentences, so TTS can start on the first one while the LLM
is still writing the rest."""

from __future__ import annotations

import re

# End of sentence: . ! ? (and CJK 。！？) followed by space/end, not inside "e.g." style numbers.
_END = re.compile(r"(?<=[^\d\s][.!?])\s+|(?<=[。！？；])")
MIN_CHARS = 12  # very short fragments ("Yes.") are merged into the next sentence


class SentenceSplitter:
    def __init__(self) -> None:
        self._buf = ""

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out = []
        start = 0
        for m in _END.finditer(self._buf):
            piece = self._buf[start : m.end()].strip()
            if len(piece) >= MIN_CHARS:
                out.append(piece)
                start = m.end()
        self._buf = self._buf[start:]
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []
