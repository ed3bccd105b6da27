"""Is an utterance meant for the assistant? And is it a command to stop?

Interim cue-based filter (question form, second-person address, imperative request verbs);
the trained classifier of issue 5 replaces ``respond_to`` behind the same signature.
"""

from __future__ import annotations

import re

_STOP = re.compile(r"^\s*(stop|stop it|stop talking|be quiet|quiet|shut up|停|停下|别说了|停止)\W*\s*$", re.I)
_QUESTION_START = re.compile(
    r"^\s*(what|where|when|who|whom|which|why|how|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|have|has|had)\b", re.I)
_REQUEST = re.compile(r"\b(tell me|show me|remind me|describe|help me|find my|look at)\b", re.I)
_ZH_QUESTION = re.compile(r"[吗呢吧？?]|什么|哪里|哪儿|怎么|为什么|谁|几|多少|请|帮我|告诉我")


_STOP_WORDS = {"stop", "it", "talking", "please", "okay", "ok", "now", "quiet", "be", "shut", "up", "hey"}


def is_stop_command(text: str) -> bool:
    """A short utterance made only of stop words ("Stop.", "Stop, stop!", "OK stop it please")."""
    if _STOP.match(text):
        return True
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and len(words) <= 6 and set(words) <= _STOP_WORDS and bool({"stop", "quiet", "shut"} & set(words))


def respond_to(text: str, policy: str = "questions") -> bool:
    if policy == "all":
        return bool(text.strip())
    if policy == "never":
        return False
    t = text.strip()
    if not t:
        return False
    return bool(t.endswith("?") or _QUESTION_START.match(t) or _REQUEST.search(t) or _ZH_QUESTION.search(t))
