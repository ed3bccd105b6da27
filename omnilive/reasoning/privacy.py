"""Requests to forget and to stop remembering, in the user's words.

"Forget the last five minutes", "forget everything from today", "forget everything", "delete what I
said about the dentist", "忘掉最近五分钟"; "stop remembering" / "pause" and "start remembering
again". Parsed by rules (they must never be mistaken for questions, nor questions for them), and
carried out by the session, which says what it did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .question import daypart_of, window_of

_FORGET = re.compile(r"^\W*+(?:(?:ok|okay|hey|please|omnilive|can you|could you)\W+)*(?:please\s+)?"
                     r"(?:forget|delete|erase|remove|wipe)\b(?P<rest>.*)$", re.I)
_ABOUT = re.compile(r"\b(?:what|everything|anything)\s+(?:i|we|you|he|she|they|someone)\s+(?:said|told you|talked)\s+"
                    r"(?:about\s+)?(?P<topic>.+?)\W*$|\babout\s+(?P<topic2>.+?)\W*$", re.I)
_ALL = re.compile(r"^\W*+(everything|all( of it)?|it all|all (your|of your) memory|your memory|"
                  r"everything you(?:'ve| have)? (saw|seen|heard|know|remember)(?: (?:and|or) (?:saw|seen|heard))?)\W*$",
                  re.I)
_FORGET_ZH = re.compile(r"^\W*+(?:请)?(?:忘掉|忘记|删除|删掉)(?P<rest>.*)$")
_PAUSE = re.compile(r"^\W*+(?:(?:ok|okay|hey|please|omnilive)\W+)*(?:please\s+)?(?:stop|pause|quit)\s+"
                    r"(?:remembering|recording|saving|memori[sz]ing)\b.*$|^\W*+(?:请)?(?:暂停记忆|停止记录|不要记住|别记了)", re.I)
_RESUME = re.compile(r"^\W*+(?:(?:ok|okay|hey|please|omnilive)\W+)*(?:please\s+)?(?:start|resume|continue|go on)\s+"
                     r"(?:remembering|recording|saving|memori[sz]ing)\b.*$|^\W*+(?:请)?(?:继续记忆|开始记录|恢复记忆)", re.I)


_YES = re.compile(r"^\W*(?:yes|yeah|yep|yup|sure|correct|confirm(?:ed)?|do it|go ahead|please do|ok(?:ay)?,? do it)\b"
                  r"|^\W*(?:是|是的|对|好的?|确认|确定|可以)\W*$", re.I)
_NO = re.compile(r"^\W*(?:no|nope|don'?t|do not|cancel|never ?mind|stop)\b|^\W*(?:不|不要|别|取消|算了)", re.I)


@dataclass(frozen=True, slots=True)
class Forget:
    since_s: float | None = None  # seconds back from now ("the last five minutes"); None: no time limit
    until_s: float = 0.0
    about: str = ""  # "what I said about the dentist": what was said about it, not a time range
    everything: bool = False
    said: str = ""  # how the range was named, to say it back


def forget_request(text: str, wall: float | None = None) -> Forget | None:
    m = _FORGET.match(text.strip())
    rest = m.group("rest").strip() if m else ""
    if m is None:
        z = _FORGET_ZH.match(text.strip())
        if z is None:
            return None
        rest = z.group("rest")
        window = window_of(rest)
        if window:
            return Forget(since_s=window, said=rest.strip("的。 "))
        if re.search(r"所有|全部|一切", rest):
            return Forget(everything=True, said="一切")
        day = daypart_of(rest, wall)
        return Forget(since_s=day[0], until_s=day[1], said=day[2]) if day else None
    window = window_of(rest)
    if window:
        return Forget(since_s=window, said=re.sub(r"^\W*+(about\s+)?", "", rest).rstrip(".!? "))
    day = daypart_of(rest, wall)
    if day:
        return Forget(since_s=day[0], until_s=day[1], said=f"everything from {day[2]}")
    about = _ABOUT.search(rest)
    if about:
        return Forget(about=(about.group("topic") or about.group("topic2")).strip())
    if _ALL.match(rest):
        return Forget(everything=True, said="everything")
    return None  # "forget it", "delete the photo": not a memory request this can act on


def pause_request(text: str) -> str | None:
    """"pause" (stop remembering), "resume", or None."""
    if _RESUME.match(text.strip()):
        return "resume"
    if _PAUSE.match(text.strip()):
        return "pause"
    return None


def forget_said(req: Forget, counts: dict[str, int], language: str) -> str:
    n = sum(counts.get(k, 0) for k in ("clips", "episodes", "heard"))
    if language == "zh":
        return f"好的，我已经忘掉了{req.said or req.about or '这些'}（{n} 条记忆）。"
    what = req.said or (f"what was said about {req.about}" if req.about else "that")
    if not n:
        return f"There was nothing to forget: I had nothing from {what}." if not req.about else \
            f"There was nothing to forget: I heard nothing about {req.about}."
    return f"OK, I have forgotten {what}: {n} {'moment' if n == 1 else 'moments'} deleted."


def pause_said(kind: str, language: str) -> str:
    if language == "zh":
        return "好的，我暂时不记住任何东西，直到你说“继续记忆”。" if kind == "pause" else "好的，我又开始记忆了。"
    if kind == "pause":
        return "OK, I'm not remembering anything now, until you say \"start remembering\"."
    return "OK, I'm remembering again."


def confirmation(text: str) -> bool | None:
    """The answer to "should I forget ...?": True (yes), False (no), None (something else)."""
    if _NO.match(text.strip()):
        return False
    return True if _YES.match(text.strip()) else None


def confirm_forget(req: Forget, language: str, stranger: bool = False) -> str:
    """Asked back before a spoken forget; ``stranger``: the voice was not the enrolled owner's."""
    what = req.said or (f"what was said about {req.about}" if req.about else "that")
    if language == "zh":
        head = "这听起来不是主人的声音。主人，" if stranger else ""
        return f"{head}确定要我忘掉{req.said or req.about or '这些'}吗？请说“是”确认。"
    if stranger:
        return f"That didn't sound like the owner's voice. Owner, do you want me to forget {what}? Say yes to confirm."
    return f"Do you want me to forget {what}? Say yes to confirm."


def cancelled_forget(language: str) -> str:
    return "好的，我什么都不会忘掉。" if language == "zh" else "OK, I won't forget anything."
