"""From a grounded query to answer sentences: facts first, the LLM where it helps.

A plain synchronous generator, so the live session runs it on its LLM thread (every answer,
``omnilive ask`` and the benches included, comes from a session: runtime/asking.py). Sentences are yielded as soon as they are complete, so speech synthesis of the
first one starts while the LLM is still writing the rest.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence

from ..backends.base import LLM, ChatMessage
from ..config import Settings
from ..events import Query
from ..text import has_cjk
from .facts import SYSTEM, build_messages, keeps_facts, summary_messages
from .sentences import SentenceSplitter

def _plain(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


ZH_UNSURE = ("认不出", "看不出", "不能", "无法", "不确定", "说不准", "不知道", "可能", "好像", "不清楚")
ZH_CANNOT = "我认不出它，所以说不准有没有看到。"  # the LLM turned "I can't recognise X" into a denial


ZH_NOT = ("没", "不", "未", "无")
_DENIAL = re.compile(r"\W*(?:no\b|i haven't|i have not|i didn't|i did not)", re.I)


def _zh_fallback(fact_text: str, unsure: bool, denied: bool) -> str:
    """What a Chinese question gets when the LLM's Chinese lost the facts' doubt or denial."""
    if unsure:
        return ZH_CANNOT
    if denied:
        return "没有，我没有听到过。" if "heard" in fact_text else "没有，我没有看到过。"
    return fact_text  # the facts themselves, in English, rather than a wrong translation


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w{4,}", text.lower()))


CONTINUE = "(Continue from where you stopped{after}: say what comes next, without repeating anything you said.)"
# (the user's bare "Okay, go on." was once refused; without the last sentence to go on from, the
# 1.5B sometimes retold the whole story, every sentence of which the retelling check then drops)
RETOLD = 0.7  # a continuation's sentence whose words are mostly in the last answer already retells it


def _retold(sentence: str, told: set[str]) -> bool:
    words = _words(sentence)
    return len(words) >= 4 and len(words & told) >= RETOLD * len(words)


def facts_first(settings: Settings) -> bool:
    """Answer memory questions with the grounded facts alone? (Default: for a local llama.cpp model.)"""
    llm = settings.llm
    if llm.facts_first is not None:
        return llm.facts_first
    return llm.backend == "llama_cpp"


class RepeatGuard:
    """Small models loop ("A: "A: "B: ...", one sentence again and again): a sentence that was
    already said, or one that is mostly a repeated token, ends the answer."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._words: list[set[str]] = []

    def ok(self, sentence: str) -> bool:
        key = " ".join(re.findall(r"\w+", sentence.lower()))
        if not key:
            return bool(sentence.strip()) and not self._said  # punctuation alone: only as a first word
        tokens = key.split() if " " in key else list(key)
        if len(tokens) >= 6 and len(set(tokens)) <= len(tokens) // 3:
            return False
        words = set(tokens)
        if key in self._said or (len(words) >= 4 and any(len(words & w) >= 0.8 * len(words | w) for w in self._words)):
            return False  # said already, or the same words reordered ("Paris is the capital of France.")
        self._said.add(key)
        self._words.append(words)
        return True


def facts_alone(query: Query, facts_first: bool) -> str | None:
    """The answer when it is said as it is, with no LLM (None: the LLM writes it): a note
    confirmed, nothing heard to summarise, an English memory answer with ``facts_first``, a plain
    Chinese yes / no. Such a turn never waits for the LLM (runtime/speaking.py)."""
    zh = query.language == "zh"
    if query.kind in ("note", "privacy", "alert", "repeat") or (query.kind == "talk_summary" and not query.heard):
        return query.facts
    if query.kind not in ("chat", "continue", "talk_summary") and facts_first and not zh:
        return query.facts
    if zh and facts_first and query.facts_zh:
        return query.facts_zh
    return None


def answer_sentences(llm: LLM, query: Query, history: Sequence[ChatMessage] = (), *, facts_first: bool,
                     max_tokens: int, cancel: threading.Event | None = None) -> Iterator[tuple[str, float]]:
    """Yield (sentence, wall time of the first token or fact). English memory questions with
    ``facts_first`` are answered by the grounded facts alone (no prefill before the first audio);
    otherwise the LLM answers, in the question's language. For memory questions its first
    sentence must keep the grounded object (or, for Chinese, be Chinese) or the facts are said
    instead; a repeated sentence ends the answer."""
    fact_text = query.facts
    zh = query.language == "zh"
    summarise = query.kind == "talk_summary" and bool(query.heard)
    said = facts_alone(query, facts_first)
    if said is not None:
        yield said, time.perf_counter()
        return
    guard = RepeatGuard()
    if query.kind == "continue":  # "go on": the last answer is in the history; none of it again
        last = next((m.content for m in reversed(history) if m.role == "assistant"), "")
        seen = SentenceSplitter()
        last_sentences = seen.push(last.rstrip(" …")) + seen.flush()
        for s in last_sentences:
            guard.ok(s)
        after = f', after "{last_sentences[-1]}"' if last_sentences else ""
        msgs = [ChatMessage("system", SYSTEM), *history, ChatMessage("user", f"{query.text} {CONTINUE.format(after=after)}")]
        told = _words(last)
    elif summarise:
        msgs = summary_messages(query.text, fact_text, language=query.language)
    else:
        # the sounds heard under the question only beside facts: a chat question asked over a hum was
        # answered about the hum ("tell me a joke" -> "haha, this is a strange noise")
        tags = query.tags if fact_text else ()
        msgs = build_messages(query.text, tags, fact_text, query.clips, history,
                              images=llm.supports_images, language=query.language)
    checked = query.kind in ("chat", "continue") or summarise
    said = False
    first: float | None = None
    splitter = SentenceSplitter(early_first=query.kind == "chat")

    unsure = "can't recognise" in fact_text or "can't tell" in fact_text
    denied = bool(_DENIAL.match(fact_text))
    quoted = {w for item in query.heard for w in re.findall(r"\w{4,}", item.text.lower())}

    def keeps(s: str) -> bool:
        if query.heard and not zh:  # it must still say (some of) what was heard
            return bool(quoted & set(re.findall(r"\w{4,}", s.lower())))
        if zh:  # Chinese, not the question said back ("你看到了什么？" -> "你看到了什么？"), and as unsure as the facts
            # ... and a denial still one: "I haven't heard a baby crying." came out as "我听到婴儿哭。"
            return has_cjk(s) and _plain(s) != _plain(query.text) and (not unsure or any(m in s for m in ZH_UNSURE)) \
                and (not denied or any(n in s for n in ZH_NOT))
        return keeps_facts(s, query.clips, fact_text)

    def sentences() -> Iterator[str]:
        nonlocal first
        for delta in llm.stream(msgs, max_tokens=max_tokens, cancel=cancel):
            first = first or time.perf_counter()
            yield from splitter.push(delta)
        yield from splitter.flush()

    for s in sentences():
        first = first or time.perf_counter()
        if not checked:
            checked = True
            if not keeps(s):
                yield (_zh_fallback(fact_text, unsure, denied) if zh else fact_text), first
                return
        new = guard.ok(s)
        if query.kind == "continue" and (not new or _retold(s, told)):
            continue  # the last answer again, or retold in other words: only what is new is said
        if not new:
            break  # leaving the LLM's generator stops it
        said = True
        yield s, first
    if not said and query.kind == "continue":  # nothing new to add
        yield ("我没有更多可说的了。" if zh else "That's all I have to say about it."), time.perf_counter()
    elif not said:  # the LLM said nothing at all
        yield fact_text or ("抱歉，我没有答案。" if zh else "Sorry, I have no answer to that."), time.perf_counter()
