"""Short-term memory: frames group into short clips, each compressed to a few pooled feature
tokens plus one global vector (IXC2.5-OL's short-term memory), with labels and a key frame."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..config import MemoryConfig
from ..events import ClipMemory

log = logging.getLogger(__name__)

KEYFRAME_SIDE = 320
CONCEPTS = 10  # named concepts kept per clip, with their mean probability
TEXT_CONCEPT = "text"  # added when OCR reads text in the clip
TEXT_CONCEPT_DESCRIPTION = "text, writing: a document, page, sign or screen with words"


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed clip and its key frame at full size (for OCR, which the small JPEG would defeat)."""

    clip: ClipMemory
    key_image: np.ndarray


@dataclass
class _Building:
    start: float
    last: float
    vectors: list[np.ndarray] = field(default_factory=list)
    appearance: np.ndarray | None = None  # running sum of unit appearance vectors
    tokens: list[np.ndarray] = field(default_factory=list)
    labels: Counter = field(default_factory=Counter)
    images: list[np.ndarray] = field(default_factory=list)


def add_encoded(builder: "ClipBuilder", feats, frames: list[tuple[float, np.ndarray]]) -> list[Sealed]:
    """The vision path shared by a live session and batch ingest: encoded frames (memory-timeline
    time, image) into the clip builder, in order; the clips they sealed."""
    sealed = []
    for i, (t, image) in enumerate(frames):
        s = builder.add(t, feats.vectors[i], feats.tokens[i], feats.labels[i], image)
        if s is not None:
            sealed.append(s)
    return sealed


def with_sight(models, sealed: Sealed) -> ClipMemory:
    """The clip with what its key frame shows beyond the classifier's labels: the objects the
    detector finds (with colours) and the text OCR reads. Both run on the full-size key frame,
    once per clip, on the memory thread; either may be disabled (None)."""
    clip = with_text(models.ocr, sealed)
    if models.detector is None:
        return clip
    from ..perception.scene import describe

    try:
        scene = describe(sealed.key_image, models.detector)
    except Exception as exc:  # a detector failure costs this clip its objects, not the clip
        log.warning("object detection failed on clip %d: %s", clip.clip_id, exc)
        return clip
    return dataclasses.replace(clip, scene=scene)


def with_text(reader, sealed: Sealed) -> ClipMemory:
    """The clip with the text its key frame shows (OCR), when a reader is configured."""
    if reader is None:
        return sealed.clip
    try:
        lines = reader.read(sealed.key_image)
    except Exception as exc:  # a frame the OCR cannot read still belongs in memory
        log.warning("OCR failed on clip %d: %s", sealed.clip.clip_id, exc)
        return sealed.clip
    if not lines:
        return sealed.clip
    clip = sealed.clip
    # readable text is itself something seen ("where did I see that document?")
    return dataclasses.replace(clip, text=" ".join(lines)[:300], labels=clip.labels + (TEXT_CONCEPT,),
                               concepts=((TEXT_CONCEPT, 1.0),) + clip.concepts)


def pool_tokens(tokens: np.ndarray, n: int) -> np.ndarray:
    """(frames, positions, c) -> (n, c): mean over frames, then over n contiguous position groups
    (for 49 = 7x7 positions and n=4 that is roughly the image's four bands)."""
    per_position = tokens.mean(axis=0)
    groups = np.array_split(per_position, min(n, len(per_position)), axis=0)
    return np.stack([g.mean(axis=0) for g in groups]).astype(np.float16)


def fit(image: np.ndarray, side: int) -> np.ndarray:
    """The frame at most ``side`` pixels on its long side (unchanged when it is smaller)."""
    if max(image.shape[:2]) <= side:
        return image
    from PIL import Image

    img = Image.fromarray(image)
    img.thumbnail((side, side), Image.BILINEAR)
    return np.asarray(img)


def jpeg(image: np.ndarray, side: int = KEYFRAME_SIDE, quality: int = 70) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(fit(image, side)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def appearance(tokens: np.ndarray) -> np.ndarray:
    """Unit mean of a frame's feature tokens: what it looks like, for scene-change detection.

    Measured on the embedded encoder: consecutive 1 fps frames of one scene score 0.46-0.97, unrelated
    photos 0.12-0.28. The ConSE vectors are noisier frame to frame (0.33-0.99 within one scene)
    because the top ImageNet guesses flip, so they are kept for grounding only."""
    v = tokens.reshape(-1, tokens.shape[-1]).mean(axis=0).astype(np.float32)
    return v / (np.linalg.norm(v) + 1e-8)


class ClipBuilder:
    """Seals a clip at a scene change (appearance cosine to the clip's mean below ``scene_change``)
    or at ``clip_max_s``; cost per frame is constant."""

    def __init__(self, cfg: MemoryConfig, first_id: int = 0) -> None:
        self._cfg = cfg
        self._next_id = first_id
        self._cur: _Building | None = None

    def add(self, t: float, vector: np.ndarray, tokens: np.ndarray,
            labels: list[tuple[str, float]], image: np.ndarray) -> Sealed | None:
        sealed = None
        cur = self._cur
        look = appearance(tokens)
        if cur is not None:
            mean = cur.appearance
            sim = float(look @ mean / (np.linalg.norm(mean) + 1e-8))
            if sim < self._cfg.scene_change or t - cur.start >= self._cfg.clip_max_s:
                sealed = self._seal(cur, end=t)
                cur = None
        if cur is None:
            cur = self._cur = _Building(start=t, last=t)
        cur.last = t
        cur.appearance = look if cur.appearance is None else cur.appearance + look
        cur.vectors.append(vector)
        cur.tokens.append(tokens)
        for name, p in labels:
            cur.labels[name] += p
        cur.images.append(image)
        return sealed

    def flush(self, end: float | None = None) -> Sealed | None:
        cur, self._cur = self._cur, None
        return self._seal(cur, end=end) if cur is not None else None

    def peek(self, end: float | None = None) -> ClipMemory | None:
        """The clip being built, as if sealed now (for snapshots); does not consume it."""
        if self._cur is None:
            return None
        return self._make(self._cur, self._next_id, end).clip

    def _seal(self, cur: _Building, end: float | None) -> Sealed:
        sealed = self._make(cur, self._next_id, end)
        self._next_id += 1
        return sealed

    def _make(self, cur: _Building, clip_id: int, end: float | None) -> Sealed:
        vectors = np.stack(cur.vectors)
        mean = vectors.mean(axis=0)
        mean /= np.linalg.norm(mean) + 1e-8
        key = int(np.argmax(vectors @ mean))
        n = len(cur.vectors)
        ranked = cur.labels.most_common(CONCEPTS)
        # the clip's best guess always, two more when they carry real weight
        top = [name for i, (name, mass) in enumerate(ranked) if i == 0 or mass / n >= 0.1]
        clip = ClipMemory(
            clip_id=clip_id,
            start=cur.start,
            end=max(end if end is not None else cur.last, cur.last),
            n_frames=n,
            labels=tuple(top[:3]),
            concepts=tuple((name, round(mass / n, 4)) for name, mass in ranked),
            text="",
            global_vector=mean.astype(np.float32),
            tokens=pool_tokens(np.stack(cur.tokens), self._cfg.tokens_per_clip),
            keyframe_jpeg=jpeg(cur.images[key]),
        )
        return Sealed(clip, cur.images[key])
