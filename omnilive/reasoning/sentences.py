"""Cut a stream of text deltas into sentences, so TTS can start on the first one while the LLM
is still writing the rest."""

from __future__ import annotations

import re

from ..text import has_cjk, zh_word_ends

# End of sentence: . ! ? (and CJK 。！？) followed by space/end, not inside "e.g." style numbers.
_END = re.compile(r"(?<=[^\d\s][.!?])\s+|(?<=[。！？；])")
# ... and an answer's first sentence at its stop, not at the token after it (the next word, or the
# end of the answer: one more token, ~50 ms of the 1.5B here, before its first audio), unless the
# word before the stop could be an abbreviation ("Mrs.", "U.S.", "3."): four letters or more
_FIRST_END = re.compile(r"(?:[^\W\d_]{4}\.|[^\s\d][!?])$")
_CLAUSE = re.compile(r"(?<=[，、：])")  # Chinese runs on with commas: a long clause is sent on its own
MIN_CHARS = 12  # very short fragments ("Yes.") are merged into the next sentence
# Chinese says in four characters what English says in twelve ("你好吗？"): a sentence that long is
# its own, and a clause of six is cut at its comma, so the first text and speech come sooner (Kokoro
# synthesizes 8 characters in ~0.7 s on two busy cores, 16 in ~1.5 s)
ZH_SENTENCE_CHARS = 4
CLAUSE_CHARS = 6


# a Chinese answer's first piece may end between words once this many characters are in, with two
# more after them (the last word may still be growing): its speech need not wait for the sentence
ZH_FIRST_CHARS = 4


class SentenceSplitter:
    def __init__(self, early_first: bool = False) -> None:
        self._buf = ""
        self._early = early_first  # (chat: a memory answer's first sentence is checked whole)
        self._first = True  # no sentence out yet

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out = []
        start = 0
        if self._early and (first := self._first_words()) is not None:
            out.append(first)
        ends = {m.end() for m in _END.finditer(self._buf)} | {m.end() for m in _CLAUSE.finditer(self._buf)}
        if self._first and not out and _FIRST_END.search(self._buf):
            ends.add(len(self._buf))
        for end in sorted(ends):
            piece = self._buf[start:end].strip()
            clause = piece[-1:] in "，、："
            least = CLAUSE_CHARS if clause else ZH_SENTENCE_CHARS if piece[-1:] in "。！？；" else MIN_CHARS
            if len(piece) >= least:
                out.append(piece)
                start = end
        self._buf = self._buf[start:]
        self._early = self._early and not out
        self._first = self._first and not out
        return out

    def _first_words(self) -> str | None:
        """The first words of a Chinese answer that has no stop or comma yet, cut between words."""
        buf = self._buf.lstrip()
        if len(buf) < ZH_FIRST_CHARS + 2 or not has_cjk(buf[:ZH_FIRST_CHARS]) or _END.search(buf) or _CLAUSE.search(buf):
            return None
        cut = next((e for e in zh_word_ends(buf) if ZH_FIRST_CHARS <= e <= len(buf) - 2), None)
        if cut is None:
            return None
        self._early = False
        self._buf = buf[cut:]
        return buf[:cut]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []
