"""Grounded answers: the facts come from memory, the LLM only phrases them.

The embedded LLM (SmolLM2-135M) cannot be trusted to reason, so the prompt carries explicit
facts ("I saw: a cockatoo, about 12 seconds ago"), and an answer that drops the grounded object
is replaced by the facts themselves. With no grounded clip above the threshold the assistant
says it has not seen it rather than inventing a sighting.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..backends.base import ChatMessage
from ..events import GroundedClip

MIN_SCORE = 0.25  # cosine in the encoder's space; below this a clip is not evidence

SYSTEM = (
    "You are a helpful assistant that watches a camera and listens. Answer in one or two short "
    "sentences, using only the facts given. Never invent things that are not in the facts."
)


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
    return [c for c in clips if c.score >= MIN_SCORE and c.labels]


def facts(clips: Sequence[GroundedClip], now: float) -> str:
    ev = evidence(clips)
    if not ev:
        return "I haven't seen anything like that."
    lines = []
    for c in ev[:2]:
        what = ", ".join(c.labels)
        lines.append(f"I saw {what} {ago(now - c.end)}" + (f", with the text '{c.text}'" if c.text else "") + ".")
    return " ".join(lines)


def build_messages(question: str, tags: Sequence[str], clips: Sequence[GroundedClip], now: float,
                   history: Sequence[ChatMessage] = (), images: bool = False) -> list[ChatMessage]:
    prefix = "".join(f"[{t}] " for t in tags)
    fact_text = facts(clips, now)
    jpegs = tuple(c.keyframe_jpeg for c in evidence(clips)[:2] if c.keyframe_jpeg) if images else ()
    user = f"Facts: {fact_text}\nQuestion: {prefix}{question}\nAnswer using the facts."
    return [ChatMessage("system", SYSTEM), *history, ChatMessage("user", user, images=jpegs)]


def keeps_facts(answer: str, clips: Sequence[GroundedClip]) -> bool:
    """Did the phrased answer keep the grounded object? (If not, speak the facts instead.)"""
    ev = evidence(clips)
    if not ev:
        return any(w in answer.lower() for w in ("haven't", "have not", "didn't", "did not", "not seen", "no "))
    words = {w for label in ev[0].labels for w in label.lower().replace("-", " ").split() if len(w) > 2}
    return any(w in answer.lower() for w in words)
