"""The small typed interfaces every model backend implements.

Stages depend only on these; which concrete model sits behind one is a configuration choice
(see ``registry.py``). All calls are synchronous and CPU/GPU bound: the runtime calls them from
worker threads, never from the event loop.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..text import has_cjk


class ModelUnavailable(RuntimeError):
    """A selected model cannot be loaded; the message says what to install or configure."""


class VADStream(ABC):
    """Per-audio-stream VAD state (the model itself is shared)."""

    window: int  # samples per call at 16 kHz

    @abstractmethod
    def __call__(self, window: np.ndarray) -> float:
        """Speech probability of one window of ``self.window`` float32 samples."""

    @abstractmethod
    def reset(self) -> None: ...


class VADModel(ABC):
    @abstractmethod
    def stream(self) -> VADStream: ...


@dataclass(frozen=True, slots=True)
class ASRSegment:
    start: float
    end: float
    text: str
    speaker: str = ""  # who said it, where known ("speaker 1"; omnilive transcribe)


@dataclass(frozen=True, slots=True)
class ASRResult:
    text: str
    language: str
    segments: tuple[ASRSegment, ...] = ()
    language_probability: float = 1.0


def join_text(parts: Sequence[str], language: str | None) -> str:
    """Join transcript pieces: with spaces, except for languages written without them."""
    joiner = "" if language in ("zh", "ja") else " "
    return joiner.join(p for p in parts if p).strip()


class ASRModel(ABC):
    @abstractmethod
    def transcribe(self, samples: np.ndarray, language: str | None = None) -> ASRResult:
        """Transcribe 16 kHz mono float32 audio. ``language=None`` detects it."""

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """(language code, probability). Backends with a cheaper path override this."""
        result = self.transcribe(samples, None)
        return result.language, result.language_probability


class EndOfTurnModel(ABC):
    """Hears whether a speaker has finished their turn (not just paused mid-sentence)."""

    @abstractmethod
    def complete(self, samples: np.ndarray) -> float:
        """Probability that the turn is over, from the utterance's 16 kHz audio so far."""


class SpeakerEncoder(ABC):
    """A voice as a vector: utterances of one speaker lie close together (cosine), others apart."""

    dim: int

    @abstractmethod
    def embed(self, samples: np.ndarray) -> np.ndarray:
        """(dim,) L2-normalised embedding of 16 kHz mono float32 speech."""


class SoundTagger(ABC):
    labels: list[str]
    reportable: np.ndarray  # bool per label: worth reporting as a tag (not plain speech/silence)
    hop_s: float  # time between rows of scores()

    @abstractmethod
    def scores(self, samples: np.ndarray) -> np.ndarray:
        """(n_windows, n_labels) probabilities for 16 kHz mono audio, one row per ``hop_s``."""

    def tag(self, samples: np.ndarray, top_k: int = 3) -> list[tuple[str, float]]:
        """The strongest reportable labels anywhere in the audio, best first."""
        if len(samples) == 0:
            return []
        probs = self.scores(samples).max(axis=0) * self.reportable
        best = np.argsort(probs)[::-1][:top_k]
        return [(self.labels[i], float(probs[i])) for i in best]


class TextEmbedder(ABC):
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""


@dataclass(slots=True)
class VisualFeatures:
    vectors: np.ndarray  # (n, dim) L2-normalised, in the same space as embed_text
    tokens: np.ndarray  # (n, t, c) spatial feature tokens for short-term memory
    labels: list[list[tuple[str, float]]] = field(default_factory=list)  # per frame, best first


class VisualEncoder(ABC):
    dim: int
    name: str = "visual"  # identifies the embedding space stored memory was made in
    # named concepts the encoder recognises (ConSE: the ImageNet classes) and their unit text
    # vectors; None for encoders without a vocabulary (CLIP)
    concept_names: list[str] | None = None
    concept_vectors: np.ndarray | None = None

    @abstractmethod
    def encode(self, images: Sequence[np.ndarray]) -> VisualFeatures:
        """Encode RGB uint8 (H, W, 3) frames."""

    @abstractmethod
    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) L2-normalised question embeddings in the frames' space."""

    def label_words(self, label: str) -> str:
        """Text a question may use for one of this encoder's labels (ConSE adds what it is a kind of)."""
        return label


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str
    images: tuple[bytes, ...] = ()  # JPEG key frames, for vision models


class LLM(ABC):
    name: str
    supports_images: bool = False
    supports_json: bool = False  # json() below is implemented
    runs_here: bool = False  # in this process, on this machine's CPU (runtime/priority.py)

    def json(self, messages: Sequence[ChatMessage], schema: dict, *, max_tokens: int) -> dict:
        """One reply constrained to the JSON ``schema``, parsed."""
        raise NotImplementedError(f"{type(self).__name__} has no constrained output")

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield text deltas; stop early once ``cancel`` is set."""


class TTS(ABC):
    sample_rate: int
    languages: frozenset[str] = frozenset({"en"})  # what the voice can say ("zh" for a Mandarin voice)
    runs_here: bool = True  # on this machine's CPU: sessions take turns (runtime/priority.py)

    def speaks(self, text: str) -> bool:
        """Can this voice say ``text``? An English voice reads Chinese as noise: no."""
        return "zh" in self.languages if has_cjk(text) else bool(self.languages - {"zh"})

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """float32 mono audio at ``self.sample_rate`` speaking ``text``."""


class TextReader(ABC):
    """OCR: the text visible in a frame, as lines, best first."""

    @abstractmethod
    def read(self, image: np.ndarray) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Detection:
    label: str  # class name ("cup", "person")
    score: float  # detector confidence, 0..1
    box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1 (0..1, origin top left)


class ObjectDetector(ABC):
    """Objects in a frame with their boxes: what is where, not just what the frame looks like."""

    name: str

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Objects in an RGB uint8 (H, W, 3) frame, best first."""
