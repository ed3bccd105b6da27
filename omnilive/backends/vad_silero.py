"""Silero VAD v6 through plain onnxruntime (the silero-vad package's own code needs torch)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ..config import Settings
from .assets import package_file, user_path
from .base import VADModel, VADStream

WINDOW = 512  # samples at 16 kHz, what the model was trained on
CONTEXT = 64  # samples of the previous window the model expects in front of each window


def _session(path: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # 0.5 ms per window: threads would cost more than they save
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


class SileroStream(VADStream):
    window = WINDOW

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._sr = np.array(16_000, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def __call__(self, window: np.ndarray) -> float:
        x = np.concatenate([self._context, window.astype(np.float32, copy=False)])[None, :]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[0, -CONTEXT:]
        return float(out[0, 0])


class SileroVAD(VADModel):
    def __init__(self, path: str) -> None:
        self.path = path
        self._session = _session(path)

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.vad.path:
            return str(user_path(settings.vad.path, "Silero VAD model", "vad.path"))
        return str(package_file("silero_vad", "silero-vad", "data/silero_vad.onnx"))

    @classmethod
    def load(cls, settings: Settings) -> "SileroVAD":
        return cls(cls.source(settings))

    def stream(self) -> SileroStream:
        return SileroStream(self._session)
