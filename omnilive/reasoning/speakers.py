"""Requests and questions about who spoke: "this is my voice", "that was Anna", "what did the
other person say?", "did I say ...?". The voices themselves are memory/speakers.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..memory.speakers import SpeakerBook

_ENROL = re.compile(r"\b(?:(?:this|that|it) is|that's|it's|here is|here's) my (?:own )?voice\b|"
                    r"\b(?:remember|learn|know|enrol+|register) my voice\b|这是我的声音|记住我的声音", re.I)
# "that was Anna", "her name is Anna", "the other person is Anna": a name as the ASR writes one (capitalised)
_NAME = re.compile(r"^\W*(?i:that|this|it) (?i:was|is) (?P<a>[A-Z][a-z]+)\W*$|"
                   r"\b(?i:her|his|their) (?i:name)(?i: is|'s) (?P<b>[A-Z][a-z]+)\b|"
                   r"\b(?i:the other (?:person|voice|speaker|one) (?:is|was)) (?P<c>[A-Z][a-z]+)\b|"
                   r"刚才(?:说话的|那个人)是(?P<d>[\u4e00-\u9fff]{1,4}?)[。！]?$")
_MINE = re.compile(r"\b(?:did|have|had) i (?:ever |just )?(?:say|said|tell|told|mention)|\bwhat (?:did|have) i (?:say|said|tell|told)|"
                   r"\bi said\b|我说过|我说了|我提到", re.I)
_OTHERS = re.compile(r"\b(?:the other (?:person|guy|man|woman|one|speaker|voice)|someone else|somebody else|anyone else|"
                     r"anybody else|other people|the others?)\b|别人|其他人|另一个人", re.I)
_NAMED = re.compile(r"\b(?i:did|has|had|what did|what has) (?P<name>[A-Z][a-z]+) (?i:say|said|tell|told|mention|talk)|"
                    r"\b(?P<name2>[A-Z][a-z]+) (?i:said)\b")
_NOT_NAMES = {"I", "You", "He", "She", "They", "We", "Someone", "Anyone", "Somebody", "Anybody", "Everyone", "It"}


def enrol_request(text: str) -> bool:
    return bool(_ENROL.search(text))


def name_request(text: str) -> str | None:
    m = _NAME.search(text.strip())
    if m is None:
        return None
    name = next(g for g in m.groups() if g)
    return None if name in _NOT_NAMES else name


@dataclass(frozen=True, slots=True)
class VoiceFilter:
    """Whose speech a question is about: ``voices`` (None: anyone), how to say who, or why it cannot tell."""

    voices: frozenset[int] | None = None
    who: str = ""
    cannot: str = ""  # set when the question names a voice the memory does not know
    topic: str = ""  # the question with whose words it asks about taken out (they are not what was said)


def asked_voices(question: str, book: SpeakerBook) -> VoiceFilter:
    """"Did I say ...": the owner's voice; "the other person": every voice but the owner's;
    "what did Anna say": Anna's. No such words: anyone."""
    owner = book.owner
    if _MINE.search(question):
        if owner is None:
            return VoiceFilter(cannot="I don't know your voice yet: say \"this is my voice\" and I'll learn it.")
        return VoiceFilter(frozenset({owner.voice_id}), "you")
    if _OTHERS.search(question):
        others = frozenset(v.voice_id for v in book.voices() if not v.owner)
        return VoiceFilter(others, "someone else", topic=_OTHERS.sub("someone", question))
    m = _NAMED.search(question)
    name = (m.group("name") or m.group("name2")) if m else None
    if name and name not in _NOT_NAMES:
        voice = book.find(name)
        if voice is None:
            return VoiceFilter(cannot=f"I don't know {name}'s voice: after {name} speaks, tell me \"that was {name}\".")
        return VoiceFilter(frozenset({voice.voice_id}), voice.label, topic=re.sub(rf"\b{name}\b", "someone", question))
    return VoiceFilter()


def enrolled_said(ok: bool, language: str) -> str:
    if language == "zh":
        return "好的，我记住你的声音了。" if ok else "我没听清你的声音，请再说一句长一点的话。"
    return "OK, I'll know your voice from now on." if ok else \
        "I couldn't hear enough of your voice: say it again in a longer sentence."


def named_said(name: str | None, language: str) -> str:
    if language == "zh":
        return f"好的，我记住了，那是{name}的声音。" if name else "我不知道你说的是谁的声音：我最近没听到别人说话。"
    return f"OK, that voice is {name}." if name else "I haven't heard anyone else speak lately, so I don't know whose voice you mean."


def not_owner_said(language: str) -> str:
    if language == "zh":
        return "这听起来不是主人的声音，所以我不会这样做。请主人亲自说，或者在页面上操作。"
    return ("That didn't sound like the owner's voice, so I won't do that. The owner can ask me, "
            "or do it from the page.")
