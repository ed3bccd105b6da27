""""Go on", "say that again": requests about the assistant's own last answer.

They are for the assistant whenever it has just answered (the instruction filter need not guess),
and they must not be answered like a new question: "go on" continues the last answer (the LLM
gets the user's own words after the conversation and a short nudge to continue: with long
instructions not to repeat itself the embedded 1.5B retold the story more, not less; what it
retells anyway is dropped: reasoning/respond.py), "say that again" says it once more, word for word.
"""

from __future__ import annotations

import re

FOLLOW_S = 180.0  # a follow-up request refers to an answer at most this old

_CONTINUE = re.compile(
    r"^\W*(?:(?:ok|okay|yes|yeah|and|so|well|please|alright|all right|right|oh|hmm|mm+)\W+)*"
    r"(?:go on|keep going|continue|carry on|go ahead|and then(?: what)?|then what|what happened next|"
    r"what happens next|tell me more|tell me the rest|more|finish (?:it|the story|that)|continue the story|"
    r"keep talking|don't stop)"
    r"(?:\W+(?:please|then|with (?:it|the story|that)|the story|from there|where you (?:stopped|left off)))*\W*$",
    re.I)
_REPEAT = re.compile(
    r"^\W*(?:(?:ok|okay|sorry|pardon|please|what|huh|can you|could you|would you)\W+)*"
    r"(?:say (?:that|it) again|repeat (?:that|it|yourself|the answer|the last part|what you said)|"
    r"say that one more time|one more time|come again|what did you (?:just )?say)"
    r"(?:\W+(?:please|slowly|slower|for me))*\W*$", re.I)
_CONTINUE_ZH = re.compile(r"^(?:好的?|嗯|然后)?(?:继续|接着说|接着讲|继续说|继续讲|然后呢|后来呢|还有呢|再多说一点)(?:吧|啊|呀|一下)?$")
_REPEAT_ZH = re.compile(r"^(?:请|你)?(?:再说一遍|再说一次|重复一遍|重复一下|你说什么)(?:吧|好吗)?$")


def followup_request(text: str) -> str | None:
    """"continue", "repeat", or None."""
    zh = re.sub(r"[\s\W]+", "", text)
    if _CONTINUE.match(text) or (zh and _CONTINUE_ZH.match(zh)):
        return "continue"
    if _REPEAT.match(text) or (zh and _REPEAT_ZH.match(zh)):
        return "repeat"
    return None
