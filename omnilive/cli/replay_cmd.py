"""`omnilive replay`: run a recorded video (and audio) through the live runtime, printing events."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..backends.base import ModelUnavailable
from ..backends.registry import load_models
from ..config import load_settings
from ..events import AudioChunk, Event, Frame
from ..perception.media import MediaError
from ..memory.errors import MemoryLocked, MemoryMismatch
from ..memory.store import MemoryStore
from ..runtime.replay import replay
from ..reasoning.watch import watch_request
from ..runtime.session import Session

QUIET = {"answer_audio", "answer_delta", "clip", "query", "memory_snapshot", "turn_ended"}  # shown with --all


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="feed a recorded video through the live runtime",
                       description="Play VIDEO (and its audio, or --audio WAV) into a live session at "
                                   "--speed x real time and print events as they happen.")
    p.add_argument("video", help="video file (mp4, mkv, webm, gif, ...)")
    p.add_argument("--audio", help="use this audio file instead of the video's own track")
    p.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible (default 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per line, each with a `type`")
    p.add_argument("--all", action="store_true", help="also print clips, queries, answer deltas and audio chunks")
    p.add_argument("--speak", metavar="WAV", help="also write the spoken answers to this WAV file")
    p.add_argument("--memory", metavar="DIR", help="remember into (and answer from) this persistent memory")
    p.add_argument("--watch", action="append", default=[], metavar="WHAT",
                   help='say when WHAT appears: "a dog" (seen), "the phone rings" (a sound), "someone says X" '
                        '(words), "the word EXIT" (text in view); "... in the next 5 minutes" ends it; repeatable; '
                        'alerts print as {"type": "alert", "t", "watch", "kind", "start", "end", ...}')
    p.set_defaults(run=run)


def _printer(args: argparse.Namespace):
    def show(ev: Event) -> None:
        if isinstance(ev, (AudioChunk, Frame)) or (ev.type in QUIET and not args.all):
            return
        d = ev.to_dict()
        if args.json:
            print(json.dumps(d, ensure_ascii=False), flush=True)
        else:
            t = d.get("t", d.get("end", ""))
            rest = {k: v for k, v in d.items() if k not in ("type", "t")}
            print(f"{t!s:>8} {ev.type:<16} {rest}", flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        models = load_models(settings)
        memory = MemoryStore.open(args.memory, models.visual, settings.memory, models.text_embedding) if args.memory else None
    except (ModelUnavailable, MemoryMismatch, MemoryLocked) as exc:
        print(f"omnilive: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_replay(args, settings, models, memory))
    finally:
        if memory is not None:
            memory.close()


async def _replay(args, settings, models, memory) -> int:
    session = await Session(models, settings, name="replay", memory=memory).start()
    for what in args.watch:
        req = watch_request(f"tell me when {what}")
        if req is None:
            print(f"omnilive: cannot watch for {what!r}", file=sys.stderr)
            return 2
        session.watch(req)
    session.subscribe(_printer(args))
    audio_out: list[bytes] = []
    if args.speak:
        session.subscribe(lambda ev: audio_out.append(ev.pcm16) if ev.type == "answer_audio" else None)
    try:
        summary = await replay(session, args.video, args.audio, speed=args.speed)
    except MediaError as exc:
        await session.close()
        print(f"omnilive: {exc}", file=sys.stderr)
        return 2
    _printer(argparse.Namespace(json=args.json, all=True))(summary)
    await session.close()
    if args.speak:
        import numpy as np
        import soundfile as sf

        pcm = np.frombuffer(b"".join(audio_out), dtype="<i2")
        sf.write(args.speak, pcm, settings.tts.sample_rate, subtype="PCM_16")
    return 0
