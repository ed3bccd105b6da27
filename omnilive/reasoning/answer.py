"""Grounded answers: the facts come from memory, the LLM only phrases them.

A question is one of four kinds, which decides how memory is consulted:

* ``now``     "what do you see?", "what am I holding?": the latest clips, not a similarity search;
* ``summary`` "what happened?", "summarize the last hour": recent moments in time order;
* ``search``  "where did I leave my keys?", "did you see a cat?": ranked grounding (memory/ranking.py);
* ``chat``    anything else ("tell me a joke"): the LLM answers, with the conversation history.

The embedded LLM (SmolLM2-135M) cannot be trusted to reason, so for memory questions the facts
sentence built here ("I saw a tabby cat about 2 minutes ago.") is the answer (``facts_first``), and
a real LLM gets the same facts (and key frames) in its prompt; its first sentence must keep the
grounded object or the facts are spoken instead. Without evidence the assistant says it has not
seen the thing rather than inventing a sighting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..backends.base import ChatMessage
from ..events import GroundedClip
from ..memory.ranking import query_text

MIN_SCORE = 0.6  # a clip this close to the question counts as a sighting (bench: seen 0.7-0.86, unseen 0.31-0.56)

SYSTEM = (
    "You are a helpful assistant that watches a camera and listens. Answer in one or two short "
    "sentences, using only the facts given. Never invent things that are not in the facts."
)

_NOW = re.compile(r"\b(what|who)\b.*\b(do|can) you see\b|\bwhat('s| is) (this|that|in front|here)\b|"
                  r"\bam i (holding|wearing)\b|\bright now\b|\bdescribe (the|this|what)\b|\blook at (this|me)\b|"
                  r"你看到|这是什么", re.I)
_SUMMARY = re.compile(r"\bsummar|\bwhat (has )?happened\b|\beverything you\b|\bwhat did you see\b|"
                      r"\bwhat have you seen\b|发生了什么|总结", re.I)
_SEARCH = re.compile(r"\b(see|saw|seen|where|when|notice|noticed|left|leave|put|find|found|last|remember|"
                     r"was there|were there|did i|is my|are my|have you)\b|哪|在哪|看到|见过", re.I)
_BEFORE = re.compile(r"^\W*(and |what about |ok |okay )?(before( that)?|earlier|previously|the time before)\W*$", re.I)
_AFTER = re.compile(r"^\W*(and |what about |ok |okay )?(after( that)?|later|then|and then)\W*$", re.I)


def question_kind(text: str) -> str:
    if _SUMMARY.search(text):
        return "summary"
    if _NOW.search(text):
        return "now"
    if _SEARCH.search(text):
        return "search"
    return "chat"


def follow_up(text: str) -> str | None:
    """"and before that?" -> "before"; "and after that?" -> "after"; otherwise None."""
    if _BEFORE.match(text):
        return "before"
    if _AFTER.match(text):
        return "after"
    return None


def ago(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 5:
        return "just now"
    if s < 60:
        return f"about {s} seconds ago"
    m = round(s / 60)
    if m < 60:
        return f"about {m} minute{'s' if m != 1 else ''} ago"
    h = round(s / 3600, 1)
    return f"about {h:g} hours ago"


def evidence(clips: Sequence[GroundedClip]) -> list[GroundedClip]:
    """Clips that count as having seen what was asked: close enough, or named by a question word."""
    return [c for c in clips if (c.score >= MIN_SCORE or c.word_match) and (c.labels or c.text)]


def _things(c: GroundedClip) -> str:
    labels = [_article(x, plural=False) for x in c.labels[:2] if x != "text"]
    what = " and ".join(labels) if labels else ("some text" if c.text else "something")
    return what + (f", with the text '{c.text[:80]}'" if c.text else "")


def facts(kind: str, question: str, clips: Sequence[GroundedClip], now: float, follow: str | None = None) -> str:
    """The grounded answer as plain sentences (what, when, with what)."""
    if kind == "now":
        return f"Right now I see {_things(clips[0])}." if clips else "I can't see anything yet."
    if kind == "summary":
        if not clips:
            return "I haven't seen anything yet."
        moments = [c for i, c in enumerate(clips) if i == 0 or c.labels[:1] != clips[i - 1].labels[:1]]
        steps = ", then ".join(f"{_things(c)} ({ago(now - c.end)})" for c in moments)
        return f"I saw {steps}."
    ev = evidence(clips)
    thing = query_text(question) if follow is None else "it"
    if not ev:
        if follow == "before":
            return "I haven't seen it before that."
        if follow == "after":
            return "I haven't seen it after that."
        return f"I haven't seen {_article(thing)}." if thing and thing != question else "I haven't seen anything like that."
    lead = {"before": "Before that, I saw", "after": "After that, I saw"}.get(follow or "", "I saw")
    lines = [f"{lead} {_things(ev[0])} {ago(now - ev[0].end)}."]
    if len(ev) > 1 and not set(ev[1].labels) & set(ev[0].labels):
        lines.append(f"Also {_things(ev[1])} {ago(now - ev[1].end)}.")
    return " ".join(lines)


def _article(thing: str, plural: bool = True) -> str:
    """"a cat", "an Egyptian cat"; a question's "keys" or "my phone" stay as they are."""
    if re.match(r"(my|the|a|an|any|some|your)\b", thing, re.I) or (plural and thing.endswith("s")):
        return thing
    return ("an " if thing[:1].lower() in "aeiou" else "a ") + thing


def build_messages(question: str, tags: Sequence[str], fact_text: str, clips: Sequence[GroundedClip],
                   history: Sequence[ChatMessage] = (), images: bool = False) -> list[ChatMessage]:
    prefix = "".join(f"[{t}] " for t in tags)
    jpegs = tuple(c.keyframe_jpeg for c in evidence(clips)[:2] if c.keyframe_jpeg) if images else ()
    user = (f"Facts: {fact_text}\nQuestion: {prefix}{question}\nAnswer using the facts." if fact_text
            else f"{prefix}{question}")
    return [ChatMessage("system", SYSTEM), *history, ChatMessage("user", user, images=jpegs)]


def keeps_facts(answer: str, clips: Sequence[GroundedClip]) -> bool:
    """Did the phrased answer keep the grounded object? (If not, speak the facts instead.)"""
    ev = evidence(clips)
    if not ev:
        return any(w in answer.lower() for w in ("haven't", "have not", "didn't", "did not", "not seen", "no "))
    words = {w for label in ev[0].labels for w in label.lower().replace("-", " ").split() if len(w) > 2}
    return any(w in answer.lower() for w in words)
