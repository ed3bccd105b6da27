"""`omnilive transcribe FILE...`: transcript, language, timed segments and sound events per file."""

from __future__ import annotations

import argparse
import json
import sys

from ..backends.base import ModelUnavailable
from ..backends.registry import load_models
from ..config import load_settings
from ..dsp import AudioFormatError
from ..perception.media import MediaError
from ..perception.transcribe import transcribe_file
from .common import file_failed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe recorded audio/video files",
                       description="Transcribe wav/flac/mp3/mp4/... files: text, language, timed segments "
                                   "and sound events. A file that cannot be read is reported and skipped.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per file: {file, text, language, segments (with speaker), events, duration} "
                        "or {file, error}")
    p.add_argument("--language", help="force a language (en, zh, ...) instead of detecting it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = {"asr": {"language": args.language}} if args.language else {}
    settings = load_settings(args.config, **overrides)
    try:
        models = load_models(settings, ("vad", "asr", "sound_events", "speaker"))
    except ModelUnavailable as exc:
        print(f"omnilive: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            result = transcribe_file(path, models, settings, progress=True)
        except (MediaError, AudioFormatError, OSError) as exc:
            failed += 1
            file_failed(args, path, exc)
            continue
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(f"== {path} ({result.language}, {result.duration:.1f} s)")
            for s in result.segments:
                print(f"[{s.start:7.2f} - {s.end:7.2f}] {s.speaker + ': ' if s.speaker else ''}{s.text}")
            if result.events:
                print("sounds: " + ", ".join(f"{e.label} {e.start:.1f}-{e.end:.1f}s" for e in result.events))
    return 1 if failed else 0
