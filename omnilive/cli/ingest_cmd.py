"""`omnilive ingest VIDEO... --memory DIR`: remember recorded videos (idempotent, resumable)."""

from __future__ import annotations

import argparse
import json

from ..config import load_settings
from ..perception.media import MediaError
from ..runtime.ingest import ingest
from .common import file_failed, open_memory

CAPS = ("text_embedding", "visual", "ocr", "vad", "asr", "sound_events", "speaker")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="put recorded videos into a persistent memory",
                       description="Sample each VIDEO at runtime.video_fps, encode, compress into clips and "
                                   "episodes, and store them in --memory DIR. Files already ingested are "
                                   "skipped; an interrupted file continues where it stopped.")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--memory", required=True, metavar="DIR", help="memory directory (created if missing)")
    p.add_argument("--json", action="store_true", help="one JSON line per file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    settings.visual.threads = max(2, settings.visual.threads)  # batch work: both cores for the encoder
    opened = open_memory(args, CAPS, create=True, settings=settings)
    if opened is None:
        return 2
    settings, models, store = opened
    failed = 0
    try:
        for path in args.videos:
            try:
                r = ingest(path, models, settings, store, progress=True)
            except (MediaError, OSError) as exc:
                failed += 1
                file_failed(args, path, exc)
                continue
            if args.json:
                print(json.dumps({**store.stats(), "file": path, "status": r.status, "duration_s": round(r.duration_s, 3),
                                  "frames": r.frames, "clips": r.clips, "heard": r.heard, "offset": round(r.offset, 3),
                                  "speed": round(r.speed, 1)}), flush=True)
            else:
                print(f"{path}: {r.status}, {r.frames} frames -> {r.clips} clips, {r.heard} heard items in {r.elapsed_s:.1f} s "
                      f"({r.speed:.0f}x real time), at {r.offset:.0f} s on the memory timeline")
    finally:
        store.close()
    return 1 if failed else 0
