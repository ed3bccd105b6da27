"""pipecat's Smart Turn v3.2: is the speaker's turn complete, from the sound of the last 8 s.

The int8 ONNX model and the numpy Whisper log-mel front end it was trained with ship inside the
``pipecat-ai`` wheel (BSD-2-Clause), installed ``--no-deps``; both are read from its files, so
neither pipecat nor its dependencies are imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..config import Settings
from .assets import package_dir, user_path
from .base import EndOfTurnModel, ModelUnavailable

WINDOW = 8 * 16_000  # the model hears the last 8 s, zero-padded in front when shorter
MODEL = "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
FEATURES = "audio/turn/smart_turn/_whisper_features.py"


def _front_end(pipecat: Path):
    """pipecat's vendored WhisperFeatureExtractor, loaded from its file (importing the ``pipecat``
    package would pull loguru and more)."""
    path = pipecat / FEATURES
    if not path.exists():
        raise ModelUnavailable(f"pipecat-ai is installed but lacks {FEATURES}; reinstall pipecat-ai==1.14.0 --no-deps")
    spec = importlib.util.spec_from_file_location("omnilive_smart_turn_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_whisper_log_mel_features


class SmartTurn(EndOfTurnModel):
    def __init__(self, model: Path, pipecat: Path, threads: int = 1) -> None:
        self._features = _front_end(pipecat)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])

    @staticmethod
    def _pipecat() -> Path:
        return package_dir("pipecat", "pipecat-ai")

    @classmethod
    def source(cls, settings: Settings) -> str:
        if settings.turn.path:
            return str(user_path(settings.turn.path, "Smart Turn ONNX model", "turn.path"))
        path = cls._pipecat() / MODEL
        if not path.exists():
            raise ModelUnavailable(f"pipecat-ai is installed but lacks {MODEL}; reinstall pipecat-ai==1.14.0 --no-deps")
        return str(path)

    @classmethod
    def load(cls, settings: Settings) -> "SmartTurn":
        return cls(Path(cls.source(settings)), cls._pipecat())

    def complete(self, samples: np.ndarray) -> float:
        x = samples[-WINDOW:].astype(np.float32, copy=False)
        x = np.pad(x, (WINDOW - len(x), 0))
        feats = self._features(x, do_normalize=True)[None]
        return float(self._session.run(None, {"input_features": feats})[0].reshape(-1)[0])
