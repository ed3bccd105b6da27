"""`omnilive recall --memory DIR "question"`: the moments in memory that answer a question."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from ..events import GroundedClip
from ..redaction import redact
from ..memory.sqlite import private_dir, private_opener
from ..memory.store import recall
from ..reasoning.heard import heard_row, recall_heard, voice_names
from .common import open_memory, question_parser

CAPS = ("text_embedding", "visual")


def register(sub: argparse._SubParsersAction) -> None:
    p = question_parser(sub, "recall", "find the moments in a memory that a question is about",
                        "Ground QUESTION in the memory in --memory DIR; print the best clips, best first, with "
                        "their stream-time range, score, labels and key frame.",
                        'print {"clips": [{"start", "end", "score", "labels", "text", "keyframe"}, ...], '
                        '"heard": [{"start", "end", "kind", "text", "labels", "speaker", "score"}, ...]}')
    p.add_argument("-k", type=int, default=None, help="how many clips (default: memory.top_k)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    opened = open_memory(args, CAPS, create=False)
    if opened is None:
        return 2
    settings, models, store = opened
    k = args.k or settings.memory.top_k
    try:
        clips = recall(store, models.visual, args.question, k)
        names = voice_names(store)
        heard = [heard_row(i, s, names) for i, s in recall_heard(store, args.question, k)]
    finally:
        store.close()
    frames = keyframe_dir(settings, args.memory)
    if settings.memory.url:  # what the last recall showed, no more: a forget since must not linger here
        shutil.rmtree(frames / "keyframes", ignore_errors=True)
    rows = [clip_row(c, frames) for c in clips]
    if args.json:
        print(json.dumps({"clips": rows, "heard": heard}, ensure_ascii=False))
    else:
        for h in heard:
            who = f" ({h['speaker']})" if h["speaker"] else ""
            print(f'{h["start"]:9.1f} - {h["end"]:9.1f} s  heard {h["kind"]}{who}: {h["text"]}')
        for r in rows:
            text = f'  text "{r["text"]}"' if r["text"] else ""
            print(f'{r["start"]:9.1f} - {r["end"]:9.1f} s  score {r["score"]:.3f}  {", ".join(r["labels"])}{text}'
                  f'  {r["keyframe"]}')
        if not rows and not heard:
            print("memory is empty")
    return 0


def keyframe_dir(settings, memory: str) -> Path:
    """Where `recall` writes key frames: beside a memory directory; for a memory in PostgreSQL, in
    this machine's cache, one directory per database and name (``a-b`` and ``a_b`` are two)."""
    if not settings.memory.url:
        return Path(memory)
    return settings.cache_dir / "keyframes" / hashlib.sha256(f"{redact(settings.memory.url)}\0{memory}".encode()).hexdigest()[:24]


def clip_row(c: GroundedClip, memory_dir: Path) -> dict:
    """A grounded clip as JSON, its key frame written out as a file (``memory_dir``/keyframes)."""
    keyframe = None
    if c.keyframe_jpeg:
        path = memory_dir / "keyframes" / f"clip-{c.clip_id}-{c.n_clips}.jpg"
        if not path.exists():
            private_dir(path.parent)  # what the camera saw: the owner's only, like the memory
            with open(path, "wb", opener=private_opener) as f:
                f.write(c.keyframe_jpeg)
        keyframe = str(path)
    return {"start": round(c.start, 3), "end": round(c.end, 3), "score": round(c.score, 4),
            "labels": list(c.labels), "text": c.text, "n_clips": c.n_clips, "keyframe": keyframe}
