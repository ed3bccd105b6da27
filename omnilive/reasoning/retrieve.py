"""What memory a question needs, and the conversation state that follow-ups rely on."""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from dataclasses import dataclass, field

from ..backends.base import LLM, ChatMessage, VisualEncoder
from ..events import GroundedClip, HeardItem, Query
from ..memory.ranking import query_text
from ..memory.store import MemoryStore, Snapshot, recall
from ..text import has_cjk
from .question import Question, follow_up, parse as parse_question
from .facts import about, evidence, facts as grounded_facts, sightings
from .facts_zh import sighting_zh
from .sight import matching
from . import heard as heard_facts
from .understand import understand

HISTORY_TURNS = 4  # question/answer pairs kept for follow-ups, at most
HISTORY_KEPT = 2  # ... and what is left when the oldest go: they go two at a time, so the prompt's
# start stays the same for most turns and llama.cpp re-evaluates only the newest turn, not the
# whole conversation after every answer (one pair at a time shifted it all, every turn)
_STALE = re.compile(r"\s*[(（][^()（）]*(?:\bago\b|just now|前|刚才)[^()（）]*[)）]")


@dataclass
class Conversation:
    """One session's dialogue: bounded history, and what the last memory search found, so
    "and before that?" can search the same thing earlier in time."""

    history: deque[ChatMessage] = field(default_factory=deque)
    last_search: tuple[str, float, float] | None = None  # (question, first evidence start, last evidence end)
    last_answer: tuple[str, float] | None = None  # what the user heard of the last answer, and when (stream time)

    def remember(self, question: str, answer: str, kind: str, search_text: str,
                 clips: tuple[GroundedClip, ...], t: float = 0.0) -> None:
        # without its "(you told me about 6 minutes ago)": stale a minute later, and the 1.5B told a
        # story requested next in that form ("A little fox found a red ball (about 14 minutes ago).")
        self._add(question, _STALE.sub("", answer))
        self.last_answer = (answer, t)
        ev = evidence(clips)
        if kind == "search" and ev:
            self.last_search = (search_text, min(c.start for c in ev[:1]), max(c.end for c in ev[:1]))

    def answered(self, t: float, within: float) -> str | None:
        """The last answer, if it ended at most ``within`` seconds before stream time ``t``."""
        if self.last_answer is None or t - self.last_answer[1] > within:
            return None
        return self.last_answer[0]

    def restore(self, turns: list[dict]) -> None:
        """Continue a conversation from the memory's log (runtime/history.py): its last answered turns."""
        for turn in turns:
            if turn["for_assistant"] and turn["answer"]:
                cut = turn["state"] != "answered"
                self._add(turn["heard"], turn["answer"] + (" …" if cut else ""))

    def _add(self, question: str, answer: str) -> None:
        self.history.extend([ChatMessage("user", question), ChatMessage("assistant", answer)])
        if len(self.history) > 2 * HISTORY_TURNS:
            for _ in range(len(self.history) - 2 * HISTORY_KEPT):
                self.history.popleft()

    def forget(self, about: str = "") -> None:
        """What was forgotten leaves the dialogue too: the turns that mention ``about``, or all of it."""
        from ..memory.ranking import content_words

        words = {w for w in content_words(about) if len(w) >= 3}
        if not words:
            self.history.clear()
            self.last_search = self.last_answer = None
            return
        if self.last_answer and any(w in self.last_answer[0].lower() for w in words):
            self.last_answer = None
        pairs = list(zip(list(self.history)[::2], list(self.history)[1::2]))
        self.history.clear()
        for q, a in pairs:
            if not any(w in (q.content + " " + a.content).lower() for w in words):
                self.history.extend([q, a])


@dataclass(frozen=True, slots=True)
class Retrieved:
    question: Question  # how it was understood
    search_text: str  # what was searched for (a follow-up searches the previous question's thing)
    clips: tuple[GroundedClip, ...]
    facts: str
    heard: tuple[HeardItem, ...] = ()
    facts_zh: str = ""

    @property
    def kind(self) -> str:
        return self.question.kind

    def query(self, turn_id: int, t: float, text: str, *, tags: tuple[str, ...] = (), speak: bool = True,
              language: str = "en") -> Query:
        return Query(turn_id=turn_id, t=t, text=text, tags=tags, clips=self.clips, speak=speak, kind=self.kind,
                     facts=self.facts, language=language, parsed_by=self.question.parsed_by, heard=self.heard,
                     facts_zh=self.facts_zh if language == "zh" else "")


def ground_question(store: MemoryStore, visual: VisualEncoder, llm: LLM | None, question: str,
                    snapshot: Snapshot | None, k: int, conv: Conversation, wall: float | None = None) -> Retrieved:
    """Understand the question (rules, or the LLM for what they cannot parse), then consult memory."""
    return retrieve(store, visual, question, snapshot, k, conv, understand(question, llm, wall, visual), wall)


COUNT_K = 12  # moments looked at to count sightings
_SPECIFIC = re.compile(r"^\W*(?:what|which|who|where|how|was|were|did|is|are)\b.*\b(?:the|my|that|those|this|these)\s+\w+.*"
                       r"\b(?:was|were|did|had)\b|^\W*(?:what|which|who|where|how)\s+(?:was|were|did)\b.*\b(?:the|my|that)\b", re.I)


def _named_thing(question: str) -> str:
    """The thing a specific question names: "the television" of "what was the television standing
    on?" (the nouns after its determiner, not the verb that follows)."""
    from lemminflect import getAllLemmas

    m = re.search(r"\b(?:the|my|that|this|those|these)\s+([a-z]+(?:\s+[a-z]+)?)", question, re.I)
    words = []
    for w in (m.group(1).split() if m else []):
        if w.endswith("ing") or "NOUN" not in getAllLemmas(w.lower()):
            break
        words.append(w)
    return " ".join(words) or query_text(question)


def _about_something_seen(question: str, q: Question) -> bool:
    """A question the rules left to chat that asks about a particular thing in the past ("what
    was the cat lying on?"): memory answers it, or it is not answered with a guess."""
    return q.kind == "chat" and bool(_SPECIFIC.search(question))


def retrieve(store: MemoryStore, visual: VisualEncoder, question: str, snapshot: Snapshot | None, k: int,
             conv: Conversation, parsed: Question | None = None, wall: float | None = None) -> Retrieved:
    """Consult memory as the question needs; ``parsed`` is an understanding made elsewhere (the
    LLM's, for a question the rules cannot parse); ``wall``: the clock time of the question (live)."""
    q = parsed or parse_question(question, wall)
    follow = follow_up(question)
    search_text, before, after = q.thing or question, None, None
    if follow and conv.last_search:
        search_text, start, end = conv.last_search
        q = Question(kind="search", thing=search_text, parsed_by=q.parsed_by)
        before, after = (start, None) if follow == "before" else (None, end)
    else:
        follow = None
    now = snapshot.t if snapshot is not None else store.end
    heard = None if follow else heard_facts.facts_for(store, visual, question, q, snapshot, now, wall)
    if heard is not None:  # about what was said or sounded, or a note answers it
        return Retrieved(dataclasses.replace(q, kind=heard.kind), search_text, (), heard.facts, heard.items, heard.zh)
    if q.kind == "now":
        clips = store.recent(snapshot, 1)
    elif q.kind == "summary":
        since, until = (now - q.window_s if q.window_s else float("-inf")), now - q.until_s
        if q.anchor is not None:  # "before you saw the dog": up to its first sighting, or after its last
            seen = sightings(recall(store, visual, q.anchor[1], COUNT_K, snapshot), q.anchor[1])
            if seen:
                if q.anchor[0] == "before":
                    until = min(c.start for c in seen) - 1e-6  # (not the sighting itself)
                else:
                    since = max(c.end for c in seen) + 1e-6
            else:
                until = float("-inf")  # never seen: nothing is before or after it
        clips = store.between(snapshot, since, until)
        if q.anchor is not None:  # "after the motorcycle": not the motorcycle itself
            clips = [c for c in clips if not matching(c, q.anchor[1])]
    elif q.attribute == "people":  # the latest moments with people in them
        since = now - q.window_s if q.window_s else float("-inf")
        clips = [c for c in store.between(snapshot, since, now) if c.scene is not None and c.scene.people][-COUNT_K:]
    elif q.kind in ("search", "count"):
        clips = recall(store, visual, search_text, COUNT_K if q.kind == "count" or q.attribute else k, snapshot,
                       before=before, after=after)
    else:
        clips = []
        if _about_something_seen(question, q):  # "what was the cat lying on?": memory, or "I haven't seen", not a guess
            clips = recall(store, visual, question, k, snapshot)
            q = dataclasses.replace(q, kind="search", thing=_named_thing(question), attribute="other")
    facts = grounded_facts(q, question, clips, now, follow, wall, visual) if q.kind != "chat" else ""
    said_zh = sighting_zh(q, question, clips, now, wall, visual) if has_cjk(question) and not follow else ""
    return Retrieved(q, search_text, about(q, clips), facts, facts_zh=said_zh)
