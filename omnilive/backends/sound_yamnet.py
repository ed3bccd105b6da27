"""YAMNet (521 AudioSet classes), the int8 ONNX shipped by `sead`, with a numpy log-mel front end."""

from __future__ import annotations

import csv
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..config import Settings
from .assets import extract_zip, package_file, user_path
from .base import SoundTagger

SR = 16_000
N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 64
PATCH, PATCH_HOP = 96, 48  # 0.96 s patches every 0.48 s
TARGET_RMS, MAX_GAIN = 0.05, 30.0
# Labels that say "someone is talking" add nothing to a transcript; they are not reported as tags.
_SPEECHLIKE = ("speech", "narration", "conversation", "silence", "inside, small room")


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_filterbank() -> np.ndarray:
    """HTK mel triangles, 125-7500 Hz, unnormalised: the front end the shipped model was built with."""
    freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    mels = np.linspace(_hz_to_mel(np.array(125.0)), _hz_to_mel(np.array(7500.0)), N_MELS + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)  # (64, 257)


_WINDOW = np.zeros(N_FFT, dtype=np.float32)
_WINDOW[(N_FFT - WIN) // 2 : (N_FFT - WIN) // 2 + WIN] = np.hanning(WIN + 1)[:-1]  # periodic Hann
_MEL = _mel_filterbank()


def log_mel_patches(samples: np.ndarray) -> np.ndarray:
    """(n, 1, 96, 64) log-mel patches; audio shorter than one patch is zero-padded."""
    x = samples.astype(np.float32, copy=False)
    need = N_FFT + (PATCH - 1) * HOP
    if len(x) < need:
        x = np.pad(x, (0, need - len(x)))
    n_frames = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * _WINDOW, n=N_FFT, axis=1))
    logmel = np.log(spec @ _MEL.T + 1e-3).astype(np.float32)  # (frames, 64)
    starts = range(0, max(1, n_frames - PATCH + 1), PATCH_HOP)
    return np.stack([logmel[s : s + PATCH] for s in starts])[:, None, :, :]


class YAMNetTagger(SoundTagger):
    hop_s = PATCH_HOP * HOP / SR

    def __init__(self, onnx_path: Path, class_map: Path) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        with open(class_map, newline="") as fh:
            self.labels = [row["display_name"] for row in csv.DictReader(fh)]
        self._quant = _quant_params(onnx_path)
        self._input = self._session.get_inputs()[0]

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.sound_events.path:
            return str(user_path(settings.sound_events.path, "YAMNet ONNX", "sound_events.path"))
        return str(package_file("sead", "sead", "data/YamNet_w8a8.onnx.zip"))

    @classmethod
    def load(cls, settings: Settings) -> "YAMNetTagger":
        src = Path(cls.source(settings))
        if src.suffix == ".zip":
            onnx_path = next(extract_zip(src, settings.cache_dir, "yamnet").rglob("*.onnx"))
            class_map = src.parent / "yamnet_class_map.csv"
        else:
            onnx_path, class_map = src, src.parent / "yamnet_class_map.csv"
        return cls(onnx_path, class_map)

    @cached_property
    def reportable(self) -> np.ndarray:
        return np.array([not any(k in lab.lower() for k in _SPEECHLIKE) for lab in self.labels])

    def scores(self, samples: np.ndarray) -> np.ndarray:
        """(n_patches, 521) class probabilities, one patch per 0.48 s."""
        patches = log_mel_patches(_level(samples))
        out = []
        for patch in patches:  # the shipped graph has a fixed batch of 1
            feed = patch[None]
            if self._quant:
                s, zp = self._quant["audio_scale"], self._quant["audio_zero_point"]
                feed = np.clip(np.round(feed / s + zp), 0, 255).astype(np.uint8)
            raw = self._session.run(None, {self._input.name: feed})[0].reshape(-1)
            if self._quant:
                raw = self._quant["class_scores_scale"] * (raw.astype(np.float32) - self._quant["class_scores_zero_point"])
            out.append(raw)
        return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(out, dtype=np.float32), -30, 30)))


def _level(samples: np.ndarray) -> np.ndarray:
    """Bring audio to a fixed RMS before the int8 graph.

    The graph's input quantisation saturates on loud audio, and its top-3 accuracy on
    events/labels.tsv moves with level: 18/43 as recorded, 26/43 at RMS 0.02-0.05 (bench/audio_bench.py).
    Silence is not amplified."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms < 1e-4:
        return samples
    return (samples * min(TARGET_RMS / rms, MAX_GAIN)).astype(np.float32)


def _quant_params(onnx_path: Path) -> dict[str, float]:
    """Scale/zero-point of the int8 graph's input and output, read from its initializers."""
    import onnx
    from onnx import numpy_helper

    names = {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"}
    model = onnx.load(str(onnx_path), load_external_data=False)
    return {i.name: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name in names}
