"""Grounded answers: the facts come from memory, the LLM only phrases them.

A question is first *understood* (``parse``): its kind decides how memory is consulted,

* ``now``     "what do you see?", "what am I holding?": the latest clip, not a similarity search;
* ``summary`` "what happened in the last two minutes?", "what did you see?": the distinct moments
              of the asked time range (the whole memory when none is named), in time order;
* ``search``  "where did I leave my keys?", "did you see a cat?": ranked grounding (memory/ranking.py);
* ``count``   "how many times did you see the dog?": the distinct sightings;
* ``chat``    anything else ("tell me a joke"): the LLM answers, with the conversation history;

plus what is asked about (the user's own words), whether it is a yes/no or a "where" question,
and a time range. Rules parse English; a question they cannot parse (Chinese, for the
English-only text embedder) is parsed by the LLM into the same fields under a JSON schema.

The facts sentence built here names the thing in the user's words ("Yes, I saw a butterfly, a
monarch I think, about a minute ago."), says labels as a person would (reasoning/words.py), says
where from what the clip shows around the object, and puts the newest sighting first. With a
local model it *is* the answer (``facts_first``: no prefill before the first audio); a server
LLM phrases it and sees the key frames, and its first sentence must keep the grounded object or
the facts are spoken instead. Without evidence the assistant says it has not seen the thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..backends.base import ChatMessage
from ..events import GroundedClip
from ..memory.ranking import content_words, query_text
from .words import hypernyms, name_of, with_article

MIN_SCORE = 0.6  # a clip this close to the question counts as a sighting (bench: seen 0.7-0.86, unseen 0.31-0.56)
SUMMARY_MOMENTS = 6  # distinct moments said in a summary

SYSTEM = (
    "You are omnilive, a helpful voice assistant that watches a camera and listens. Answer in one or "
    "two short spoken sentences unless asked for more, in the language of the question. When facts "
    "from memory are given, use only them and never invent a sighting."
)

_NOW = re.compile(r"\b(what|who)\b.*\b(do|can) you see\b|\bwhat('s| is) (this|that|in front|here)\b|"
                  r"\bam i (holding|wearing)\b|\bright now\b|\bdescribe (the|this|what)\b|\blook at (this|me)\b|"
                  r"\bwhat('s| is) in my hand|这是什么|我拿着什么|你现在看到", re.I)
_SUMMARY = re.compile(r"\bsummar|\bwhat (has |else )?happened\b|\beverything you\b|\bwhat did you see\b|"
                      r"\bwhat have you seen\b|\bwhat (else )?did you notice\b|发生了什么|总结|你看到了什么|你刚才看到", re.I)
_COUNT = re.compile(r"\bhow (many times|often|many)\b.*\b(see|saw|seen|notice|noticed|spot|spotted|show|showed|"
                    r"come|came|appear|appeared)\b|看到.*(几次|多少次)|(几次|多少次).*看到", re.I)
_SEARCH = re.compile(r"\b(see|saw|seen|where|when|notice|noticed|left|leave|put|find|found|last|remember|"
                     r"was there|were there|did i|is my|are my|have you)\b|哪|在哪|看到|见过", re.I)
_YESNO = re.compile(r"^\W*(did|have|has|was|were|is|are|do|does|can|could)\b|吗\W*$|有没有|是不是", re.I)
_WHERE = re.compile(r"\bwhere\b|在哪|哪里|哪儿", re.I)
_BEFORE = re.compile(r"^\W*(and |what about |ok |okay )?(before( that)?|earlier|previously|the time before)\W*$", re.I)
_AFTER = re.compile(r"^\W*(and |what about |ok |okay )?(after( that)?|later|then|and then)\W*$", re.I)
_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
        "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "few": 3, "couple of": 2}
_UNIT = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}
_WINDOW = re.compile(r"\b(?:last|past|previous)\s+(?:(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|"
                     r"fifteen|twenty|thirty|few|couple of)\s+)?(second|sec|minute|min|hour)s?\b", re.I)
_WINDOW_ZH = re.compile(r"(?:最近|过去|刚才的?)\s*(\d+|一|两|二|三|四|五|六|七|八|九|十)\s*(秒|分钟|小时)")
_ZH_NUM = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ZH_UNIT = {"秒": 1, "分钟": 60, "小时": 3600}
_DAYPART = re.compile(r"\b(today|this (morning|afternoon|evening)|tonight)\b|(今天)(上午|下午|晚上)?", re.I)
_PARTS = {"morning": (5, 12), "afternoon": (12, 18), "evening": (18, 24), "tonight": (18, 24), "上午": (5, 12),
          "下午": (12, 18), "晚上": (18, 24)}
_ANCHOR = re.compile(r"\b(before|after|since)\s+(?:you\s+(?:saw|noticed|spotted)|seeing|i\s+showed\s+you)\s+"
                     r"(?:a|an|the|my|some)?\s*([a-z][a-z '-]*?)\W*$", re.I)
_COUNT_WORDS = re.compile(r"\bhow (many times|often|many)\b|\btimes\b", re.I)


@dataclass(frozen=True, slots=True)
class Question:
    """What a question asks, as the rules (or the LLM) understood it."""

    kind: str
    thing: str = ""  # what is asked about, in the user's words ("cookie box", "butterfly")
    yesno: bool = False
    where: bool = False
    window_s: float | None = None  # "in the last two minutes": from 120 s before now ...
    until_s: float = 0.0  # ... to this many seconds before now ("this morning", asked at 3 pm: 3 h)
    anchor: tuple[str, str] | None = None  # "before you saw the dog": ("before", "dog")
    period: str = ""  # how the range was named ("this morning"), to say it back
    parsed_by: str = "rules"  # "rules" | "llm" (counted by the reasoning bench)


def window_of(text: str) -> float | None:
    """Seconds back from now a question asks about ("in the last two minutes" -> 120), else None."""
    if m := _WINDOW.search(text):
        n = _NUM.get((m.group(1) or "one").lower()) or int(m.group(1))
        return float(n * _UNIT[m.group(2).lower()])
    if m := _WINDOW_ZH.search(text):
        n = _ZH_NUM.get(m.group(1)) or int(m.group(1))
        return float(n * _ZH_UNIT[m.group(2)])
    return None


_AHEAD = re.compile(r"\s*\b(?:for|in|during|within|over)\s+(?:the\s+)?(?:next\s+)?(?:(\d+|a|an|one|two|three|four|"
                    r"five|six|seven|eight|nine|ten|fifteen|twenty|thirty|few|couple of)\s+)?(second|sec|minute|min|hour)s?\b",
                    re.I)
_AHEAD_ZH = re.compile(r"(?:在)?(?:接下来|之后|未来)的?\s*(\d+|一|两|二|三|四|五|六|七|八|九|十)\s*(秒|分钟|个?小时)(?:内|里|之内)?")


def ahead_of(text: str) -> tuple[float, str] | None:
    """"for the next ten minutes" -> (600, the text without it); None when no span ahead is named."""
    if m := _AHEAD.search(text):
        n = _NUM.get((m.group(1) or "one").lower()) or int(m.group(1))
        return float(n * _UNIT[m.group(2).lower()]), (text[:m.start()] + text[m.end():]).strip()
    if m := _AHEAD_ZH.search(text):
        n = _ZH_NUM.get(m.group(1)) or int(m.group(1))
        return float(n * _ZH_UNIT[m.group(2).lstrip("个")]), (text[:m.start()] + text[m.end():]).strip()
    return None


def daypart_of(text: str, wall: float | None) -> tuple[float, float, str] | None:
    """"this morning" / "today" -> (seconds back to its start, seconds back to its end, its name),
    by the local clock at ``wall`` (None: no clock, as for a recorded memory)."""
    m = _DAYPART.search(text)
    if m is None or wall is None:
        return None
    part = (m.group(2) or m.group(4) or ("tonight" if m.group(1).lower() == "tonight" else "")).lower()
    now = datetime.fromtimestamp(wall)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start_h, end_h = _PARTS.get(part, (0, 24))
    start = (now - midnight.replace(hour=start_h)).total_seconds()
    end = max(0.0, (now - midnight).total_seconds() - end_h * 3600)
    return (start, end, m.group(0)) if start > 0 else None


_ANYTHING = re.compile(r"^(different |distinct )?(?:things?|objects?|items?|stuff)$", re.I)


def parse(text: str, wall: float | None = None) -> Question:
    """Understand a question by rules (English; Chinese kinds by cue words). ``wall``: the clock
    time of "now", for "this morning" and "today"."""
    window, until, period = window_of(text), 0.0, ""
    if window is None and (part := daypart_of(text, wall)) is not None:
        window, until, period = part
    anchor = None
    if (m := _ANCHOR.search(text)) is not None:
        anchor = ("after" if m.group(1).lower() in ("after", "since") else "before", m.group(2).strip())
    if _COUNT.search(text):
        kind = "count"
    elif _SUMMARY.search(text) or ((window is not None or anchor) and not _YESNO.match(text)):
        kind = "summary"
    elif _NOW.search(text):
        kind = "now"
    elif _SEARCH.search(text):
        kind = "search"
    else:
        kind = "chat"
    thing = query_text(_COUNT_WORDS.sub(" ", _WINDOW.sub(" ", text))) if kind in ("search", "count") else ""
    if (m := _ANYTHING.match(thing)) and (kind == "count" or m.group(1)):  # "how many different things did you see?" asks for the distinct moments
        kind, thing = "summary", ""
    return Question(kind=kind, thing=thing if thing != text else "", yesno=bool(_YESNO.match(text)),
                    where=bool(_WHERE.search(text)), window_s=window, until_s=until, period=period,
                    anchor=anchor if kind == "summary" else None)


def follow_up(text: str) -> str | None:
    """"and before that?" -> "before"; "and after that?" -> "after"; otherwise None."""
    if _BEFORE.match(text):
        return "before"
    if _AFTER.match(text):
        return "after"
    return None


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
        return _summary(clips, when, _span(q))
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


def _span(q: Question) -> str:
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
