"""How each memory item is stored as a row: one encoding for every store (SQLite, PostgreSQL), so a
memory moved between them reads the same, and the identity a memory records (its embedding space).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..events import ClipMemory, GroundedClip, HeardItem
from .errors import MemoryMismatch
from .longterm import Episode
from ..perception.scene import Scene

SCHEMA_VERSION = 5  # 2: the conversation log (turns); 3: heard memory; 4: watch expiry; 5: voices; older files gain them on open

HEARD_COLUMNS = 'id, start, "end", kind, text, labels, speaker, score, language, vector, voice'
TURN_COLUMNS = 'start, "end", wall, heard, language, source, for_assistant, answer, state, grounding'
_TURN_KEYS = ("id", "start", "end", "wall", "heard", "language", "source", "for_assistant", "answer", "state")


def sight_json(concepts: tuple[tuple[str, float], ...], scene: Scene | None) -> str:
    """The ``concepts`` column: what the frames were recognised as. The classifier's concepts as
    [[name, p], ...]; with a scene from the detector, {"concepts": [...], "scene": {...}} (rows
    written before the detector existed stay readable, and no migration is needed)."""
    if scene is None:
        return json.dumps(concepts)
    return json.dumps({"concepts": concepts, "scene": scene.to_json()}, separators=(",", ":"))


def sight_of(text: str) -> tuple[tuple[tuple[str, float], ...], Scene | None]:
    data = json.loads(text)
    if isinstance(data, dict):
        return tuple((k, p) for k, p in data["concepts"]), Scene.from_json(data["scene"])
    return tuple((k, p) for k, p in data), None


def clip_row(c: ClipMemory) -> tuple:
    return (c.clip_id, c.start, c.end, c.n_frames, json.dumps(c.labels), c.text,
            c.global_vector.astype(np.float32).tobytes(), c.tokens.astype(np.float16).tobytes(),
            json.dumps(c.tokens.shape), c.keyframe_jpeg, sight_json(c.concepts, c.scene))


def clip_of(r) -> ClipMemory:
    concepts, scene = sight_of(r[10])
    return ClipMemory(clip_id=r[0], start=r[1], end=r[2], n_frames=r[3], labels=tuple(json.loads(r[4])),
                      text=r[5], global_vector=np.frombuffer(r[6], np.float32).copy(),
                      tokens=np.frombuffer(r[7], np.float16).reshape(json.loads(r[8])).copy(),
                      keyframe_jpeg=bytes(r[9]), concepts=concepts, scene=scene)


def episode_row(e: Episode) -> tuple:
    return (e.episode_id, e.start, e.end, e.n_clips, e.n_frames, json.dumps(e.labels), sight_json(e.concepts, e.scene),
            e.text, e.vectors.astype(np.float16).tobytes(), len(e.vectors), e.tokens.astype(np.float16).tobytes(),
            json.dumps(e.tokens.shape), e.keyframe_jpeg, e.first_clip, e.last_clip)


def episode_of(r, dim: int) -> Episode:
    concepts, scene = sight_of(r[6])
    return Episode(episode_id=r[0], start=r[1], end=r[2], n_clips=r[3], n_frames=r[4],
                   labels=tuple(json.loads(r[5])), concepts=concepts, scene=scene, text=r[7],
                   vectors=np.frombuffer(r[8], np.float16).reshape(r[9], dim).copy(),
                   tokens=np.frombuffer(r[10], np.float16).reshape(json.loads(r[11])).copy(),
                   keyframe_jpeg=bytes(r[12]), first_clip=r[13], last_clip=r[14])


def heard_row(item: HeardItem, vector: np.ndarray | None) -> tuple:
    return (item.item_id, item.start, item.end, item.kind, item.text, json.dumps(item.labels), item.speaker,
            item.score, item.language, None if vector is None else vector.astype(np.float16).tobytes(), item.voice)


def heard_of(r) -> tuple[HeardItem, np.ndarray | None]:
    item = HeardItem(item_id=r[0], start=r[1], end=r[2], kind=r[3], text=r[4], labels=tuple(json.loads(r[5])),
                     speaker=r[6], score=r[7], language=r[8], voice=r[10])
    return item, None if r[9] is None else np.frombuffer(r[9], np.float16).astype(np.float32)


def turn_row(turn: dict[str, Any]) -> tuple:
    return (turn["start"], turn["end"], turn["wall"], turn["heard"], turn["language"], turn["source"],
            int(turn["for_assistant"]), turn["answer"], turn["state"], json.dumps(turn["grounding"]))


def turn_of(r) -> dict[str, Any]:
    return {**dict(zip(_TURN_KEYS, r[:10])), "for_assistant": bool(r[7]), "grounding": json.loads(r[10])}


def check_identity(db, where: str, encoder_id: str, dim: int) -> None:
    """A new memory records its embedding space; an existing one must be in the configured one."""
    meta = db.meta()
    if not meta:
        db.set_meta(schema=SCHEMA_VERSION, encoder=encoder_id, dim=dim)
        return
    if int(meta.get("schema", 1)) < SCHEMA_VERSION:
        db.set_meta(schema=SCHEMA_VERSION)
    if meta.get("encoder") != encoder_id or int(meta.get("dim", -1)) != dim:
        raise MemoryMismatch(
            f"{where} holds memory encoded by {meta.get('encoder')!r} (dim {meta.get('dim')}), "
            f"but the configured visual encoder is {encoder_id!r} (dim {dim}); use another --memory "
            "or the encoder it was made with")


def grounded(item: ClipMemory | Episode, score: float, matched: bool = False) -> GroundedClip:
    """A clip or an episode as a moment an answer or the timeline is about (score: how well it matched)."""
    if isinstance(item, Episode):
        return GroundedClip(clip_id=item.first_clip, start=item.start, end=item.end, score=score,
                            labels=item.labels, text=item.text, keyframe_jpeg=item.keyframe_jpeg,
                            n_clips=item.n_clips, word_match=matched, concepts=item.concepts, scene=item.scene)
    return GroundedClip(clip_id=item.clip_id, start=item.start, end=item.end, score=score, labels=item.labels,
                        text=item.text, keyframe_jpeg=item.keyframe_jpeg, word_match=matched,
                        concepts=item.concepts, scene=item.scene)


def stats_of(row, size_bytes: int) -> dict[str, float]:
    """A store's SQL counts (clips, episodes, heard, end, clips sealed) as ``MemoryStore.stats`` says them."""
    return {"clips": row[0], "episodes": row[1], "clips_sealed": row[4], "heard": row[2], "end": round(row[3], 3),
            "bytes": size_bytes}


def timeline(clips: list[ClipMemory], episodes: list[Episode], limit: int) -> list[GroundedClip]:
    """The latest ``limit`` of both, oldest first, as ``MemoryStore.items`` gives them."""
    return [grounded(i, 1.0) for i in sorted(clips + episodes, key=lambda i: i.start)[-limit:]]
