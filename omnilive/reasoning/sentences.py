"""Cut a stream of text deltas into sentences, so TTS can start on the first one while the LLM
is still writing the rest."""

from __future__ import annotations

import re

# End of sentence: . ! ? (and CJK 。！？) followed by space/end, not inside "e.g." style numbers.
_END = re.compile(r"(?<=[^\d\s][.!?])\s+|(?<=[。！？；])")
_CLAUSE = re.compile(r"(?<=[，、：])")  # Chinese runs on with commas: a long clause is sent on its own
MIN_CHARS = 12  # very short fragments ("Yes.") are merged into the next sentence
# Chinese says in four characters what English says in twelve ("你好吗？"): a sentence that long is
# its own, and a clause of six is cut at its comma, so the first text and speech come sooner (Kokoro
# synthesizes 8 characters in ~0.7 s on two busy cores, 16 in ~1.5 s)
ZH_SENTENCE_CHARS = 4
CLAUSE_CHARS = 6


class SentenceSplitter:
    def __init__(self) -> None:
        self._buf = ""

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out = []
        start = 0
        ends = sorted({m.end() for m in _END.finditer(self._buf)} | {m.end() for m in _CLAUSE.finditer(self._buf)})
        for end in ends:
            piece = self._buf[start:end].strip()
            clause = piece[-1:] in "，、："
            least = CLAUSE_CHARS if clause else ZH_SENTENCE_CHARS if piece[-1:] in "。！？；" else MIN_CHARS
            if len(piece) >= least:
                out.append(piece)
                start = end
        self._buf = self._buf[start:]
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []
