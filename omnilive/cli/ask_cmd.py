"""`omnilive ask --memory DIR "question"`: the assistant's answer from a stored memory."""

from __future__ import annotations

import argparse
import json
import sys

from ..backends.llm import LLMError
from ..runtime.asking import ask_memory
from .common import open_memory, question_parser
from .recall_cmd import clip_row, keyframe_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = question_parser(sub, "ask", "ask the assistant about what a memory holds",
                        "Decide whether QUESTION is meant for the assistant, ground it in the memory in --memory "
                        "DIR and answer it (times are relative to the memory's end).",
                        'print {"respond", "answer", "clips": [...]}')
    p.add_argument("--speak", metavar="WAV", help="also write the spoken answer to this WAV file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    caps = ("vad", "text_embedding", "visual", "llm") + (("tts",) if args.speak else ())  # (a session: runtime/asking.py)
    opened = open_memory(args, caps, create=False)
    if opened is None:
        return 2
    settings, models, store = opened
    try:
        asked = ask_memory(models, settings, store, args.question)
    except LLMError as exc:
        print(f"omnilive: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    respond, text = asked.respond, asked.answer
    clips = asked.query.clips if asked.query else ()
    if args.speak and text:
        import soundfile as sf

        sf.write(args.speak, models.tts.synthesize(text), models.tts.sample_rate, subtype="PCM_16")
    if args.json:
        frames = keyframe_dir(settings, args.memory)
        out = {"respond": respond, "answer": text, "clips": [clip_row(c, frames) for c in clips]}
        if asked.command:
            out["command"] = asked.command  # "stop": a request to stop talking, nothing to answer
        print(json.dumps(out, ensure_ascii=False))
    elif respond:
        print(text)
    elif asked.command:
        print(f"({asked.command} command: no answer)")
    else:
        print("(not a question for the assistant: no answer)")
    return 0
