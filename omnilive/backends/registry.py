"""Which model backs each capability, chosen by configuration, and where its weights come from.

``Models`` loads each selected backend once per process; sessions share them (per-stream state,
such as the VAD's recurrent state, lives in the session).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..config import Settings
from ..text import zh_tagged
from .base import (
    ASRModel, ChatMessage, EndOfTurnModel, LLM, ModelUnavailable, ObjectDetector, SoundTagger, SpeakerEncoder, TextEmbedder, TextReader, TTS, VADModel, VisualEncoder,
)
from .voices import describe_voices, with_voices

log = logging.getLogger(__name__)

CAPABILITIES = ("vad", "turn", "asr", "sound_events", "speaker", "text_embedding", "visual", "detector", "ocr", "llm", "tts")


def _vad(name: str):
    from .vad_silero import SileroVAD
    return {"silero": SileroVAD}[name]


def _turn(name: str):
    from .turn_smart import SmartTurn
    return {"smart_turn": SmartTurn}[name]


def _asr(name: str):
    from .asr_whisper import WhisperASR
    from .remote import OpenAIASR
    return {"whisper": WhisperASR, "openai": OpenAIASR}[name]


def _sound(name: str):
    from .sound_yamnet import YAMNetTagger
    return {"yamnet": YAMNetTagger}[name]


def _speaker(name: str):
    from .speaker_dvector import DVectorEncoder
    return {"dvector": DVectorEncoder}[name]


def _text(name: str):
    from .remote import OpenAIEmbedder
    from .text_minilm import SentenceEmbedder
    return {"sentence_transformers": SentenceEmbedder, "openai": OpenAIEmbedder}[name]


def _visual(name: str):
    if name == "clip":
        from .visual_clip import CLIPEncoder
        return CLIPEncoder
    from .visual_conse import ConSEEncoder
    return ConSEEncoder


def _detector(name: str):
    from .detect_ssd import SSDDetector
    return {"ssd": SSDDetector}[name]


def _ocr(name: str):
    from .ocr_rapid import RapidTextReader
    return {"rapidocr": RapidTextReader}[name]


def _llm(name: str):
    from .llm import LlamaCppLLM, OpenAICompatLLM
    return {"llama_cpp": LlamaCppLLM, "openai": OpenAICompatLLM}[name]


def _tts(name: str):
    from .remote import OpenAITTS
    from .tts_piper import EspeakTTS, PiperTTS
    return {"piper": PiperTTS, "espeak": EspeakTTS, "openai": OpenAITTS}[name]


_RESOLVERS: dict[str, Callable[[str], Any]] = {
    "vad": _vad, "turn": _turn, "asr": _asr, "sound_events": _sound, "speaker": _speaker, "text_embedding": _text,
    "visual": _visual, "detector": _detector, "ocr": _ocr, "llm": _llm, "tts": _tts,
}


def backend_name(settings: Settings, capability: str) -> str:
    return getattr(settings, capability).backend


def backend_class(settings: Settings, capability: str):
    return _RESOLVERS[capability](backend_name(settings, capability))


def describe(settings: Settings, capability: str) -> str:
    """Where the weights of the selected backend come from (raises ModelUnavailable)."""
    if backend_name(settings, capability) == "none":
        return "disabled"
    source = backend_class(settings, capability).source(settings)
    if capability == "tts" and (others := describe_voices(settings)):
        source += f"; {others}"
    return source


@dataclass
class Models:
    """The loaded models of one process. Any may be None when its capability is disabled."""

    vad: VADModel
    turn: EndOfTurnModel | None
    asr: ASRModel
    sound_events: SoundTagger | None
    text_embedding: TextEmbedder
    visual: VisualEncoder
    ocr: TextReader | None
    llm: LLM
    tts: TTS | None
    # last, with defaults: callers that build Models by hand need not name them
    detector: ObjectDetector | None = None
    speaker: SpeakerEncoder | None = None


def load_one(settings: Settings, capability: str, loaded: dict[str, Any]) -> Any:
    """Load one capability's backend; ``loaded`` supplies dependencies (ConSE needs the text model)."""
    if backend_name(settings, capability) == "none":
        return None
    cls = backend_class(settings, capability)
    started = time.perf_counter()
    if capability == "visual":
        text = loaded.get("text_embedding") or load_one(settings, "text_embedding", loaded)
        loaded["text_embedding"] = text
        model = cls.load(settings, text)
    else:
        model = cls.load(settings)
    if capability == "tts":
        model = with_voices(settings, model)
    log.info("loaded %s (%s) in %.1f s", capability, cls.__name__, time.perf_counter() - started)
    loaded[capability] = model
    return model


def _warm_chinese() -> None:
    from ..reasoning.zh_english import warm

    zh_tagged("你好")
    warm()


def load_models(settings: Settings, capabilities: tuple[str, ...] = CAPABILITIES) -> Models:
    """Load every selected backend; the first that cannot load raises ModelUnavailable."""
    loaded: dict[str, Any] = {}
    for cap in capabilities:
        if cap not in loaded:
            load_one(settings, cap, loaded)
    if loaded.get("asr") is not None and not getattr(loaded["asr"], "english_only", True):
        # jieba's tagger (Chinese questions: text.zh_tagged) and the Chinese-English dictionary
        # (reasoning/zh_english.py) load beside start-up, not in a first question
        threading.Thread(target=_warm_chinese, name="zh-warm", daemon=True).start()
    return Models(**{cap: loaded.get(cap) for cap in CAPABILITIES})


def warm_up_models(models: Models) -> None:
    """Run each model once on a blank input: a model's first call pays for ONNX Runtime's and
    CTranslate2's first run and for llama.cpp paging its weights in from disk (a short chat reply
    1.1 s the first time, 0.3 s after; the VAD 0.26 s vs 0.01 s; runtime/warmup.py)."""
    silence, blank = np.zeros(16_000, np.float32), np.full((240, 320, 3), 128, np.uint8)
    noise = np.random.default_rng(0).normal(0, 0.01, 32_000).astype(np.float32)
    stream = models.vad.stream()
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("vad", lambda: [stream(silence[i:i + stream.window]) for i in range(0, len(silence) - stream.window, stream.window)]),
        ("turn", lambda: models.turn.complete(noise)),
        ("asr", lambda: models.asr.transcribe(noise)),
        ("sound_events", lambda: models.sound_events.tag(noise)),
        ("speaker", lambda: models.speaker.embed(noise)),
        ("text_embedding", lambda: models.text_embedding.embed(["where are my keys?"])),
        ("visual", lambda: models.visual.encode([blank])),
        ("detector", lambda: models.detector.detect(blank)),
        ("ocr", lambda: models.ocr.read(blank)),
        ("llm", lambda: "".join(models.llm.stream([ChatMessage("user", "Hello.")], max_tokens=2))),
        ("tts", lambda: models.tts.synthesize("Hello.")),
    ]
    for name, call in calls:
        model = getattr(models, name)
        if model is None or (name == "llm" and not model.runs_here):  # (a remote LLM is warm, or costs money)
            continue
        try:
            call()
        except Exception:  # noqa: BLE001 - a model that fails here fails the first user's turn, said there
            log.warning("warming up %s failed", name, exc_info=True)


def probe(settings: Settings) -> list[dict[str, Any]]:
    """Try to load every selected backend; one report row per capability (for `omnilive models`)."""
    loaded: dict[str, Any] = {}
    rows = []
    for cap in CAPABILITIES:
        row: dict[str, Any] = {"capability": cap, "backend": backend_name(settings, cap)}
        started = time.perf_counter()
        try:
            row["source"] = describe(settings, cap)
            load_one(settings, cap, loaded)
            row["ok"], row["error"] = True, None
        except ModelUnavailable as exc:
            row.setdefault("source", "unavailable")
            row["ok"], row["error"] = False, str(exc)
        except Exception as exc:  # a broken install must show up as a row, not a traceback
            row.setdefault("source", "unavailable")
            row["ok"], row["error"] = False, f"{type(exc).__name__}: {exc}"
        row["load_s"] = round(time.perf_counter() - started, 2)
        rows.append(row)
    return rows
