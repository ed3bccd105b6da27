"""Is an utterance meant for the assistant? And is it a command to stop?

The embedded filter is a logistic regression over the MiniLM sentence embedding plus a few cues
(question form, second-person address, request phrases, a wake word, length). It is trained by
``scripts/train_intent.py`` on hand-written assistant requests and background talk (family chat,
TV, meetings, phone calls) plus LibriSpeech *dev* transcripts, and evaluated on held-apart
third-party text: questions from streaming-video QA benchmarks against LibriSpeech *test* and other
real transcripts (bench/reasoning_bench.py). The weights ship in ``omnilive/data/intent/model.npz``.

MiniLM is English-only, so text in Chinese (or another CJK script) is judged by cues alone. With a
real LLM server configured, ``runtime.respond = "llm"`` asks it instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np

from ..backends.base import LLM, ChatMessage, TextEmbedder
from ..text import has_cjk

log = logging.getLogger(__name__)

# A request to stop talking, in any phrasing: an optional polite/attention lead ("hey", "can you",
# "please"), a stop verb, optional fillers ("for a second", "talking", "now"); nothing else, so
# "stop watching for dogs" or "what does a stop sign look like?" are not stops.
_STOP_LEAD = (r"(?:(?:hey|hi|ok|okay|oh|please|omnilive|assistant|can you|could you|would you|will you|just|"
              r"alright|all right|right|now|so|um|uh)\s+)*")
_STOP_VERB = (r"(?:stop|be quiet|quiet|shut up|sh+|hush|enough|hold on|hang on|wait|pause|silence|that's enough|"
              r"stop it|that will do|cut it out)")
_STOP_EN = re.compile(
    _STOP_LEAD + _STOP_VERB +
    r"(?:\s+(?:it|talking|speaking|now|please|for a (?:second|sec|moment|minute|bit)|a (?:second|sec|moment|minute)|"
    r"there|that|right there|right now|already|stop|thanks|thank you|omnilive|up|then|ok|okay))*$", re.I)
# over an answer, a stop may be heard with its last words garbled ("Shh, stop talking." as
# "SHH-STOP-TORCAN"): a short utterance that opens with a stop verb is a stop there
_OPENS_STOP = re.compile(_STOP_LEAD + r"(?P<stop>" + _STOP_VERB + r")\b", re.I)
OVER_ANSWER_STOP_WORDS = 3
_STOP_ZH = re.compile(r"^(?:请|你)?(?:嘘+|停+|停一下|停下来?|别说了|不要说了|闭嘴|安静(?:一下)?|等一下|等等|够了|停止|暂停)"
                      r"(?:吧|啊|呀|了|一下)*$")
_QUESTION_START = re.compile(
    r"^\s*(what|where|when|who|whom|which|why|how|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|have|has|had)\b", re.I)
_REQUEST = re.compile(r"\b(tell me|show me|remind me|describe|help me|find my|look at|read|please|can you|"
                      r"could you)\b", re.I)
_SECOND_PERSON = re.compile(r"\b(you|your|you're|you've)\b", re.I)
_WAKE = re.compile(r"\b(omnilive|assistant)\b", re.I)
_CALLED = re.compile(r"^\W*((hey|hi|ok|okay)\W+)?(omnilive|omni live|assistant)\b", re.I)  # addressed by name
# a question to "you" about what you saw or heard: the assistant's memory answers it even when a
# person was asked ("have you seen my keys?"), and the classifier learned such questions from
# family talk ("have you seen the new neighbors?") as background
_ASKED_MEMORY = re.compile(r"^\W*(?:\w+\W+){0,3}?(?:did|have|had|do|can|could)\s+you\s+(?:\w+\s+)?"
                           r"(?:see|saw|seen|hear|heard|notice|noticed|spot|spotted)\b|"
                           r"^\W*(?:when|where|what|how many|how often|who)\b.*\byou\s+(?:see|saw|seen|hear|heard|notice)\b", re.I)
_MY_THINGS = re.compile(r"\b(did i|where('s| is| are| did)|my)\b", re.I)
_ZH_QUESTION = re.compile(r"[吗呢吧？?]|什么|哪里|哪儿|怎么|为什么|谁|几|多少|^请|帮我|告诉我|^给我|给我(?:讲|说|看|找|读|唱)|讲个|讲一个|说说|"
                          r"能不能|可以|总结")

CUES = ("question_mark", "question_start", "request", "second_person", "wake_word", "my_things", "length")


def is_stop_command(text: str) -> bool:
    """A short request to stop talking ("Stop.", "Stop, stop!", "Can you stop for a second?", "嘘", "停一下")."""
    if has_cjk(text):
        return bool(_STOP_ZH.match(re.sub(r"[\s\W]+", "", text)))
    words = " ".join(re.findall(r"[a-z']+", text.lower()))
    return bool(words) and len(words.split()) <= 10 and bool(_STOP_EN.match(words))


def is_stop_over_answer(text: str) -> bool:
    """A stop said over an answer: a stop command, or a few words opening with a stop verb whose
    rest may be misheard ("stop torcan"). Not where it opens a longer request or a question
    ("wait, what else ...", "hold on, why?")."""
    if is_stop_command(text):
        return True
    if has_cjk(text):
        return False
    words = " ".join(re.findall(r"[a-z']+", text.lower()))
    m = _OPENS_STOP.match(words)
    if m is None or _QUESTION_START.match(words[m.end():]):  # "wait, why?": a question, not a stop
        return False
    return len(words[m.start("stop"):].split()) <= OVER_ANSWER_STOP_WORDS


_BACKCHANNEL = re.compile(
    r"^(?:(?:m+-?h?m+|mhm|uh-?huh|hmm+|yeah|yes|yep|yup|ok(?:ay)?|right|sure|i see|wow|oh|ah|aha|cool|nice|got it|"
    r"alright|all right|true|exactly|indeed|嗯+|哦+|噢|啊|对+|好+|好的|是的?|没错|明白了?|这样啊?|"
    # a lone interjection or "huh?" / "what?" (a cough or a sigh heard as words, or a listener who
    # missed a word): cutting the answer for it would be the worst reply
    r"huh|eh|uh+|um+|er+m?|ugh|ahem|what)[\s,.!?，。！？、…~-]*)+$",
    re.IGNORECASE,
)


def is_backchannel(text: str) -> bool:
    """"mm-hm", "yeah, right", "嗯嗯", "huh?": the listener saying they follow (or a noise heard as a
    word), not taking the turn."""
    return bool(_BACKCHANNEL.match(text.strip()))


def language_of(text: str, heard: str | None = None) -> str:
    """The language to answer in: Chinese when the text is written in CJK script, else what ASR
    heard, else English."""
    if has_cjk(text):
        return "zh"
    return heard if heard and heard != "zh" else "en"


def cue_features(text: str) -> np.ndarray:
    t = text.strip()
    return np.array([
        t.endswith("?"), bool(_QUESTION_START.match(t)), bool(_REQUEST.search(t)), bool(_SECOND_PERSON.search(t)),
        bool(_WAKE.search(t)), bool(_MY_THINGS.search(t)), min(len(t.split()), 40) / 20.0,
    ], dtype=np.float32)


_LEAD = {"ok", "okay", "please", "so", "now", "and", "hey", "well", "alright", "then", "just", "omnilive", "assistant",
         "oh", "hmm", "right", "yes", "yeah", "kindly"}
IMPERATIVE_FLOOR = 0.15  # an imperative the classifier gives at least this is a request


def imperative(text: str) -> tuple[bool, bool]:
    """(is the utterance an order, is it addressed to "me"/"us"): it opens, after discourse words
    ("okay, please"), with a verb in its base form ("tell", "explain", "keep"). The classifier
    learned questions well and orders badly ("Tell me a long story about ..." scored 0.27), so an
    order to the listener is decided on its grammar; the POS lexicon is lemminflect's."""
    from lemminflect import getAllLemmas

    words = re.findall(r"[a-z']+", text.lower())
    while words and words[0] in _LEAD:
        words = words[1:]
    if not words or len(words) > 30:
        return False, False
    first = words[0]
    lemmas = getAllLemmas(first)
    # ("let's ..." proposes something to the people present; "thank you" is no order)
    verb = first in lemmas.get("VERB", ()) and first not in ("let", "thank")
    return verb, verb and len(words) > 1 and words[1] in ("me", "us")


def looks_like_request(text: str) -> bool:
    """The cue rule on its own (used for CJK text and as ``respond = "questions"``)."""
    t = text.strip()
    if has_cjk(t):
        return bool(_ZH_QUESTION.search(t))
    return bool(t.endswith("?") or _QUESTION_START.match(t) or _REQUEST.search(t) or _WAKE.search(t))


class InstructionFilter:
    """``respond(text)``: should the assistant answer this utterance? Policies: "auto" (the trained
    classifier), "llm" (ask the configured LLM), "questions" (cues only), "all", "never"."""

    def __init__(self, embedder: TextEmbedder | None, policy: str = "auto", llm: LLM | None = None,
                 threshold: float = 0.5) -> None:
        self.policy = policy
        self.threshold = threshold
        self._embedder = embedder
        self._llm = llm
        self._w: np.ndarray | None = None
        if policy == "auto":
            with resources.files("omnilive.data.intent").joinpath("model.npz").open("rb") as f:
                data = np.load(f)
                self._w, self._b = data["w"], float(data["b"])
            if embedder is None or self._w.shape[0] != embedder.dim + len(CUES):
                raise ValueError("the embedded instruction filter needs the embedded MiniLM text model "
                                 "(text_embedding.model = \"minilm\"); set runtime.respond to \"questions\" or \"llm\"")

    def probability(self, texts: Sequence[str]) -> np.ndarray:
        """P(meant for the assistant) from the classifier (policy "auto")."""
        x = features(self._embedder, texts)
        return 1.0 / (1.0 + np.exp(-(x @ self._w + self._b)))

    def respond(self, text: str) -> bool:
        t = text.strip()
        if self.policy == "all":
            return bool(t)
        if self.policy == "never" or not t:
            return False
        if _CALLED.match(t):
            return True
        if self.policy == "questions" or has_cjk(t):
            return looks_like_request(t)
        if self.policy == "llm" and self._llm is not None:
            return self._ask_llm(t)
        p = float(self.probability([t])[0])
        order, to_me = imperative(t)
        return p >= self.threshold or to_me or (order and p >= IMPERATIVE_FLOOR) or bool(_ASKED_MEMORY.search(t))

    def _ask_llm(self, text: str) -> bool:
        prompt = [ChatMessage("system", "You decide whether an utterance heard by a home assistant's microphone "
                                        "is addressed to the assistant (a question or request for it) or is "
                                        "background talk (people talking to each other, TV, radio). "
                                        "Reply with one word: yes or no."),
                  ChatMessage("user", f"Utterance: \"{text}\"\nAddressed to the assistant?")]
        try:
            reply = "".join(self._llm.stream(prompt, max_tokens=3)).strip().lower()
        except Exception as exc:  # the server is down: fall back rather than go deaf
            log.warning("instruction filter: LLM unavailable (%s); using cues", exc)
            return looks_like_request(text)
        return reply.startswith("y")


def features(embedder: TextEmbedder, texts: Sequence[str]) -> np.ndarray:
    emb = embedder.embed([t.strip().lower() for t in texts])
    return np.hstack([emb, np.stack([cue_features(t) for t in texts])]).astype(np.float32)
