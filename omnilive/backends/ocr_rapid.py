"""OCR with RapidOCR (PP-OCRv4 det + rec, zh + en) on onnxruntime; the weights ship in the wheel."""

from __future__ import annotations

import threading

import numpy as np

from ..config import Settings
from .assets import package_dir
from .base import TextReader


class RapidTextReader(TextReader):
    def __init__(self, max_side: int, min_score: float, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # the package default upscales every frame to a 736 px *short* side (1 s per frame);
        # capping the long side keeps a frame without text at ~0.15 s on one core
        self._ocr = RapidOCR(det_limit_side_len=max_side, det_limit_type="max", use_cls=False,
                             intra_op_num_threads=threads, inter_op_num_threads=1)
        self._min_score = min_score
        # OCR is background work: one frame at a time per process, so however many sessions seal
        # clips at once it takes at most one core from speech recognition and synthesis
        self._lock = threading.Lock()

    @staticmethod
    def source(settings: Settings) -> str:
        return str(package_dir("rapidocr_onnxruntime", "rapidocr-onnxruntime") / "models")

    @classmethod
    def load(cls, settings: Settings) -> "RapidTextReader":
        cls.source(settings)
        return cls(settings.ocr.max_side, settings.ocr.min_score)

    def read(self, image: np.ndarray) -> list[str]:
        with self._lock:
            result, _ = self._ocr(np.ascontiguousarray(image[..., ::-1]))  # RapidOCR expects BGR, like cv2
        return [text.strip() for _box, text, score in (result or [])
                if float(score) >= self._min_score and text.strip()]
