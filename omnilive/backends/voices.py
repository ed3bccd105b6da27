"""One voice per language: the main voice (tts.backend / tts.voice) and, by language, the voices of
``tts.voices`` ({"zh": "kokoro:jm_kumo"} by default), so a Chinese answer is spoken by a voice
that can say it while English stays with the main one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Settings
from .assets import user_path
from .base import TTS, ModelUnavailable


class Voices(TTS):
    def __init__(self, main: TTS, by_language: dict[str, TTS]) -> None:
        self._main, self._others = main, by_language
        self.sample_rate = main.sample_rate  # every voice resamples to tts.sample_rate
        self.languages = frozenset(main.languages).union(*(v.languages for v in by_language.values()))

    @property
    def runs_here(self) -> bool:
        return any(v.runs_here for v in (self._main, *self._others.values()))

    @property
    def main(self) -> TTS:
        return self._main

    def voice_for(self, text: str) -> TTS | None:
        """A language's own voice before the main one."""
        return next((v for v in (*self._others.values(), self._main) if v.speaks(text)), None)

    def speaks(self, text: str) -> bool:
        return self.voice_for(text) is not None

    def synthesize(self, text: str) -> np.ndarray:
        voice = self.voice_for(text)
        if voice is None:
            raise ModelUnavailable(f"no configured voice speaks {text[:40]!r} (tts.voices)")
        return voice.synthesize(text)


def _kokoro_voice(spec: str) -> str | None:
    """The shipped voice a ``kokoro:<voice>`` spec names ("kokoro" alone: jm_kumo); None for a path."""
    kind, _, voice = spec.partition(":")
    return (voice or "jm_kumo") if kind == "kokoro" else None


def _specs(settings: Settings) -> dict[str, str]:
    return {lang: spec for lang, spec in settings.tts.voices.items() if spec not in ("", "none")}


def load_voice(settings: Settings, spec: str) -> TTS:
    """``kokoro:<voice>`` (the embedded Kokoro, a shipped voice) or the path of a Piper voice .onnx."""
    if (voice := _kokoro_voice(spec)) is not None:
        from .tts_kokoro import KokoroTTS

        return KokoroTTS.load(settings, voice)
    from .tts_piper import PiperTTS

    path = user_path(spec, "Piper voice", "tts.voices")
    return PiperTTS(Path(path), settings.tts.sample_rate, settings.tts.deterministic)


def with_voices(settings: Settings, main: TTS) -> TTS:
    """``main``, or ``main`` with the per-language voices of ``tts.voices`` in front of it."""
    others = {lang: load_voice(settings, spec) for lang, spec in _specs(settings).items()}
    return Voices(main, others) if others else main


def describe_voices(settings: Settings) -> str:
    """Where the per-language voices come from, for `omnilive models`."""
    from .tts_kokoro import KokoroTTS

    return "; ".join(f"{lang}: {spec}" + (f" ({KokoroTTS.source(settings)})" if _kokoro_voice(spec) else "")
                     for lang, spec in _specs(settings).items())
