"""Any CLIP / SigLIP model from a local transformers directory, behind the same encoder interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import Settings
from .assets import user_path
from .base import VisualEncoder, VisualFeatures


class CLIPEncoder(VisualEncoder):
    def __init__(self, model_dir: str) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        self._torch = torch
        self._model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        self._processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
        self.dim = int(self._model.config.projection_dim)

    @staticmethod
    def source(settings: Settings) -> str:
        return str(user_path(settings.visual.model, "CLIP/SigLIP model directory", "visual.model"))

    @classmethod
    def load(cls, settings: Settings, text=None) -> "CLIPEncoder":
        encoder = cls(cls.source(settings))
        encoder.name = f"clip:{Path(settings.visual.model).name}"
        return encoder

    def encode(self, images: Sequence[np.ndarray]) -> VisualFeatures:
        torch = self._torch
        inputs = self._processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            out = self._model.vision_model(pixel_values=inputs["pixel_values"])
            vecs = self._model.visual_projection(out.pooler_output) if hasattr(self._model, "visual_projection") else out.pooler_output
        vecs = torch.nn.functional.normalize(vecs, dim=-1).numpy().astype(np.float32)
        tokens = out.last_hidden_state.numpy()
        return VisualFeatures(vectors=vecs, tokens=tokens, labels=[[] for _ in images])

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        inputs = self._processor(text=list(texts), return_tensors="pt", padding=True)
        with torch.inference_mode():
            vecs = self._model.get_text_features(**inputs)
        return torch.nn.functional.normalize(vecs, dim=-1).numpy().astype(np.float32)
