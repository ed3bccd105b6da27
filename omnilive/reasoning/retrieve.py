"""What memory a question needs, and the conversation state that follow-ups rely on."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..backends.base import ChatMessage, VisualEncoder
from ..events import GroundedClip
from ..memory.store import MemoryStore, Snapshot, recall
from . import answer as grounding

HISTORY_TURNS = 4  # question/answer pairs kept for follow-ups
SUMMARY_MOMENTS = 5


@dataclass
class Conversation:
    """One session's dialogue: bounded history, and what the last memory search found, so
    "and before that?" can search the same thing earlier in time."""

    history: deque[ChatMessage] = field(default_factory=lambda: deque(maxlen=2 * HISTORY_TURNS))
    last_search: tuple[str, float, float] | None = None  # (question, first evidence start, last evidence end)

    def remember(self, question: str, answer: str, kind: str, search_text: str,
                 clips: tuple[GroundedClip, ...]) -> None:
        self.history.extend([ChatMessage("user", question), ChatMessage("assistant", answer)])
        ev = grounding.evidence(clips)
        if kind == "search" and ev:
            self.last_search = (search_text, min(c.start for c in ev[:1]), max(c.end for c in ev[:1]))


@dataclass(frozen=True, slots=True)
class Retrieved:
    kind: str
    search_text: str  # what was searched for (a follow-up searches the previous question's thing)
    clips: tuple[GroundedClip, ...]
    facts: str


def retrieve(store: MemoryStore, visual: VisualEncoder, question: str, snapshot: Snapshot | None, k: int,
             conv: Conversation) -> Retrieved:
    kind = grounding.question_kind(question)
    follow = grounding.follow_up(question)
    search_text, before, after = question, None, None
    if follow and conv.last_search:
        kind = "search"
        search_text, start, end = conv.last_search
        before, after = (start, None) if follow == "before" else (None, end)
    else:
        follow = None
    if kind == "now":
        clips = store.recent(snapshot, 1)
    elif kind == "summary":
        clips = store.recent(snapshot, SUMMARY_MOMENTS)
    elif kind == "search":
        clips = recall(store, visual, search_text, k, snapshot, before=before, after=after)
    else:
        clips = []
    now = snapshot.t if snapshot is not None else store.end
    facts = grounding.facts(kind, search_text, clips, now, follow) if kind != "chat" else ""
    return Retrieved(kind, search_text, tuple(clips), facts)
