"""Long-term memory: old short-term clips consolidated into episodes with a high compression ratio.

IXC2.5-OL compresses short-term clip memories into a long-term memory. Here a clip older than
``short_term_s`` is merged into the open *episode* when it looks like it (same place, same things:
feature-map appearance or ConSE vector close to the episode's) and follows it in time; otherwise the
episode is sealed and a new one starts. An episode keeps what grounding needs and no more:

* up to ``episode_vectors`` representative global vectors (a clip's vector becomes a new
  representative only when no existing one is close; otherwise it is averaged into the nearest),
  so a question can still match any distinct view inside a long episode;
* the clips' pooled tokens averaged into one token set; concept probabilities averaged over frames;
  OCR text de-duplicated;
* one small key frame (the clip whose vector is nearest the episode mean).

Each clip is looked at once, against one open episode, so the cost per new frame does not grow with
the session's length. Sealed episodes never change, which keeps snapshots cheap (see store.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..config import MemoryConfig
from ..events import ClipMemory
from ..perception.scene import Scene, SeenObject
from .clips import CONCEPTS, jpeg

EPISODE_KEYFRAME_SIDE = 160


@dataclass(frozen=True, slots=True)
class Episode:
    episode_id: int
    start: float
    end: float
    n_clips: int
    n_frames: int
    labels: tuple[str, ...]
    concepts: tuple[tuple[str, float], ...]  # mean probability over the episode's frames, best first
    text: str
    vectors: np.ndarray = field(repr=False)  # (r, dim) float16 representatives, unit-norm
    tokens: np.ndarray = field(repr=False)  # (n_tokens, c) float16
    keyframe_jpeg: bytes = field(default=b"", repr=False)
    first_clip: int = 0
    last_clip: int = 0
    scene: Scene | None = None  # the detected objects of its clips (merge_scenes)


def _unit(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float32)
    return v / (np.linalg.norm(v) + 1e-8)


@dataclass
class _Open:
    clips: list[ClipMemory]
    reps: list[np.ndarray]  # float32 sums, normalised on use
    look: np.ndarray  # running sum of unit clip appearances
    mass: Counter
    texts: list[str]
    token_sum: np.ndarray


def clip_look(clip: ClipMemory) -> np.ndarray:
    return _unit(clip.tokens.astype(np.float32).mean(axis=0))


class Consolidator:
    """Feeds old clips, one at a time and in order, into episodes; returns each sealed episode."""

    def __init__(self, cfg: MemoryConfig, first_id: int = 0) -> None:
        self._cfg = cfg
        self._next_id = first_id
        self._open: _Open | None = None

    def add(self, clip: ClipMemory) -> Episode | None:
        sealed = None
        if self._open is not None and not self._fits(self._open, clip):
            sealed = self.seal()
        if self._open is None:
            self._open = _Open(clips=[], reps=[], look=np.zeros_like(clip_look(clip)),
                               mass=Counter(), texts=[], token_sum=np.zeros(clip.tokens.shape, np.float32))
        self._take(self._open, clip)
        return sealed

    def seal(self) -> Episode | None:
        ep, self._open = self._open, None
        return self._make(ep) if ep is not None else None

    def _fits(self, ep: _Open, clip: ClipMemory) -> bool:
        cfg = self._cfg
        last = ep.clips[-1]
        if clip.start - last.end > cfg.clip_max_s or clip.end - ep.clips[0].start > cfg.episode_max_s:
            return False
        if clip.tokens.shape != ep.token_sum.shape:
            return False
        same_look = float(clip_look(clip) @ _unit(ep.look)) >= cfg.merge_appearance
        same_things = max(float(clip.global_vector @ _unit(r)) for r in ep.reps) >= cfg.merge_vector
        return same_look or same_things

    def _take(self, ep: _Open, clip: ClipMemory) -> None:
        ep.clips.append(clip)
        ep.look += clip_look(clip)
        ep.token_sum += clip.tokens.astype(np.float32) * clip.n_frames
        for name, p in clip.concepts or tuple((name, 1.0 / len(clip.labels)) for name in clip.labels):
            ep.mass[name] += p * clip.n_frames
        if clip.text and clip.text not in ep.texts:
            ep.texts.append(clip.text)
        v = clip.global_vector.astype(np.float32)
        sims = [float(v @ _unit(r)) for r in ep.reps]
        if sims and (max(sims) >= self._cfg.rep_merge or len(ep.reps) >= self._cfg.episode_vectors):
            ep.reps[int(np.argmax(sims))] += v
        else:
            ep.reps.append(v.copy())

    def _make(self, ep: _Open) -> Episode:
        clips = ep.clips
        mean = _unit(sum(c.global_vector.astype(np.float32) for c in clips))
        key = max(clips, key=lambda c: float(c.global_vector @ mean))
        n_frames = sum(c.n_frames for c in clips)
        ranked = ep.mass.most_common(CONCEPTS)
        top = tuple(name for i, (name, m) in enumerate(ranked[:3]) if i == 0 or m / n_frames >= 0.1)
        episode = Episode(
            episode_id=self._next_id, start=clips[0].start, end=clips[-1].end, n_clips=len(clips),
            n_frames=n_frames, labels=top, concepts=tuple((k, round(m / n_frames, 4)) for k, m in ranked),
            text=" | ".join(ep.texts)[:500],
            vectors=np.stack([_unit(r) for r in ep.reps]).astype(np.float16),
            tokens=(ep.token_sum / max(n_frames, 1)).astype(np.float16),
            keyframe_jpeg=_thumb(key.keyframe_jpeg), first_clip=clips[0].clip_id, last_clip=clips[-1].clip_id,
            scene=merge_scenes([c.scene for c in clips if c.scene is not None], key.scene),
        )
        self._next_id += 1
        return episode


def merge_scenes(scenes: list[Scene], key: Scene | None) -> Scene | None:
    """One scene for an episode: every label its clips detected, each as often as the clip that
    saw the most of it (three people in one clip and one in the next: three), the more confident
    instances first; the colours of its key clip."""
    if not scenes:
        return None
    best: dict[str, tuple[SeenObject, ...]] = {}
    for s in scenes:
        for label in {o.label for o in s.objects}:
            mine = tuple(sorted((o for o in s.objects if o.label == label), key=lambda o: -o.score))
            if len(mine) > len(best.get(label, ())) or (len(mine) == len(best.get(label, ())) and mine[0].score > best[label][0].score):
                best[label] = mine
    objects = tuple(sorted((o for group in best.values() for o in group), key=lambda o: -o.score))
    ref = key or scenes[0]
    return Scene(objects, ref.colours, all(s.grayscale for s in scenes))


def _thumb(jpeg_bytes: bytes) -> bytes:
    if not jpeg_bytes:
        return b""
    import io

    from PIL import Image

    return jpeg(np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB")), side=EPISODE_KEYFRAME_SIDE,
                quality=60)
