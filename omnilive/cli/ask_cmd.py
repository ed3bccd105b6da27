"""`omnilive ask --memory DIR "question"`: the assistant's answer from a stored memory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..backends.llm import LLMError
from ..reasoning.intent import InstructionFilter, language_of
from ..reasoning.respond import answer_sentences, facts_first
from ..reasoning.retrieve import Conversation, ground_question
from .common import open_memory, question_parser
from .recall_cmd import clip_row


def register(sub: argparse._SubParsersAction) -> None:
    p = question_parser(sub, "ask", "ask the assistant about what a memory holds",
                        "Decide whether QUESTION is meant for the assistant, ground it in the memory in --memory "
                        "DIR and answer it (times are relative to the memory's end).",
                        'print {"respond", "answer", "clips": [...]}')
    p.add_argument("--speak", metavar="WAV", help="also write the spoken answer to this WAV file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    caps = ("text_embedding", "visual", "llm") + (("tts",) if args.speak else ())
    opened = open_memory(args, caps, create=False)
    if opened is None:
        return 2
    settings, models, store = opened
    try:
        respond = InstructionFilter(models.text_embedding, settings.runtime.respond, models.llm).respond(args.question)
        text, clips = "", ()
        if respond:
            snap = store.snapshot(store.end)
            got = ground_question(store, models.visual, models.llm, args.question, snap, settings.memory.top_k,
                                  Conversation())
            clips = got.clips
            query = got.query(0, snap.t, args.question, language=language_of(args.question))
            text = " ".join(s for s, _ in answer_sentences(models.llm, query, facts_first=facts_first(settings),
                                                              max_tokens=settings.llm.max_tokens))
    except LLMError as exc:
        print(f"omnilive: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.speak and text:
        import soundfile as sf

        sf.write(args.speak, models.tts.synthesize(text), models.tts.sample_rate, subtype="PCM_16")
    if args.json:
        print(json.dumps({"respond": respond, "answer": text,
                          "clips": [clip_row(c, Path(args.memory)) for c in clips]}, ensure_ascii=False))
    elif respond:
        print(text)
    else:
        print("(not a question for the assistant: no answer)")
    return 0
