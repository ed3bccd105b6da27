"""Understand a question: the rules in question.py first, the LLM under a JSON schema where they fail.

The rules parse English, and the kind of a Chinese question from its cue words (看到, 哪里, 几次,
最近五分钟 ...). What they cannot do is name a Chinese question's object for the English-only text
embedder: a dictionary names the things a camera could see (reasoning/zh_english.py), the rest is
asked of the LLM, its reply constrained to a one-field JSON schema (llama.cpp
turns it into a grammar; a server gets it as ``response_format``). The field is all it writes:
a schema with kind, yes/no, where and time range as well took 2.8-4.3 s on the embedded 1.5B and
named the object in Chinese half the time. ``Question.parsed_by`` records the path taken
(counted by bench/reasoning_bench.py).
"""

from __future__ import annotations

import dataclasses
import logging
import re

from ..backends.base import LLM, ChatMessage
from ..text import has_cjk, zh_tagged
from ..memory.ranking import content_words
from .question import Question, parse as parse_question
from .facts import SYSTEM
from .facts_zh import asked_noun
from .sight import recognisable
from .zh_english import english_of, senses

log = logging.getLogger(__name__)

SCHEMA = {
    "type": "object",
    "properties": {"object": {"type": "string", "maxLength": 32}},
    "required": ["object"],
}
PROMPT = ("Name the thing this question asks about in one or two English words, translated to English if the "
          "question is not in English (\"\" if it asks about no thing). Reply as JSON.\n"
          "Example: 你看到我的钥匙了吗？ -> {\"object\": \"keys\"}\nQuestion: ")


_PEOPLE_ZH = {"人", "人们", "男人", "女人", "孩子", "小孩", "大人"}

# who asks or what was seen: "where is my ...", "did you see ...", "我的 ... 在哪里", "你看到 ..."
_PERSONAL = re.compile(r"\b(?:i|me|my|mine|we|us|our|you|your|saw|see|seen|look(?:ed)?|left|put|kept|placed|"
                       r"last|camera|here|there)\b|[我你咱看放丢留摆]|刚才|摄像", re.I)


def about_the_world(text: str) -> bool:
    """"Where is Paris?", "Where is the capital of France?", "法国的首都是哪里？": a question about a
    named place or person that asks about no one's things and nothing seen: general knowledge, for
    chat, not a search of memory for a thing no camera names (which said "I can't recognise
    capital Frances"). Names: capitalised words after the first (English, as typed or as Whisper
    writes them), jieba's place and person tags (Chinese)."""
    if _PERSONAL.search(text):
        return False
    if has_cjk(text):
        return any(flag in ("ns", "nr") for _, flag in zh_tagged(text))  # (its "nt" tags 公共汽车 too)
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    return any(w[0].isupper() and w != "I" for w in words[1:])


def understand(text: str, llm: LLM | None, wall: float | None = None, visual=None) -> Question:
    q = parse_question(text, wall)
    if q.kind == "search" and about_the_world(text):
        return dataclasses.replace(q, kind="chat", thing="")
    if q.kind not in ("search", "count") or not has_cjk(text):
        return q
    if q.attribute == "people":  # "公交车前面有几个人？": people, and where (the bus), by the dictionary
        fits = _seeable(visual)
        near = "".join(w for w, flag in zh_tagged(text) if flag.startswith("n") and w not in _PEOPLE_ZH)
        named = english_of(near, fits) if fits and near else None
        return dataclasses.replace(q, thing=f"people {named}", parsed_by="dictionary") if named else q
    thing, by = english_name(text, llm, visual, how=True)
    return dataclasses.replace(q, thing=thing, parsed_by=by) if thing else q


def english_name(text: str, llm: LLM | None, visual=None, noun: str = "", how: bool = False):
    """The thing a Chinese question or request is about, in English (None: it could not be named);
    watches use it too ("看到猫的时候告诉我" watches for "cat"). A thing the camera could name
    that the dictionary names in one word ("马": "horse") is named without the LLM; else the LLM
    names it, unless its name shares no word with the dictionary's senses (it wrote "marchants"
    for 马). ``how``: also say which ("dictionary" / "llm")."""
    noun = noun or asked_noun(text)
    fits = _seeable(visual)
    known = english_of(noun, fits) if fits else None
    if known and " " not in known:
        return (known, "dictionary") if how else known
    named = _llm_name(text, llm)
    if known and (named is None or not content_words(named) & content_words(" ".join(senses(noun)))):
        named, by = known, "dictionary"
    else:
        by = "llm"
    return (named, by) if how else named


def _seeable(visual):
    """Can an English name be something ``visual`` could see? None for an encoder without a fixed
    vocabulary (CLIP sees anything, so a dictionary's first sense, 鸟 "penis", would pass)."""
    return (lambda g: recognisable(g, visual)) if getattr(visual, "concept_names", None) else None


def _llm_name(text: str, llm: LLM | None) -> str | None:
    if llm is None or not llm.supports_json:
        return None
    try:
        # the fixed system prompt first, as for answers, so llama.cpp keeps reusing its evaluated prefix
        got = llm.json([ChatMessage("system", SYSTEM), ChatMessage("user", PROMPT + text)], SCHEMA,
                       max_tokens=32)
        thing = str(got.get("object") or "").strip()
    except Exception as exc:  # the LLM is down or wrote nonsense: the rules' reading stands
        log.warning("naming by the LLM failed (%s); using the rules", exc)
        return None
    return thing if thing and not has_cjk(thing) else None
