"""Understanding a question by rule: its kind decides how memory is consulted,

* ``now``     "what do you see?", "what am I holding?": the latest clip, not a similarity search;
* ``summary`` "what happened in the last two minutes?", "what did you see?": the distinct moments
              of the asked time range (the whole memory when none is named), in time order;
* ``search``  "where did I leave my keys?", "did you see a cat?": ranked grounding (memory/ranking.py);
* ``count``   "how many times did you see the dog?": the distinct sightings;
* ``chat``    anything else ("tell me a joke"): the LLM answers, with the conversation history;

plus what is asked about (the user's own words), whether it is a yes/no or a "where" question,
and a time range. Rules parse English; a question they cannot parse (Chinese, for the
English-only text embedder) is parsed by the LLM into the same fields (reasoning/understand.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..memory.ranking import query_text

_NOW = re.compile(r"\b(what|who)\b.*\b(do|can) you see\b|\bwhat('s| is) (this|that|in front|here)\b|"
                  r"\bam i (holding|wearing)\b|\bright now\b|\bdescribe (the|this|what)\b|\blook at (this|me)\b|"
                  r"\bwhat('s| is) in my hand|这是什么|我拿着什么|你现在看到", re.I)
_SUMMARY = re.compile(r"\bsummar|\bwhat (has |else )?happened\b|\beverything you\b|\bwhat did you see\b|"
                      r"\bwhat have you seen\b|\bwhat (else )?did you notice\b|发生了什么|总结|你看到了什么|你刚才看到", re.I)
_COUNT = re.compile(r"\bhow (many times|often|many)\b.*\b(see|saw|seen|notice|noticed|spot|spotted|show|showed|"
                    r"come|came|appear|appeared)\b|看到.*(几次|多少次)|(几次|多少次).*看到", re.I)
_SEARCH = re.compile(r"\b(see|saw|seen|where|when|notice|noticed|left|leave|put|find|found|last|remember|"
                     r"was there|were there|did i|is my|are my|have you)\b|哪|在哪|看到|见过|什么时候", re.I)
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
_ANCHOR = re.compile(r"\b(before|after|since)\s+(?:(?:you\s+(?:saw|noticed|spotted)|seeing|i\s+showed\s+you)\s+"
                     r"(?:a|an|the|my|some)?|(?:a|an|the|my))\s*([a-z][a-z '-]*?)\W*$", re.I)
# attributes of what was seen: answered from the detector's boxes and colours (reasoning/sight.py)
_COLOUR_Q = re.compile(r"\b(?:what|which) colou?rs?\b|\bcolou?r (?:of|was|is)\b|什么颜色|哪种颜色|颜色", re.I)
_PEOPLE_Q = re.compile(r"\bhow many (?:people|persons|men|women|kids|children|boys|girls|players|pedestrians|guys)\b|"
                       r"(?:几|多少)(?:个)?(?:人|男人|女人|孩子)", re.I)
_HELD_Q = re.compile(r"\b(?:holding|held|carrying|carried|in (?:his|her|their|the person's) hands?)\b|拿着|手里", re.I)
_ON_Q = re.compile(r"\bwhat(?:'s| is| was| were| are)?\s+(?:lying |sitting |standing |there |left )?on (?:the|a|my|that|this|top of the) "
                   r"([a-z][a-z ]*?)\W*$", re.I)
_FIRST = re.compile(r"\b(?:first|earliest)\b(?!\s+(?:minute|second|hour|time)s?\b)|第一次|最早", re.I)
_ORDER = re.compile(r"\b(?:first|earliest|latest|most recently)\b\s*", re.I)
_GENERAL = re.compile(r"\b(?:is|are)\s+(?:a|an)\b|\b(?:is|are)\s+(?!the\b|my\b|your\b|that\b|this\b|those\b|these\b)"
                      r"[a-z]+s\b\W*$|^\W*(?:what|which) colou?r (?:is|are) (?!the\b|my\b|your\b|that\b|this\b)", re.I)
_HOW_MANY = re.compile(r"\bhow many\s+(?!times\b)([a-z]+(?:\s+[a-z]+)?)\s+(?:were|was|are there|is there|did you|have you|"
                       r"had|could you|can you)\b", re.I)  # ("how many minutes are in an hour?" is chat)
_ASKED = re.compile(r"^\W*(?:what|which)\s+colou?rs?\s+(?:was|were|is|are|did)?\s*|^\W*(?:what|who)\s+(?:was|were|is|are)\s+",
                    re.I)
_RELATIVE = re.compile(r"\s(?:who|which|that|whose)\s.*$", re.I)
# a clause without "that": "the blanket [the cat was lying on]"
_CLAUSE = re.compile(r"\s(?:the|a|an|my|his|her|their|its)\s+\w+\s+(?:was|were|is|are|had|has)\b.*$", re.I)
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
    attribute: str = ""  # "colour" | "people" | "count" | "held" | "on": asked about what the detector measured
    order: str = ""  # "first": the earliest sighting is asked for (else the latest)
    parsed_by: str = "rules"  # "rules" | "llm" | "dictionary" (a Chinese thing; counted by the reasoning bench)


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
    attribute = attribute_of(text)
    if attribute is not None:
        return Question(kind="search", thing=attribute[1], yesno=bool(_YESNO.match(text)), window_s=window_of(text),
                        attribute=attribute[0])
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
    elif _SEARCH.search(_RELATIVE.sub("", text)):  # "a story about a fox who found a ball" searches nothing
        kind = "search"
    else:
        kind = "chat"
    thing = query_text(_COUNT_WORDS.sub(" ", _WINDOW.sub(" ", text))) if kind in ("search", "count") else ""
    if (m := _ANYTHING.match(thing)) and (kind == "count" or m.group(1)):  # "how many different things did you see?" asks for the distinct moments
        kind, thing = "summary", ""
    if kind in ("search", "count") and (m := _ORDER.search(thing)):
        thing = (thing[:m.start()] + thing[m.end():]).strip()
    return Question(kind=kind, thing=thing if thing != text else "", yesno=bool(_YESNO.match(text)),
                    order="first" if _FIRST.search(text) else "",
                    where=bool(_WHERE.search(text)), window_s=window, until_s=until, period=period,
                    anchor=anchor if kind == "summary" else None)


def attribute_of(text: str) -> tuple[str, str] | None:
    """(attribute, thing) for "what colour was the car?" ("colour", "car"), "how many people were
    there?" ("people", "people ..."), "what was the man holding?" ("held", "man"), "what was on the
    table?" ("on", "table"); None for other questions."""
    if _GENERAL.search(text):
        return None  # "what colour is a ripe banana?": about bananas, not about one that was seen
    if _PEOPLE_Q.search(text):
        return "people", query_text(text) if re.search(r"[a-z]", text, re.I) else "people"
    if (m := _HOW_MANY.search(text)) and not _ANYTHING.match(m.group(1)):  # ("how many different things": a summary)
        return "count", m.group(1)
    if _COLOUR_Q.search(text):
        rest = re.sub(r"\bcolou?rs?\b", " ", _ASKED.sub(" ", text), flags=re.I)
        return "colour", query_text(_CLAUSE.sub("", _RELATIVE.sub("", rest)))  # the blanket, not the cat on it
    if _HELD_Q.search(text) and not _NOW.search(text):
        holder = re.sub(r"\b(?:holding|held|carrying|carried|hands?|in)\b", " ", _ASKED.sub(" ", text), flags=re.I)
        return "held", query_text(holder)
    if m := _ON_Q.search(text):
        return "on", m.group(1).strip()
    return None


def follow_up(text: str) -> str | None:
    """"and before that?" -> "before"; "and after that?" -> "after"; otherwise None."""
    if _BEFORE.match(text):
        return "before"
    if _AFTER.match(text):
        return "after"
    return None
