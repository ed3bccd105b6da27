"""Grounded answers: the facts come from memory, the LLM only phrases them.

The facts sentence built here (``facts``) names the thing in the user's words ("Yes, I saw a
butterfly, a monarch I think, about a minute ago."), says labels as a person would
(reasoning/words.py), says where from what the clip shows around the object, and puts the newest
sighting first. With a local model it *is* the answer (``facts_first``: no prefill before the
first audio); a server LLM phrases it (``build_messages``) and sees the key frames, and its first
sentence must keep the grounded object (``keeps_facts``) or the facts are spoken instead. Without
evidence the assistant says it has not seen the thing. Questions are parsed in reasoning/question.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..backends.base import ChatMessage
from ..events import GroundedClip
from ..memory.ranking import content_words, query_text
from .words import hypernyms, name_of, with_article
from .question import Question

MIN_SCORE = 0.6  # a clip this close to the question counts as a sighting (bench: seen 0.7-0.86, unseen 0.31-0.56)
SUMMARY_MOMENTS = 6  # distinct moments said in a summary

SYSTEM = (
    "You are omnilive, a helpful voice assistant that watches a camera and listens. Answer in one or "
    "two short spoken sentences unless asked for more, in the language of the question. When facts "
    "from memory are given, use only them and never invent a sighting."
)

def ago(seconds: float, wall: float | None = None) -> str:
    """"about 3 minutes ago"; past an hour, with the clock time when known (``wall``: the clock
    time of the moment itself): "about 2 hours ago, at 14:05"."""
    s = max(0, int(round(seconds)))
    if s >= 3600 and wall is not None:
        h = round(s / 3600, 1)
        return f"about {'an hour' if h == 1 else f'{h:g} hours'} ago, at {datetime.fromtimestamp(wall):%H:%M}"
    if s < 5:
        return "just now"
    if s < 60:
        return f"about {s} seconds ago"
    m = round(s / 60)
    if m < 60:
        return "about a minute ago" if m == 1 else f"about {m} minutes ago"
    h = round(s / 3600, 1)
    return "about an hour ago" if h == 1 else f"about {h:g} hours ago"


def evidence(clips: Sequence[GroundedClip]) -> list[GroundedClip]:
    """Clips that count as having seen what was asked: close enough, or named by a question word."""
    return [c for c in clips if (c.score >= MIN_SCORE or c.word_match) and (c.labels or c.text)]


def _label_words(label: str) -> set[str]:
    return content_words(" ".join([label, *hypernyms(label)]))


def _main_label(c: GroundedClip, thing: str) -> str | None:
    """The label of ``c`` that the asked thing names (by itself or by its kind), else its first."""
    labels = [x for x in c.labels if x != "text"]
    asked = content_words(thing)
    if asked:
        for label in labels:
            if asked & _label_words(label):
                return label
    return labels[0] if labels else None


def _named(c: GroundedClip, thing: str = "") -> tuple[str, str | None]:
    """How to say the object of ``c``: the user's word when a label is (a kind of) it, else the
    plain name; plus the specific label when worth adding ("a monarch, I think")."""
    label = _main_label(c, thing)
    if label is None:
        return ("some text" if c.text else "something"), None
    name = name_of(label)
    if thing and content_words(thing) & _label_words(label):
        detail = name.said if name.said.lower() not in thing.lower() and content_words(name.said) - content_words(thing) else None
        return with_article(thing, asked=True), (with_article(detail) if detail else None)
    return with_article(name.said), None


def _around(c: GroundedClip, main: str | None) -> str:
    """Where, from what the clip shows besides the object: other things in view and text."""
    others = []
    for label in c.labels:
        if label in ("text", main):
            continue
        name = name_of(label)
        if name.said not in others and (main is None or name.kind != name_of(main).kind):
            others.append(name.said)  # not "the cat, next to a tiger cat"
    parts = []
    if others:
        parts.append("next to " + " and ".join(with_article(o) for o in others[:2]))
    if c.text:
        parts.append(f"near some text that says '{c.text[:60]}'")
    return ", ".join(parts)


def _sighting(c: GroundedClip, thing: str, when, context: bool, asked_where: bool = False) -> str:
    """"a bird, a parrot I think, about 2 minutes ago, next to a cup"; ``context``: say what else
    was in view; ``asked_where``: and say so when nothing was."""
    what, detail = _named(c, thing)
    out = what + (f", {detail} I think," if detail else "") + " " + when(c.end)
    if context:
        around = _around(c, _main_label(c, thing))
        if around:
            out += f", {around}"
        elif asked_where:
            out += ", with nothing else in view to tell where"
    return out


def _things(c: GroundedClip) -> str:
    names = []
    for label in c.labels[:3]:
        if label != "text" and (s := name_of(label).said) not in names:
            names.append(s)
    what = " and ".join(with_article(n) for n in names[:2]) if names else ("some text" if c.text else "something")
    return what + (f", with the text '{c.text[:80]}'" if c.text else "")


def _same_thing(a: GroundedClip, b: GroundedClip, thing: str) -> bool:
    la, lb = _main_label(a, thing), _main_label(b, thing)
    return la is not None and lb is not None and name_of(la).kind == name_of(lb).kind


def sightings(clips: Sequence[GroundedClip], thing: str) -> list[GroundedClip]:
    """The evidence for the asked thing, newest first: the best match decides what the thing is,
    the other clips of the same kind are the other times it was seen."""
    ev = evidence(clips)
    if not ev:
        return []
    best = ev[0]
    same = [c for c in ev if c is best or _same_thing(c, best, thing) or (thing and c.word_match and best.word_match)]
    return sorted(same, key=lambda c: -c.end)


def facts(q: Question | str, question: str, clips: Sequence[GroundedClip], now: float,
          follow: str | None = None, wall: float | None = None) -> str:
    """The grounded answer as plain sentences (what, when, where). ``now``: stream time of the
    question; ``wall``: its clock time, when known (a live session), for times past an hour."""

    def when(t: float) -> str:
        return ago(now - t, None if wall is None else wall - (now - t))

    if isinstance(q, str):
        q = Question(kind=q, thing=query_text(question) if q in ("search", "count") else "")
    if q.kind == "now":
        if not clips:
            return "I can't see anything yet."
        return f"Right now I see {_things(clips[-1])}."
    if q.kind == "summary":
        return _summary(clips, when, span_of(q))
    thing = q.thing if follow is None else "it"
    seen = sightings(clips, q.thing)
    if q.kind == "count":
        if not seen:
            return f"I haven't seen {with_article(thing, asked=True)}." if thing else "I haven't seen that."
        n = len(seen)
        times = "once" if n == 1 else "twice" if n == 2 else f"{n} times"
        return f"I saw {with_article(thing, asked=True) if thing else 'it'} {times}, most recently {when(seen[0].end)}."
    if not seen:
        if follow == "before":
            return "I haven't seen it before that."
        if follow == "after":
            return "I haven't seen it after that."
        no = "No, " if q.yesno else ""
        return f"{no}I haven't seen {with_article(thing, asked=True)}." if thing else f"{no}I haven't seen anything like that."
    lead = {"before": "Before that, I saw", "after": "After that, I saw"}.get(follow or "", "Yes, I saw" if q.yesno else "I saw")
    if thing and follow is None and not any(c.word_match for c in seen):
        # only a look-alike: deny in the user's words, then offer the closest thing seen
        no = "No, " if q.yesno else ""
        return f"{no}I haven't seen {with_article(thing, asked=True)} itself; the closest was {_sighting(seen[0], '', when, True)}."
    line = f"{lead} {_sighting(seen[0], q.thing, when, q.where or not q.yesno, q.where)}."
    if len(seen) > 1:
        line += f" I also saw it {'once' if len(seen) == 2 else f'{len(seen) - 1} times'} before that."
    return line


def span_of(q: Question) -> str:
    if q.anchor is not None:
        return f"{q.anchor[0]} I saw {with_article(q.anchor[1], asked=True)}"
    if q.period:
        return q.period
    return f"in the last {_duration(q.window_s)}" if q.window_s else ""


def _summary(clips: Sequence[GroundedClip], when, span: str) -> str:
    """The distinct moments of the range (clips oldest first), at most SUMMARY_MOMENTS: a scene
    that comes back is said once, and the rest is spread over the range so a long one is not just
    its last minute."""
    if not clips:
        return f"I haven't seen anything {span}." if span else "I haven't seen anything yet."
    moments: list[GroundedClip] = []
    for c in clips:
        if not moments or _things(c) != _things(moments[-1]):
            moments.append(c)
    if len(moments) > SUMMARY_MOMENTS:  # too many: each thing once, at its latest sighting
        latest = {_things(c): c for c in moments}
        moments = sorted(latest.values(), key=lambda c: c.end)
    if len(moments) > SUMMARY_MOMENTS:  # evenly spread, always keeping the first and the last
        step = (len(moments) - 1) / (SUMMARY_MOMENTS - 1)
        moments = [moments[round(i * step)] for i in range(SUMMARY_MOMENTS)]
    said, last = [], None
    for c in moments:  # a time is said once for the moments it covers: "a cup, then a cat (just now)"
        w = when(c.end)
        if said and w == last:
            said[-1] = said[-1].rsplit(" (", 1)[0]
        said.append(f"{_things(c)} ({w})")
        last = w
    steps = ", then ".join(said)
    return f"{span[0].upper() + span[1:]}, I saw {steps}." if span else f"I saw {steps}."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} seconds"
    if seconds < 3600:
        m = round(seconds / 60)
        return "minute" if m == 1 else f"{m} minutes"
    h = round(seconds / 3600, 1)
    return "hour" if h == 1 else f"{h:g} hours"


def build_messages(question: str, tags: Sequence[str], fact_text: str, clips: Sequence[GroundedClip],
                   history: Sequence[ChatMessage] = (), images: bool = False,
                   language: str = "en") -> list[ChatMessage]:
    """The system prompt stays first and fixed (its KV cache is reused turn after turn); only the
    history and this turn's facts and question follow it."""
    prefix = "".join(f"[{t}] " for t in tags)
    jpegs = tuple(c.keyframe_jpeg for c in evidence(clips)[:2] if c.keyframe_jpeg) if images else ()
    if language == "zh" and fact_text:  # the facts are English: say which is which, and what to write
        user = (f"Question (in Chinese): {prefix}{question}\nWhat you know (in English): {fact_text}\n"
                "Answer the question in Chinese (简体中文), in one sentence, using only what you know.")
    elif fact_text:
        user = f"Facts: {fact_text}\nQuestion: {prefix}{question}\nAnswer using the facts."
    else:
        user = f"{prefix}{question}" + ("\nAnswer in Chinese (简体中文)." if language == "zh" else "")
    return [ChatMessage("system", SYSTEM), *history, ChatMessage("user", user, images=jpegs)]


def summary_messages(question: str, transcript: str, language: str = "en") -> list[ChatMessage]:
    """Summarise what was said: the transcript lines (with when and who) and the user's request."""
    lang = "Chinese (简体中文)" if language == "zh" else "English"
    user = (f"Transcript of what was said (oldest first, with when and who):\n{transcript}\n\n"
            f"Request: {question}\nSummarise it in {lang} in two to four short sentences: the main topics and "
            "key points, who said them and roughly when. Use only the transcript.")
    return [ChatMessage("system", SYSTEM), ChatMessage("user", user)]


def keeps_facts(answer: str, clips: Sequence[GroundedClip]) -> bool:
    """Did the phrased answer keep the grounded object? (If not, speak the facts instead.)"""
    ev = evidence(clips)
    low = answer.lower()
    if not ev:
        return any(w in low for w in ("haven't", "have not", "didn't", "did not", "not seen", "no ", "没"))
    words = {w for label in ev[0].labels for w in (label + " " + name_of(label).said).lower().replace("-", " ").split()
             if len(w) > 2}
    return any(w in low for w in words)
