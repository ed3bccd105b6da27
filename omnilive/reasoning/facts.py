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

import re

from collections.abc import Sequence
from datetime import datetime

from ..backends.base import ChatMessage
from ..events import GroundedClip
from ..memory.ranking import content_words, query_text
from ..text import has_cjk
from .question import Question
from .sight import (
    coco_said, matching, number, plural, recognisable, said, says, things_in,
)
from .words import with_article

MIN_SCORE = 0.6  # a clip this close to the question counts as a sighting (bench: seen 0.7-0.86, unseen 0.31-0.56)
SUMMARY_MOMENTS = 6  # distinct moments said in a summary
_PEOPLE_DOING = re.compile(r"\bhow many \w+\s+(?:(?:were|was|are|is|did you see|have you seen|did you notice|"
                           r"there|here|in total|at once|altogether)\b\s*)*(\w.*?)?\W*$", re.I)
VAGUE_SCORE = 0.5  # an unnamed moment this close to the question may be what was asked about
COUNT_MOMENTS = 3  # "how many people?": the most people in one of the latest moments with people

SYSTEM = (  # (told "unless asked for more", the 1.5B told "a short story" in one sentence after short turns)
    "You are omnilive, a helpful voice assistant that watches a camera and listens. Answer in one or "
    "two short spoken sentences, in the language of the question; a story asked for is told in "
    "five to eight sentences. When facts from memory are given, use only them: never invent "
    "a sighting, a colour, a number or a detail, and keep what they say you cannot tell. Never guess "
    "about the user's things or what you saw or heard: without facts about it, say you don't know."
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
    return [c for c in clips if (c.score >= MIN_SCORE or c.word_match) and (c.labels or c.text or c.scene)]


def _match(c: GroundedClip, thing: str):
    """The thing of ``c`` that the question names, if any (sure ones first)."""
    found = matching(c, thing)
    return found[0] if found else None


def _where(c: GroundedClip, m) -> str:
    """Where, from what the clip shows besides the object: what it stood on or next to (the
    detector's boxes), else what else was in view, and text."""
    parts = []
    if m is not None and m.source == "detector" and c.scene is not None:
        lead = f"the {m.label} is "
        for r in c.scene.relations():
            if r.startswith(lead):
                rel, _, other = r[len(lead):].rpartition(" the ")
                parts.append(f"{rel} the {coco_said(other)}")
                break
    others = [t for t in things_in(c) if m is not None and t.kind != m.kind]  # (m None: the things were said)
    if others and not parts:
        parts.append("next to " + says(others, 2))
    if c.text:
        parts.append(f"near some text that says '{c.text[:60]}'")
    return ", ".join(parts)


def _sighting(c: GroundedClip, thing: str, when, context: bool, asked_where: bool = False) -> str:
    """"a red motorcycle about 2 minutes ago, next to ..."; a guess is said as one ("something
    like a bird"), and the specific kind as a detail ("a cat, an Egyptian cat I think,")."""
    m = _match(c, thing) if thing else None
    if m is None:
        out = _things(c)
    else:
        what = with_article(thing, asked=True)
        detail = m.name if content_words(m.name) - content_words(thing) and m.source == "classifier" else ""
        out = (what if m.sure else f"something like {what}") + (f", {with_article(detail)} I think," if detail else "")
    out += " " + when(c.end)
    if context:
        around = _where(c, m)
        if around:
            out += f", {around}"
        elif asked_where:
            out += ", but I can't tell where: nothing else I recognise was in view"
    return out


def _things(c: GroundedClip) -> str:
    what = says(things_in(c), 2) or ("some text" if c.text else "something I can't name")
    return what + (f", with the text '{c.text[:80]}'" if c.text else "")


def _same_thing(a: GroundedClip, b: GroundedClip, thing: str) -> bool:
    ma, mb = _match(a, thing or "x"), _match(b, thing or "x")
    if ma is None or mb is None:
        ta, tb = things_in(a), things_in(b)
        return bool(ta) and bool(tb) and ta[0].kind == tb[0].kind
    return ma.kind == mb.kind


def sightings(clips: Sequence[GroundedClip], thing: str) -> list[GroundedClip]:
    """The evidence for the asked thing, newest first: the best match decides what the thing is,
    the other clips of the same kind are the other times it was seen."""
    ev = evidence(clips)
    if not ev:
        return []
    best = ev[0]
    same = [c for c in ev if c is best or _same_thing(c, best, thing) or (thing and c.word_match and best.word_match)]
    return sorted(same, key=lambda c: -c.end)


def _unclear(clips: Sequence[GroundedClip], when) -> str:
    """A denial is only as good as the sight behind it: when the moments that matched the question
    best showed nothing the perception could name for sure, it says so (the thing may be there)."""
    vague = [c for c in clips[:2] if c.score >= VAGUE_SCORE and not any(t.sure for t in things_in(c))]
    if not vague:
        return ""
    c = max(vague, key=lambda c: c.end)
    return f" But I couldn't make out everything: {when(c.end)} I saw something I can't name."


def _cannot(thing: str, visual) -> bool:
    return bool(thing) and visual is not None and not recognisable(thing, visual)


def _cannot_said(thing: str, closest: GroundedClip | None, when) -> str:
    """"I can't recognise paintings, so I can't tell whether I saw one; around ... I saw ..."."""
    line = f"I can't recognise {plural(thing) if not thing.endswith('s') else thing}, so I can't tell whether I saw {'one' if not thing.endswith('s') else 'any'}"
    if closest is not None:
        line += f"; {when(closest.end)} I saw {_things(closest)}"
    return line + "."


def facts(q: Question | str, question: str, clips: Sequence[GroundedClip], now: float,
          follow: str | None = None, wall: float | None = None, visual=None) -> str:
    """The grounded answer as plain sentences (what, when, where). ``now``: stream time of the
    question; ``wall``: its clock time, when known (a live session), for times past an hour;
    ``visual``: the encoder, whose vocabulary says what could have been seen at all."""

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
    if q.attribute:
        return attribute_facts(q, question, clips, when, visual)
    thing = q.thing if follow is None else "it"
    seen = sightings(clips, q.thing)
    matched = [c for c in seen if _match(c, q.thing) is not None] if q.thing else seen
    no = "No, " if q.yesno else ""
    if q.kind == "count":
        if not matched:
            if _cannot(q.thing, visual):
                return _cannot_said(q.thing, None, when)
            return f"I haven't seen {with_article(thing, asked=True)}." if thing else "I haven't seen that."
        n = len(matched)
        times = "once" if n == 1 else "twice" if n == 2 else f"{n} times"
        return f"I saw {with_article(thing, asked=True) if thing else 'it'} {times}, most recently {when(matched[0].end)}."
    if not seen:
        if follow == "before":
            return "I haven't seen it before that."
        if follow == "after":
            return "I haven't seen it after that."
        if _cannot(q.thing, visual):
            return _cannot_said(q.thing, None, when)
        if not thing:
            return f"{no}I haven't seen anything like that."
        return f"{no}I haven't seen {with_article(thing, asked=True)}." + _unclear(clips, when)
    if thing and follow is None and not matched:
        # only a look-alike: for something the perception could name, a denial in the user's words
        # and the closest thing seen; for something it has no word for, that it cannot tell
        if _cannot(q.thing, visual):
            return _cannot_said(q.thing, seen[0], when)
        return f"{no}I haven't seen {with_article(thing, asked=True)} itself; the closest was {_sighting(seen[0], '', when, True)}."
    if matched:  # a sure sighting before a guess, then the newest (or, asked for, the first) first
        seen = sorted(matched, key=lambda c: (not _match(c, q.thing).sure, c.start if q.order == "first" else -c.end))
    lead = {"before": "Before that, I saw", "after": "After that, I saw"}.get(follow or "", "Yes, I saw" if q.yesno else "I saw")
    m = _match(seen[0], q.thing) if q.thing else None
    if m is not None and not m.sure and q.yesno and follow is None:
        lead = "Maybe: I saw"
    line = f"{lead} {_sighting(seen[0], q.thing, when, q.where or not q.yesno, q.where)}."
    if len(seen) > 1:
        line += f" I also saw it {'once' if len(seen) == 2 else f'{len(seen) - 1} times'} " \
                f"{'after' if q.order == 'first' else 'before'} that."
    return line


def attribute_facts(q: Question, question: str, clips: Sequence[GroundedClip], when, visual=None) -> str:
    """Colours, people counted, what was held or on something: from the detector's boxes and the
    colours measured in them, or said to be unknown, never guessed."""
    thing = q.thing
    if q.attribute == "people":
        crowd = sorted((c for c in clips if c.scene is not None and c.scene.people), key=lambda c: -c.end)
        if not crowd:
            return "I haven't seen any people."
        doing = _PEOPLE_DOING.search(question)
        phrase = (doing.group(1) or "") if doing else ""
        if has_cjk(question):  # (the English of what else it names: reasoning/understand.py)
            phrase = thing.removeprefix("people").strip()
        there = [c for c in crowd if phrase and any(t.label != "person" for t in matching(c, phrase))]
        c = max((there or crowd)[:COUNT_MOMENTS], key=lambda c: c.scene.people)
        n = c.scene.people
        line = f"I saw {'one person' if n == 1 else f'at least {number(n)} people'} {when(c.end)}"
        if phrase and not there:
            line += f", but I can't tell whether {'they were' if n > 1 else 'anyone was'} {phrase}"
        elif phrase:
            line += f", with {says([t for t in things_in(c) if t.label != 'person'], 2)}"
        return line + "."
    hits = sorted(((c, m) for c in clips for m in matching(c, thing)), key=lambda cm: (not cm[1].sure, -cm[0].end))
    if q.attribute == "count":  # "how many hats?": boxes counted in one moment; a classifier label counts nothing
        boxes = [(c, m) for c, m in hits if m.source == "detector"]
        if boxes:
            c, m = max(boxes, key=lambda cm: cm[1].count)
            return f"I saw {'one' if m.count == 1 else f'at least {number(m.count)}'} {m.name if m.count == 1 else plural(m.name)} {when(c.end)}."
        if hits:
            c, m = hits[0]
            return f"I saw {'' if m.sure else 'something like '}{with_article(thing, asked=True)} {when(c.end)}, but I can't count them."
    elif q.attribute == "colour":
        coloured = [(c, m) for c, m in hits if m.colour]
        if coloured:
            c, m = coloured[0]
            return f"The {thing} looked {m.colour}, {when(c.end)}." if m.sure else \
                f"I think I saw a {m.colour} {thing} {when(c.end)}, but I'm not sure it was one."
        if hits:
            c, m = hits[0]
            why = "the picture had no colour" if c.scene is not None and c.scene.grayscale else "I couldn't measure its colour"
            return f"I saw {'' if m.sure else 'something like '}{with_article(thing, asked=True)} {when(c.end)}, but {why}, so I can't tell its colour."
    elif q.attribute == "other":  # "what was the television standing on?": seen, but not that
        c, m = hits[0] if hits else (None, None)
        if c is not None:
            return f"I saw {said(m)} {when(c.end)}, but I can't tell you more about it than that."
    elif q.attribute == "held":
        people = [c for c in clips if c.scene is not None and c.scene.people]
        if hits or people:
            c = (hits[0][0] if hits else people[0])
            return f"I can't tell what was being held: I can't see hands. {when(c.end)[0].upper()}{when(c.end)[1:]} I saw {_things(c)}."
    elif q.attribute == "on":
        for c, m in hits:
            if m.source != "detector" or c.scene is None:
                continue
            on = [r.split(" is on the ")[0].removeprefix("the ") for r in c.scene.relations()
                  if r.endswith(f" is on the {m.label}")]
            if on:
                return f"On the {thing} I saw {says([t for t in things_in(c) if t.label in on], 3)}, {when(c.end)}."
        if hits:
            c, m = hits[0]
            return f"I saw {with_article(thing, asked=True)} {when(c.end)}, but I can't tell what was on it."
    if _cannot(thing, visual):
        return _cannot_said(thing, None, when)
    return f"I haven't seen {with_article(thing, asked=True)}." + _unclear(clips, when)


def about(q: Question, clips: Sequence[GroundedClip]) -> tuple[GroundedClip, ...]:
    """The moments an answer is about (its grounding thumbnails; what a follow-up searches from):
    for a question about a thing, the moments that show it (sure ones first), else the closest
    moment the answer offers instead; every moment of a summary or "now"."""
    if q.kind not in ("search", "count"):
        return tuple(clips)
    if q.attribute == "people":
        return tuple(c for c in clips if c.scene is not None and c.scene.people)[-3:][::-1]
    if not q.thing:
        return tuple(evidence(clips)[:1])
    shown = [c for c in clips if _match(c, q.thing) is not None]
    if shown:
        return tuple(sorted(shown, key=lambda c: (not _match(c, q.thing).sure, -c.end))[:3])
    return tuple(sightings(clips, q.thing)[:1])


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

    def seen(c: GroundedClip) -> str:  # what a moment shows (its OCR text read differently is the same moment)
        return says(things_in(c), 2) or _things(c)

    moments: list[GroundedClip] = []
    for c in clips:
        if not moments or seen(c) != seen(moments[-1]):
            moments.append(c)
    if len(moments) > SUMMARY_MOMENTS:  # too many: each thing once, at its latest sighting
        latest = {seen(c): c for c in moments}
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
        user = (f"Question (in Chinese): {prefix}{question}\nWhat you know, in English, in your own voice "
                f"(\"I\" is you, the assistant): {fact_text}\nAnswer in Chinese (简体中文) as yourself (我), using only "
                "what you know: say it faithfully, keep every thing and time it names, add nothing. Where it "
                "says you can't recognise or can't tell something, say so, never that you didn't see it.")
    elif fact_text:
        user = f"Facts: {fact_text}\nQuestion: {prefix}{question}\nAnswer using the facts."
    else:  # (after English turns the 1.5B answers a Chinese question in English unless told: told in
        # Chinese, 8 of 8 held; the English instruction was twice the tokens, its first token ~0.04 s later)
        user = f"{prefix}{question}" + ("\n用中文回答。" if language == "zh" else "")
    return [ChatMessage("system", SYSTEM), *history, ChatMessage("user", user, images=jpegs)]


def summary_messages(question: str, transcript: str, language: str = "en") -> list[ChatMessage]:
    """Summarise what was said: the transcript lines (with when and who) and the user's request."""
    lang = "Chinese (简体中文)" if language == "zh" else "English"
    user = (f"Transcript of what was said (oldest first, with when and who):\n{transcript}\n\n"
            f"Request: {question}\nSummarise it in {lang} in two to four short sentences: the main topics and "
            "key points, who said them and roughly when. Use only the transcript.")
    return [ChatMessage("system", SYSTEM), ChatMessage("user", user)]


_NEGATIONS = ("haven't", "have not", "didn't", "did not", "not seen", "no ", "没")
_UNSURE = ("can't", "cannot", "can not", "not sure", "i think", "unable", "don't know", "something like")


def keeps_facts(answer: str, clips: Sequence[GroundedClip], fact_text: str = "") -> bool:
    """Did the phrased answer keep the grounded object, and the facts' doubt ("I can't tell", "I
    think")? (If not, the facts are said instead.)"""
    low = answer.lower().replace("’", "'")
    if any(u in fact_text.lower() for u in _UNSURE) and not any(u in low for u in _UNSURE + _NEGATIONS):
        return False
    ev = evidence(clips)
    if not ev:
        return any(w in low for w in _NEGATIONS)
    names = " ".join([*ev[0].labels, *(f"{t.name} {t.label}" for t in things_in(ev[0]))])
    words = {w for w in names.lower().replace("-", " ").split() if len(w) > 2}
    return any(w in low for w in words)
