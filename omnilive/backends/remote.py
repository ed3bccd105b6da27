"""Model capabilities behind OpenAI-compatible HTTP servers, so each can scale on its own engine:
speech to text (``/audio/transcriptions``: faster-whisper-server, vLLM), text to speech
(``/audio/speech``) and text embeddings (``/embeddings``: llama.cpp, infinity, TEI). The LLM client
(llm.py) shares the pooled connections and the retry policy defined here."""

from __future__ import annotations

import io
import logging
import threading
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import httpx
import numpy as np

from ..config import Settings
from ..dsp import float_to_pcm16, pcm16_to_float, resample, to_mono_float
from ..redaction import redact, remember_secret
from ..text import has_cjk
from .asr_whisper import ZH_PROMPT, clean_transcript
from .base import TTS, ASRModel, ASRResult, ASRSegment, ModelUnavailable, TextEmbedder, join_text

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_S = 5.0  # a server that does not accept within this is down, whatever the read timeout
RETRIES = 2  # after the first attempt
BACKOFF_S = 0.5  # before the first retry; doubled for each further one
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})  # "try again later"; any other 4xx is the request's fault
PCM_RATE = 24_000  # OpenAI's response_format "pcm": 24 kHz 16-bit little-endian mono
WHAT = {"asr": "ASR", "tts": "TTS", "text_embedding": "Embedding", "llm": "LLM"}

_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


class RemoteError(RuntimeError):
    """A request to a model server failed (down, timed out, an error status after the retries, a
    reply that is not what the API publishes). ``status`` is the HTTP status, if one came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def pooled_client(base_url: str) -> httpx.Client:
    """One client per server, shared by every backend and thread using it: keep-alive connections
    save a TCP (and TLS) handshake per utterance, embedding batch or answer."""
    key = base_url.rstrip("/")
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30.0)
            client = _clients[key] = httpx.Client(limits=limits)
        return client


def retryable(exc: BaseException) -> bool:
    """Worth another attempt: the connection failed or timed out, or the server said try again."""
    if isinstance(exc, RemoteError):
        return exc.status in RETRY_STATUS
    return isinstance(exc, httpx.TransportError)


def _backoff(attempt: int, exc: BaseException, what: str) -> None:
    delay = BACKOFF_S * 2 ** attempt
    log.warning("%s request failed (%s), retry %d in %.1f s", what, exc, attempt + 1, delay)
    time.sleep(delay)


def with_retries(call: Callable[[], T], retries: int, what: str) -> T:
    """``call()``, again after a backoff while it fails in a retryable way."""
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == retries or not retryable(exc):
                raise
            _backoff(attempt, exc, what)
    raise AssertionError("unreachable")


def stream_with_retries(open_stream: Callable[[], Iterator[T]], retries: int, what: str) -> Iterator[T]:
    """The items of ``open_stream()``; a failure before the first item starts it again, one after
    it is raised: retrying then would repeat what already went out (an answer being spoken)."""
    for attempt in range(retries + 1):
        started = False
        try:
            for item in open_stream():
                started = True
                yield item
            return
        except Exception as exc:
            if started or attempt == retries or not retryable(exc):
                raise
            _backoff(attempt, exc, what)


class Endpoint:
    """One configured server (``<section>.url``, ``.api_key``, ``.timeout_s``): requests with the
    key, the timeouts and retries through the shared pool. The key never reaches a message."""

    def __init__(self, section: str, url: str | None, api_key: str | None, timeout_s: float,
                 error: type[RemoteError] = RemoteError) -> None:
        if not url:
            raise ModelUnavailable(f"{section}.backend=openai needs a server URL: set OMNILIVE_{section.upper()}__URL "
                                   "(e.g. http://localhost:8000/v1)")
        self.section = section
        self.what = WHAT[section]
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = RETRIES
        remember_secret(api_key)  # out of every log line too (a server may echo it back)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=CONNECT_S)
        self._error = error
        self._client = pooled_client(self.url)

    @classmethod
    def of(cls, settings: Settings, section: str, error: type[RemoteError] = RemoteError) -> "Endpoint":
        cfg = getattr(settings, section)
        return cls(section, cfg.url, cfg.api_key, cfg.timeout_s, error)

    def __repr__(self) -> str:
        return f"Endpoint({self.section}, {redact(self.url)})"

    @property
    def where(self) -> str:
        return f"{self.what} server at {redact(self.url)}"  # no password of http://user:pw@host

    def scrub(self, text: object) -> str:
        """``text`` without the API key (a server may echo the Authorization header back) or any
        other secret ``redact`` knows."""
        return redact(str(text))

    def request(self, method: str, path: str, *, retries: int | None = None, timeout: float | None = None,
                **kwargs) -> httpx.Response:
        """One call of the API, retried on connection errors, timeouts and 429/5xx; raises ``error``."""
        seconds = self.timeout_s if timeout is None else timeout
        limit = httpx.Timeout(seconds, connect=CONNECT_S)

        def once() -> httpx.Response:
            resp = self._client.request(method, self.url + path, headers=self._headers, timeout=limit, **kwargs)
            self._check(resp, path)
            return resp

        try:
            return with_retries(once, self.retries if retries is None else retries, self.what)
        except httpx.HTTPError as exc:
            raise self._error(self.failed(exc, seconds)) from exc

    @contextmanager
    def stream(self, method: str, path: str, **kwargs) -> Iterator[httpx.Response]:
        """An open streamed response, its status checked; closing it mid-way drops the connection,
        which tells the server to stop (llama.cpp and vLLM abort the generation)."""
        with self._client.stream(method, self.url + path, headers=self._headers, timeout=self._timeout,
                                 **kwargs) as resp:
            if resp.is_error:
                resp.read()
            self._check(resp, path)
            yield resp

    def _check(self, resp: httpx.Response, path: str) -> None:
        if resp.is_error:
            detail = self.scrub(resp.text.strip()[:300] or resp.reason_phrase)
            raise self._error(f"{self.where} answered HTTP {resp.status_code} to {path}: {detail}", resp.status_code)

    def failed(self, exc: BaseException, seconds: float | None = None) -> str:
        """What went wrong with a request, for a log line or an error; never the key."""
        if isinstance(exc, RemoteError):
            return self.scrub(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            reason = f"no connection within {CONNECT_S:g} s"
        elif isinstance(exc, httpx.TimeoutException):
            reason = f"no answer within {seconds or self.timeout_s:g} s"
        elif isinstance(exc, httpx.ConnectError):
            reason = "not reachable"
        else:
            reason = type(exc).__name__
        return self.scrub(f"{self.where} failed: {reason} ({exc})")

    @contextmanager
    def loading(self) -> Iterator[None]:
        """Turn a failed start-up probe into ModelUnavailable saying what to start or fix."""
        try:
            yield
        except RemoteError as exc:
            raise ModelUnavailable(self._unavailable(exc)) from exc

    def _unavailable(self, exc: RemoteError) -> str:
        cause, where = exc.__cause__, self.where
        if isinstance(cause, httpx.TimeoutException) and not isinstance(cause, httpx.ConnectTimeout):
            return f"{self.scrub(exc)}: is it overloaded or stuck? (or raise {self.section}.timeout_s)"
        if isinstance(cause, httpx.TransportError):
            reason = cause or type(cause).__name__
            return self.scrub(f"{where} is not reachable ({reason}): start it or fix {self.section}.url")
        if exc.status in (401, 403):
            return f"{where} refused the API key (HTTP {exc.status}): set {self.section}.api_key"
        return f"{self.scrub(exc)}; check {self.section}.url and {self.section}.model"


def endpoint_source(settings: Settings, section: str) -> str:
    cfg = getattr(settings, section)
    return f"{redact(cfg.url) if cfg.url else f'({section}.url unset)'} model={cfg.model}"


# ---- speech to text ---------------------------------------------------------------------------


def wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    """16-bit mono WAV: what every transcription server reads, half the size of float32."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(float_to_pcm16(samples))
    return buf.getvalue()


def _language_code(name: str) -> str:
    """"en" for "en", "english" or "English" (OpenAI's verbose_json names the language)."""
    name = (name or "").strip().lower()
    if len(name) <= 3:
        return name
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    return TO_LANGUAGE_CODE.get(name, name)


class OpenAIASR(ASRModel):
    """Whisper (or any ASR) behind ``/audio/transcriptions``, with what the local backend adds that
    the API allows: the Mandarin prompt, simplified characters, detection among ``asr.languages``."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.asr
        self.server = Endpoint.of(settings, "asr")
        self.model = cfg.model
        self.format = "verbose_json"  # segments and the detected language; "json" where refused
        self._language = cfg.language
        self._languages = list(cfg.languages)

    @staticmethod
    def source(settings: Settings) -> str:
        return endpoint_source(settings, "asr")

    @classmethod
    def load(cls, settings: Settings) -> "OpenAIASR":
        asr = cls(settings)
        silence = np.zeros(16_000, np.float32)  # proves the endpoint and warms the server's model
        with asr.server.loading():
            try:
                asr._request(silence, asr._language, retries=0)
            except RemoteError as exc:
                if exc.status not in (400, 422):
                    raise
                asr.format = "json"  # gpt-4o-transcribe, older vLLM: text only
                asr._request(silence, asr._language, retries=0)
        return asr

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> ASRResult:
        language = language or self._language
        result = self._request(samples, language)
        if language is None and self._languages and result.language not in self._languages:
            # the server detected among all languages; the local backend picks among asr.languages
            # (Whisper base hears a short English question as Japanese): decode again in the likeliest
            fallback = "zh" if "zh" in self._languages and has_cjk(result.text) else self._languages[0]
            result = self._request(samples, fallback)
        return result

    def _request(self, samples: np.ndarray, language: str | None, retries: int | None = None) -> ASRResult:
        form = {"model": self.model, "response_format": self.format}
        if language:
            form["language"] = language
        if language == "zh":
            form["prompt"] = ZH_PROMPT
        files = {"file": ("audio.wav", wav_bytes(samples), "audio/wav")}
        resp = self.server.request("POST", "/audio/transcriptions", data=form, files=files, retries=retries)
        try:
            return self._result(resp.json(), language)
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError(f"{self.server.where} sent no {self.format} transcript: {exc}") from exc

    def _result(self, body: dict, language: str | None) -> ASRResult:
        # plain json names no language: the one asked for, else the one the script shows
        guess = "zh" if has_cjk(body["text"]) else (self._languages or ["en"])[0]
        lang = _language_code(body.get("language") or language or guess)
        segs = tuple(ASRSegment(float(s["start"]), float(s["end"]), text)
                     for s in body.get("segments") or () if (text := clean_transcript(s["text"], lang)))
        text = join_text([s.text for s in segs], lang) if segs else clean_transcript(body["text"], lang)
        return ASRResult(text=text, language=lang, segments=segs,
                         language_probability=float(body.get("language_probability", 1.0)))


# ---- text to speech ---------------------------------------------------------------------------


class OpenAITTS(TTS):
    """A voice behind ``/audio/speech``; its audio is brought to ``tts.sample_rate`` like the local
    voices', since answer audio and files written from it are at that rate."""

    runs_here = False

    def __init__(self, settings: Settings) -> None:
        cfg = settings.tts
        self.server = Endpoint.of(settings, "tts")
        self.model, self.voice, self.format = cfg.model, cfg.voice, cfg.response_format
        self.sample_rate = cfg.sample_rate
        self.languages = frozenset(cfg.languages)

    @staticmethod
    def source(settings: Settings) -> str:
        return f"{endpoint_source(settings, 'tts')} voice={settings.tts.voice}"

    @classmethod
    def load(cls, settings: Settings) -> "OpenAITTS":
        tts = cls(settings)
        with tts.server.loading():
            tts._request("Hello.", retries=0)
        return tts

    def synthesize(self, text: str) -> np.ndarray:
        if not text.strip():
            return np.zeros(0, np.float32)  # the API rejects empty input
        return self._request(text)

    def _request(self, text: str, retries: int | None = None) -> np.ndarray:
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": self.format}
        resp = self.server.request("POST", "/audio/speech", json=body, retries=retries)
        audio, rate = self._decode(resp)
        return resample(audio, rate, self.sample_rate)

    def _decode(self, resp: httpx.Response) -> tuple[np.ndarray, int]:
        data = resp.content
        if data[:4] != b"RIFF" and self.format == "pcm":
            # OpenAI's pcm is 24 kHz; a server with another native rate says so (X-Sample-Rate)
            return pcm16_to_float(data[: len(data) // 2 * 2]), int(resp.headers.get("x-sample-rate", PCM_RATE))
        import soundfile as sf

        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        except (RuntimeError, sf.LibsndfileError) as exc:
            kind = resp.headers.get("content-type", "?")
            raise RemoteError(f"{self.server.where} sent {kind}, not {self.format} audio") from exc
        return to_mono_float(audio, int(rate)), int(rate)


# ---- text embeddings --------------------------------------------------------------------------


class OpenAIEmbedder(TextEmbedder):
    """Sentence vectors from ``/embeddings``, unit length like the local model's. Memory made with
    them is tied to ``text_embedding.backend`` and ``.model`` (the visual encoder's name), so the
    model named here must be the one the server serves."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.text_embedding
        self.server = Endpoint.of(settings, "text_embedding")
        self.model = cfg.model
        self.batch_size = cfg.batch_size
        self.dim = 0

    @staticmethod
    def source(settings: Settings) -> str:
        return endpoint_source(settings, "text_embedding")

    @classmethod
    def load(cls, settings: Settings) -> "OpenAIEmbedder":
        embedder = cls(settings)
        with embedder.server.loading():
            body = embedder._post(["dimension probe"], retries=0)
        embedder.dim = embedder._vectors(body, 1).shape[1]
        served = body.get("model")
        if served and served != embedder.model:
            log.warning("the embedding server serves %r, text_embedding.model is %r: memory is labelled with the "
                        "configured name, so set it to the served model", served, embedder.model)
        return embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        batches = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        parts = [self._vectors(self._post(batch), len(batch)) for batch in batches]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def _post(self, batch: list[str], retries: int | None = None) -> dict:
        resp = self.server.request("POST", "/embeddings", json={"model": self.model, "input": batch}, retries=retries)
        try:
            return resp.json()
        except ValueError as exc:
            raise RemoteError(f"{self.server.where} sent no JSON: {exc}") from exc

    def _vectors(self, body: dict, n: int) -> np.ndarray:
        """(n, dim) unit vectors in input order (the API gives each its ``index``)."""
        try:
            rows = sorted(body["data"], key=lambda d: d["index"])
            vecs = np.stack([_pooled(np.asarray(d["embedding"], np.float32)) for d in rows])
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteError(f"{self.server.where} sent no embeddings: {exc!r}") from exc
        if len(vecs) != n or (self.dim and vecs.shape[1] != self.dim):
            raise RemoteError(f"{self.server.where} sent {vecs.shape} vectors for {n} texts "
                              f"of dim {self.dim}")
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _pooled(vec: np.ndarray) -> np.ndarray:
    """One vector per text: llama-cpp-python's server sends one per token for a model without a
    pooling type (any chat GGUF); their mean is the sentence vector."""
    return vec.mean(axis=0) if vec.ndim == 2 else vec
