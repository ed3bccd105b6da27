"""Watches: "tell me when you see a dog", "let me know if the phone rings", "warn me if someone comes
in", "tell me when someone mentions the dentist", "看到猫的时候告诉我"; "what are you watching for?",
"stop watching for dogs"; "tell me when you see the word EXIT" (text in view, by OCR); "... in the
next ten minutes" (an expiry). Parsed by rules; matched by runtime/watching.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..memory.heard import kinds_asked
from .question import ahead_of

_WATCH = re.compile(r"^\W*+(?:(?:ok|okay|hey|please|omnilive)\W+)*(?:please\s+)?(?:tell|let|warn|alert|notify|call|ping)\s+"
                    r"me\s+(?:know\s+)?(?:when(?:ever)?|if|as soon as|once)\s+(?P<what>.+?)\W*$", re.I)
_WATCH_ZH = re.compile(r"^\W*+(?:如果|当)?(?P<what>.+?)(?:的时候|时)?(?:告诉我|提醒我|叫我|通知我)\W*$")
_LIST = re.compile(r"\bwhat are you (watching|looking|listening) (out )?for\b|\bwhat watches\b|你在(等|看)什么", re.I)
_CANCEL = re.compile(r"^\W*+(?:(?:ok|okay|please)\W+)*(?:stop|quit|no longer|don't keep)\s+(?:watching|looking|listening)"
                     r"(?:\s+(?:out\s+)?(?:for\s+)?(?P<what>.*?))?\W*$|^\W*cancel (?:all |the |my )?watch(?:es)?(?: for (?P<what2>.+?))?\W*$",
                     re.I)
_TEXT = re.compile(r"^(?:(?:you\s+)?(?:see|read|spot|notice)\s+)?(?:the\s+)?(?:words?|text)\s+(?:saying\s+)?(?P<a>.+)$"
                   r"|^(?:you\s+)?(?:see|read|spot|notice)\s+(?:a\s+|the\s+)?sign\s+saying\s+(?P<c>.+)$"
                   r"|^(?:the\s+|a\s+)?(?:screen|sign|display|board)\s+(?:says|shows|reads|displays)\s+(?P<b>.+)$", re.I)
_SEE = re.compile(r"^(?:you\s+)?(?:see|spot|notice|find)\s+|^(?:there(?:'s| is| are)\s+)", re.I)
_ARTICLE = re.compile(r"^(?:a|an|the|some|any|my)\s+", re.I)
_PERSON = re.compile(r"^(?:someone|somebody|anyone|anybody|a person|people)\s+(?:comes?|walks?|gets?)\s+(?:in|home|back)\b"
                     r"|^(?:you see\s+)?(?:someone|somebody|anyone|a person)\b", re.I)
_WORDS = re.compile(r"^(?:someone|somebody|anyone|anybody|he|she|they|people)\s+(?:says?|mentions?|talks? about|said)\s+"
                    r"(?:the word\s+)?(?P<words>.+)$", re.I)
_SOUNDING = re.compile(r"\b(rings?|rang|rung|ringing|barks?|barking|barked|go(?:es)? off|beeps?|beeping|sounds?|"
                       r"cr(?:y|ies|ying)|laughs?|laughing|plays?|playing|knocks?|knocking|meows?|honks?|hear)\b", re.I)
_ONLY_HEARD = {"telephone", "alarm", "doorbell", "knock", "siren", "music", "laughter", "applause", "baby crying"}
ZH_SEE = re.compile(r"^(?:你)?(?:看到|看见|发现)(?:了)?")


@dataclass(frozen=True, slots=True)
class WatchRequest:
    kind: str  # "seen" | "sound" | "words" | "text" (in view, read by OCR)
    thing: str  # what to look or listen for, in plain words ("dog", "telephone", "dentist", "exit")
    said: str  # how the user put it, to say it back
    for_s: float | None = None  # "in the next ten minutes": it ends after this long; None: until cancelled


def watch_request(text: str) -> WatchRequest | None:
    ahead = ahead_of(text.strip())  # "... in the next ten minutes": parsed without it, kept as the expiry
    req = _watch(ahead[1] if ahead else text.strip())
    if req is None or ahead is None:
        return req
    return WatchRequest(req.kind, req.thing, req.said, ahead[0])


def _watch(text: str) -> WatchRequest | None:
    m = _WATCH.match(text)
    if m is None:
        z = _WATCH_ZH.match(text)
        if z is None:
            return None
        what = z.group("what").strip()
        if not ZH_SEE.match(what):
            return None
        thing = ZH_SEE.sub("", what).strip()  # named in English by the session's LLM
        return WatchRequest("seen", thing, what) if thing else None
    what = m.group("what").strip()
    if (t := _TEXT.match(what)) is not None:
        return WatchRequest("text", (t.group("a") or t.group("b") or t.group("c")).strip(" \"'“”.").lower(), what)
    words = _WORDS.match(what)
    if words:
        return WatchRequest("words", _ARTICLE.sub("", words.group("words").strip(" \"'")), what)
    if _PERSON.match(what):
        return WatchRequest("seen", "person", what)
    kinds = kinds_asked(what)
    if kinds and not _SEE.match(what) and (_SOUNDING.search(what) or kinds & _ONLY_HEARD):
        return WatchRequest("sound", sorted(kinds)[0], what)
    thing = _ARTICLE.sub("", _SEE.sub("", what)).strip()
    return WatchRequest("seen", thing, what) if thing else None


def renamed(req: WatchRequest, english: str) -> WatchRequest:
    """The watch for ``english`` ("a Cat" -> "cat"), as the user put it still."""
    return WatchRequest(req.kind, _ARTICLE.sub("", english.strip().lower()), req.said, req.for_s)


def list_request(text: str) -> bool:
    return bool(_LIST.search(text))


def cancel_request(text: str) -> str | None:
    """What to stop watching for ("dogs"), "" for every watch, None when not a cancel."""
    m = _CANCEL.match(text.strip())
    if m is None:
        return None
    what = (m.group("what") or m.group("what2") or "").strip()
    return "" if what in ("", "anything", "everything", "it", "that") else _ARTICLE.sub("", what)
