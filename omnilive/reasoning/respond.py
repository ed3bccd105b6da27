"""From a grounded query to answer sentences: facts first, the LLM where it helps.

A plain synchronous generator, so the live session runs it on its LLM thread and `omnilive ask`
calls it directly. Sentences are yielded as soon as they are complete, so speech synthesis of the
first one starts while the LLM is still writing the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from ..backends.base import LLM, ChatMessage
from ..config import Settings
from ..events import Query
from . import answer as grounding
from .sentences import SentenceSplitter


def facts_first(settings: Settings) -> bool:
    """Answer memory questions with the grounded facts alone? (Default: only for the embedded 135M model.)"""
    llm = settings.llm
    if llm.facts_first is not None:
        return llm.facts_first
    return llm.backend == "llama_cpp" and llm.model == "smollm2"


def answer_sentences(llm: LLM, query: Query, history: Sequence[ChatMessage] = (), *, facts_first: bool,
                     max_tokens: int, cancel: threading.Event | None = None) -> Iterator[tuple[str, float]]:
    """Yield (sentence, wall time of the first token or fact). Memory questions with
    ``facts_first`` are answered by the grounded facts alone (the embedded 135M model would only
    risk garbling them); otherwise the LLM answers, and for memory questions its first sentence
    must keep the grounded object or the facts are said instead."""
    fact_text = query.facts
    if query.kind != "chat" and facts_first:
        yield fact_text, time.perf_counter()
        return
    msgs = grounding.build_messages(query.text, query.tags, fact_text, query.clips, history, images=llm.supports_images)
    checked = query.kind == "chat"
    said = False
    first: float | None = None
    splitter = SentenceSplitter()
    for delta in llm.stream(msgs, max_tokens=max_tokens, cancel=cancel):
        first = first or time.perf_counter()
        for s in splitter.push(delta):
            if not checked:
                checked = True
                if not grounding.keeps_facts(s, query.clips):
                    yield fact_text, first
                    return
            said = True
            yield s, first
    for s in splitter.flush():
        if not checked:
            checked = True
            if not grounding.keeps_facts(s, query.clips):
                s = fact_text
        said = True
        yield s, first or time.perf_counter()
    if not said:  # the LLM said nothing at all
        yield fact_text or "Sorry, I have no answer to that.", time.perf_counter()
