"""Every model capability behind an OpenAI-compatible server, against real servers from PyPI started
here on the embedded weights: faster-whisper-server (ASR, on the embedded Whisper base directory),
llama-cpp-python's server with ``--embedding`` (the embedded Qwen2.5 0.5B GGUF) and local-tts-studio
(TTS, the embedded Piper voice). Then what a client must survive, with stand-in servers that follow
the published request/response format: nothing listening, a server that accepts and never answers,
a 503 before the answer, a 400 that must not be retried, an API key that must never leak."""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

import jiwer
import numpy as np
import pytest
import soundfile as sf
from helpers import free_port, load, server_process
from whisper_normalizer.english import EnglishTextNormalizer

from omnilive.backends.asr_whisper import ZH_PROMPT, WhisperASR, _model_dir
from omnilive.backends.base import ModelUnavailable
from omnilive.backends.llm import EMBEDDED, OpenAICompatLLM
from omnilive.backends.registry import backend_class, describe
from omnilive.backends.remote import OpenAIASR, OpenAIEmbedder, OpenAITTS, RemoteError, pooled_client
from omnilive.config import load_settings

KEY = "sk-test-4f9c1e77b2d0"  # must never appear in an error or a log line
EN = ["en_jfk_inaugural", "en_harvard_spk1_snt1", "en_ljspeech_LJ001-0004"]
ZH = ["zh_aishell_BAC009S0724W0121", "zh_funasr_asr_example"]
CLASSES = {"asr": OpenAIASR, "tts": OpenAITTS, "text_embedding": OpenAIEmbedder, "llm": OpenAICompatLLM}


def remote(settings, section: str, **cfg):
    """``settings`` with ``section`` on its OpenAI-compatible backend."""
    sec = getattr(settings, section)
    return settings.model_copy(update={section: sec.model_copy(update={"backend": "openai", **cfg})})


def wer(refs: list[str], hyps: list[str]) -> float:
    norm = EnglishTextNormalizer()
    return jiwer.wer([norm(r) for r in refs], [norm(h) for h in hyps])


# ---- real servers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper_server(settings):
    port = free_port()
    cmd = [sys.executable, "-m", "faster_whisper_server", str(_model_dir(settings)), "--host", "127.0.0.1",
           "--port", str(port)]
    with server_process(cmd, f"http://127.0.0.1:{port}/health", env={**os.environ, "HF_HUB_OFFLINE": "1"}):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def embedding_server(settings):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(EMBEDDED["qwen2.5-0.5b"].path(settings.cache_dir)),
           "--model_alias", "qwen-embed", "--embedding", "true", "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "512", "--n_threads", "1"]
    with server_process(cmd, f"{url}/models"):
        yield url


@pytest.fixture(scope="module")
def tts_server(tmp_path_factory):
    """local-tts-studio serving the embedded Piper voice (its voices directory holds links to it)."""
    from omnilive.backends.tts_piper import PiperTTS

    data = tmp_path_factory.mktemp("local-tts")
    voice = PiperTTS.source(load_settings())
    (data / "voices").mkdir()
    for suffix in ("", ".json"):
        (data / "voices" / f"en_US-joe-medium.onnx{suffix}").symlink_to(voice + suffix)
    (data / "settings.json").write_text(json.dumps({
        "voices_dir": str(data / "voices"), "device": "cpu", "api_key_enabled": True, "api_key": KEY,
        "api_default_voice": "en_US-joe-medium"}))
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with server_process([sys.executable, "-m", "local_tts.cli", "--host", "127.0.0.1", "--port", str(port)],
                        f"{url}/models", env={**os.environ, "LOCAL_TTS_DATA_DIR": str(data)},
                        headers={"Authorization": f"Bearer {KEY}"}):
        yield url


@pytest.fixture(scope="module")
def local_asr(settings):
    return WhisperASR.load(settings)


def test_remote_asr_hears_real_english_and_chinese_as_well_as_the_local_model(
        whisper_server, settings, asr_items, evaldata, local_asr):
    asr = OpenAIASR.load(remote(settings, "asr", url=whisper_server, timeout_s=60.0))
    audio = {i: load(evaldata, asr_items[i]["wav16k"]) for i in EN + ZH}
    heard = {i: asr.transcribe(audio[i]) for i in EN + ZH}  # language detected by the server
    assert all(heard[i].language == "en" for i in EN) and all(heard[i].language == "zh" for i in ZH)
    refs = [asr_items[i]["text"] for i in EN]
    remote_wer = wer(refs, [heard[i].text for i in EN])
    local_wer = wer(refs, [local_asr.transcribe(audio[i]).text for i in EN])
    assert remote_wer <= 0.1 and remote_wer <= local_wer + 0.05, (remote_wer, local_wer, [heard[i].text for i in EN])
    jfk = heard["en_jfk_inaugural"].segments
    assert len(jfk) >= 2 and all(0 <= s.start < s.end <= 11.1 for s in jfk)
    for i in ZH:  # in simplified characters (the server writes 廣州 for 广州), close to the reference
        text = heard[i].text
        assert jiwer.cer(asr_items[i]["text"], text) <= 0.4 and "廣" not in text, text
    assert "广州" in heard["zh_aishell_BAC009S0724W0121"].text


def test_remote_embeddings_are_unit_vectors_that_put_a_paraphrase_closest(embedding_server, settings):
    # batch_size 1: llama-cpp-python 0.3.36 returns wrong vectors for the 2nd+ input of a batch on a
    # model without a pooling type (docs/REMOTE.md); one text per request also exercises batching
    emb = OpenAIEmbedder.load(remote(settings, "text_embedding", url=embedding_server, model="qwen-embed",
                                     batch_size=1))
    texts = ["The cat sat on the mat.", "A kitten was sitting on the rug.", "Stock markets fell sharply on Monday."]
    vecs = emb.embed(texts)
    assert emb.dim == 896 and vecs.shape == (3, 896) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2, vecs @ vecs.T
    assert np.allclose(emb.embed([texts[1]])[0], vecs[1], atol=1e-4)  # order kept, same vector alone
    assert emb.embed([]).shape == (0, 896)


def test_remote_tts_says_words_the_local_asr_hears(tts_server, settings, local_asr):
    text = "The quick brown fox jumps over the lazy dog."
    cfg = remote(settings, "tts", url=tts_server, api_key=KEY, voice="alloy")
    spoken = {fmt: OpenAITTS.load(remote(cfg, "tts", response_format=fmt)).synthesize(text) for fmt in ("wav", "pcm")}
    for fmt, audio in spoken.items():
        assert audio.dtype == np.float32 and 1.5 < len(audio) / 16_000 < 6.0, (fmt, len(audio))
        heard = local_asr.transcribe(audio).text  # Piper renders with noise: 4 of 50 had a word or two misheard
        assert wer([text], [heard]) <= 0.25, (fmt, heard)
    # pcm came at the voice's 22.05 kHz (X-Sample-Rate), not OpenAI's 24 kHz: same length once resampled
    assert abs(len(spoken["pcm"]) - len(spoken["wav"])) < 0.15 * len(spoken["wav"])
    tts = OpenAITTS(cfg)
    assert tts.sample_rate == 16_000 and tts.speaks("Hello") and not tts.speaks("你好")
    with pytest.raises(ModelUnavailable, match="refused the API key") as err:
        OpenAITTS.load(remote(cfg, "tts", api_key="sk-wrong-key-123"))
    assert "sk-wrong-key-123" not in str(err.value)


# ---- failures: no server, a silent one, a flaky one -------------------------------------------


@pytest.mark.parametrize("section", list(CLASSES))
def test_nothing_listening_is_a_clear_error_at_load(settings, section, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelUnavailable) as err:
        CLASSES[section].load(remote(settings, section, url=url, api_key=KEY))
    msg = str(err.value)
    what = {"asr": "ASR", "tts": "TTS", "text_embedding": "Embedding", "llm": "LLM"}[section]
    assert f"{what} server at {url} is not reachable" in msg and f"fix {section}.url" in msg, msg
    assert KEY not in msg and KEY not in caplog.text


def test_an_unset_url_says_which_variable_to_set(settings):
    with pytest.raises(ModelUnavailable, match="OMNILIVE_TEXT_EMBEDDING__URL"):
        OpenAIEmbedder.load(remote(settings, "text_embedding", url=None))


@pytest.mark.parametrize("section", ["asr", "tts", "text_embedding"])
def test_a_server_that_never_answers_times_out_with_a_clear_error(settings, section):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        cfg = remote(settings, section, url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1", timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(ModelUnavailable, match="failed: no answer within 1 s.*overloaded or stuck"):
            CLASSES[section].load(cfg)
        assert time.monotonic() - started < 3.0  # one attempt at load: fail fast
        backend = CLASSES[section](cfg)
        backend.server.retries = 0
        call = {"asr": lambda: backend.transcribe(np.zeros(8000, np.float32)),
                "tts": lambda: backend.synthesize("Hello."), "text_embedding": lambda: backend.embed(["hello"])}
        with pytest.raises(RemoteError, match="failed: no answer within 1 s"):
            call[section]()


@dataclass
class Seen:
    path: str
    headers: dict
    body: bytes
    port: int  # the client's: the same for every request on one kept-alive connection


class Scripted:
    """A stand-in server: answers each request with the next (status, content type, body, headers)
    of its script and records what it was sent."""

    def __init__(self, *replies: tuple) -> None:
        self.replies, self.seen = list(replies), []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append(Seen(self.path, dict(self.headers), body, self.client_address[1]))
                status, ctype, data, headers = outer.replies.pop(0)
                self.send_response(status)
                for k, v in {"Content-Type": ctype, "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._srv.server_address[1]}/v1"
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def __enter__(self) -> "Scripted":
        return self

    def __exit__(self, *exc) -> None:
        self._srv.shutdown()
        self._srv.server_close()


def reply(status: int = 200, body: dict | bytes = b"", ctype: str = "application/json", **headers: str) -> tuple:
    return status, ctype, json.dumps(body).encode() if isinstance(body, dict) else body, headers


def embeddings(*vectors: tuple[int, list[float]]) -> tuple:
    return reply(body={"object": "list", "model": "m", "data": [{"index": i, "embedding": v} for i, v in vectors]})


def test_a_503_is_retried_a_400_is_not_and_the_key_stays_secret(settings, caplog):
    caplog.set_level(logging.DEBUG)
    with Scripted(embeddings((0, [3.0, 4.0, 0.0])),  # load: the dimension probe
                  reply(503, {"error": {"message": "loading model"}}),
                  embeddings((1, [0.0, 0.0, 2.0]), (0, [0.0, 5.0, 0.0])),  # out of order, as the API allows
                  reply(400, {"error": {"message": f"input too long (key {KEY})"}}),
                  reply(401, {"error": {"message": f"bad key {KEY}"}})) as srv:
        cfg = remote(settings, "text_embedding", url=srv.url, api_key=KEY, model="m")
        emb = OpenAIEmbedder.load(cfg)
        assert emb.dim == 3
        vecs = emb.embed(["a", "b"])
        assert np.allclose(vecs, [[0, 1, 0], [0, 0, 1]])  # by index, unit length
        assert "retry 1" in caplog.text and "503" in caplog.text
        with pytest.raises(RemoteError, match="HTTP 400 to /embeddings.*input too long") as bad:
            emb.embed(["x" * 10_000])
        with pytest.raises(ModelUnavailable, match="refused the API key") as refused:
            OpenAIEmbedder.load(cfg)
    assert len(srv.seen) == 5  # the 400 and the 401 were not retried
    assert all(s.headers["Authorization"] == f"Bearer {KEY}" for s in srv.seen)
    assert json.loads(srv.seen[0].body) == {"model": "m", "input": ["dimension probe"]}
    assert len({s.port for s in srv.seen}) == 1  # one pooled keep-alive connection
    for text in (str(bad.value), str(refused.value), caplog.text):
        assert KEY not in text
    assert pooled_client(srv.url + "/") is pooled_client(srv.url)


def test_asr_requests_and_replies_in_openai_format(settings):
    def transcript(language: str, text: str) -> tuple:
        return reply(body={"task": "transcribe", "language": language, "duration": 1.0, "text": text,
                           "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": text}]})

    with Scripted(transcript("english", ""), transcript("japanese", "Tell me a joke."),
                  transcript("english", " Tell me a joke."),
                  transcript("chinese", f"{ZH_PROMPT}廣州市房地產")) as srv:
        asr = OpenAIASR.load(remote(settings, "asr", url=srv.url, model="whisper-1", languages=["en", "zh"]))
        joke = asr.transcribe(np.zeros(16_000, np.float32))
        zh = asr.transcribe(np.zeros(16_000, np.float32), "zh")
    assert (joke.language, joke.text) == ("en", "Tell me a joke.")  # "japanese" is not in asr.languages
    assert (zh.language, zh.text) == ("zh", "广州市房地产")  # the prompt echo dropped, simplified
    forms = [s.body for s in srv.seen]
    assert all(s.path == "/v1/audio/transcriptions" for s in srv.seen)
    assert all(b'name="model"\r\n\r\nwhisper-1' in f and b'name="response_format"\r\n\r\nverbose_json' in f
               for f in forms)
    assert b'name="language"' not in forms[1] and b'name="language"\r\n\r\nen' in forms[2]
    assert f'name="prompt"\r\n\r\n{ZH_PROMPT}'.encode() in forms[3]
    wav = forms[1][forms[1].index(b"RIFF"):]
    audio, rate = sf.read(io.BytesIO(wav[: 44 + 32_000]))
    assert rate == 16_000 and len(audio) == 16_000


def test_asr_falls_back_to_plain_json_where_verbose_json_is_refused(settings):
    silence = np.zeros(16_000, np.float32)
    with Scripted(reply(400, {"error": {"message": "Unsupported response_format: verbose_json"}}),
                  reply(body={"text": ""}), reply(body={"text": "广州市房地产"}),
                  reply(body={"text": "Hello there."})) as srv:
        asr = OpenAIASR.load(remote(settings, "asr", url=srv.url))
        zh, en = asr.transcribe(silence), asr.transcribe(silence)
    assert asr.format == "json" and b'name="response_format"\r\n\r\njson' in srv.seen[1].body
    assert (zh.language, zh.text, en.language, en.text) == ("zh", "广州市房地产", "en", "Hello there.")


def test_tts_pcm_is_24_khz_unless_the_server_says_otherwise(settings):
    second = (np.sin(np.arange(24_000) / 8) * 8000).astype("<i2").tobytes()  # 1 s at OpenAI's 24 kHz
    with Scripted(reply(body=second, ctype="audio/pcm"), reply(body=second, ctype="audio/pcm")) as srv:
        tts = OpenAITTS.load(remote(settings, "tts", url=srv.url, response_format="pcm", voice="alloy"))
        audio = tts.synthesize("Hello there.")
        assert tts.synthesize("  ").size == 0  # nothing to say: no request
    assert abs(len(audio) - 16_000) <= 2 and np.abs(audio).max() > 0.2
    assert json.loads(srv.seen[1].body) == {"model": "tts-1", "input": "Hello there.", "voice": "alloy",
                                            "response_format": "pcm"}


def test_remote_backends_are_configured_by_environment(monkeypatch):
    for key, value in {"ASR__BACKEND": "openai", "ASR__URL": "http://asr:8000/v1", "ASR__API_KEY": KEY,
                       "TTS__BACKEND": "openai", "TTS__URL": "http://tts:8880/v1", "TTS__VOICE": "nova",
                       "TEXT_EMBEDDING__BACKEND": "openai", "TEXT_EMBEDDING__URL": "http://emb/v1",
                       "TEXT_EMBEDDING__MODEL": "bge-small", "TEXT_EMBEDDING__BATCH_SIZE": "16"}.items():
        monkeypatch.setenv(f"OMNILIVE_{key}", value)
    s = load_settings()
    assert (s.asr.url, s.asr.api_key, s.tts.voice) == ("http://asr:8000/v1", KEY, "nova")
    assert s.text_embedding.batch_size == 16
    assert [backend_class(s, c) for c in ("asr", "tts", "text_embedding")] == [OpenAIASR, OpenAITTS, OpenAIEmbedder]
    assert describe(s, "text_embedding") == "http://emb/v1 model=bge-small" and KEY not in describe(s, "asr")
