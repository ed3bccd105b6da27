"""A plain yes/no or when sighting said in Chinese without the LLM ("你看到猫了吗？" -> "看到了，我
大约9秒钟前看到了猫。", "你什么时候看到猫的？" -> "我大约9秒钟前看到了猫。"), in the words the user
asked with. The English facts are what the LLM would otherwise translate: that costs an LLM call
(about 1.5-2 s on two cores), and the 1.5B drops parts of them. Anything but the plainest case
(where, colour, counts, unsure sightings, follow-ups) is still phrased by the LLM from the facts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Sequence

from ..events import GroundedClip
from ..text import zh_tagged
from .facts import sightings
from .question import Question
from .sight import matching, recognisable

_PRONOUNS = {"你", "我", "他", "她", "它", "你们", "我们", "什么", "东西"}
_SEEING = {"看到", "看见", "见到", "见过", "看到过", "瞧见"}
_YESNO_ZH = re.compile(r"吗\W*$|有没有|是否")
_WHEN_ZH = re.compile(r"什么时候|何时|几点")


def asked_noun(question: str) -> str:
    """The thing a Chinese question names, as written ("你看到杯子了吗？" -> "杯子"): the nouns after
    看到 / 看见 ("你在桌子上看到杯子了吗？" -> "杯子") when they are one run of nouns, or the only run
    of nouns it has; "" when that is not clear (the LLM phrases the answer then)."""
    runs: list[tuple[bool, str]] = []  # (after a seeing verb, nouns)
    after_seeing, run = False, []
    for word, flag in zh_tagged(question):
        if flag.startswith("n") and word not in _PRONOUNS:
            run.append(word)
            continue
        if run:
            runs.append((after_seeing, "".join(run)))
            run = []
        after_seeing = after_seeing or word in _SEEING
    if run:
        runs.append((after_seeing, "".join(run)))
    seen = [nouns for after, nouns in runs if after] or [nouns for _, nouns in runs]
    return seen[0] if len(seen) == 1 and not seen[0].endswith("色") else ""  # "红色的车": two, the LLM says it


def ago_zh(seconds: float, wall: float | None = None) -> str:
    s = max(0, int(round(seconds)))
    if s < 5:
        return "刚才"
    if s < 60:
        return f"大约{s}秒钟前"
    if s < 3600:
        return f"大约{round(s / 60)}分钟前"
    hours = f"大约{round(s / 3600, 1):g}小时前"
    return f"{hours}（{datetime.fromtimestamp(wall):%H:%M}）" if wall is not None else hours


def sighting_zh(q: Question, question: str, clips: Sequence[GroundedClip], now: float,
                wall: float | None = None, visual=None) -> str:
    """The answer to a plain "did you see X?" in Chinese, or "" when it is not that plain; a
    denial of something recognisable never seen for any question about it ("我的钥匙在哪里？")."""
    yesno = q.yesno or bool(_YESNO_ZH.search(question))
    if q.kind != "search" or q.attribute or not q.thing:
        return ""
    noun = asked_noun(question)
    if not noun:
        return ""
    seen = sightings(clips, q.thing)
    if not seen and (visual is None or recognisable(q.thing, visual)):
        return f"{'没有，' if yesno else ''}我没有看到{noun}。"
    when_q = bool(_WHEN_ZH.search(question))
    if not (yesno or when_q) or q.where or (q.order and not when_q):
        return ""
    matched = [c for c in seen if any(m.sure for m in matching(c, q.thing))]
    if matched:
        c = min(matched, key=lambda c: c.start) if q.order == "first" else max(matched, key=lambda c: c.end)
        when = ago_zh(now - c.end, None if wall is None else wall - (now - c.end))
        return f"我{when}看到了{noun}。" if when_q else f"看到了，我{when}看到了{noun}。"
    return ""  # a look-alike, an unsure label, a thing no model names: the LLM says it from the facts
