"""Labelled utterances for the instruction filter: training data and held-apart evaluation sets.

Training: the hand-written lists in omnilive/data/intent/ (80 %, a fixed split) plus LibriSpeech
*dev* transcripts as background talk. Held apart, never trained on: the other 20 % of the
hand-written lists, and third-party text from ../shared/evaldata: the questions of streaming-video
QA benchmarks (StreamingBench, OVO-Bench, MLVU, IXC2.5-OL; meant for an assistant) against
LibriSpeech *test* transcripts and the English reference transcripts of speech/asr_eval.jsonl
(audiobooks, speeches, meetings: background).
"""

from __future__ import annotations

import gzip
import json
import random
from importlib import resources
from pathlib import Path

SEED = 0


def _lines(name: str) -> list[str]:
    text = resources.files("omnilive.data.intent").joinpath(name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _split(items: list[str]) -> tuple[list[str], list[str]]:
    items = sorted(items)
    random.Random(SEED).shuffle(items)
    cut = int(len(items) * 0.8)
    return items[:cut], items[cut:]


def _librispeech(evaldata: Path, prefix: str, n: int) -> list[str]:
    with gzip.open(evaldata / "benchmarks" / "ixc_librispeech_dev_test_transcripts.jsonl.gz", "rt") as f:
        rows = [json.loads(line)["gt"] for line in f if f'"librispeech_{prefix}' in line]
    random.Random(SEED).shuffle(rows)
    return [r.lower() for r in rows[:n]]


def training(evaldata: Path) -> tuple[list[str], list[int]]:
    pos, _ = _split(_lines("assistant.txt"))
    neg, _ = _split(_lines("background.txt"))
    neg += _librispeech(evaldata, "dev", 300)
    return pos + neg, [1] * len(pos) + [0] * len(neg)


def held_out(evaldata: Path) -> dict[str, tuple[list[str], list[int]]]:
    _, pos = _split(_lines("assistant.txt"))
    _, neg = _split(_lines("background.txt"))
    questions: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "question" and isinstance(value, str):
                    questions.add(" ".join(value.split()))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((evaldata / "benchmarks").glob("*.json")):
        walk(json.loads(path.read_text()))
    speech = [json.loads(line) for line in (evaldata / "speech" / "asr_eval.jsonl").read_text().splitlines()]
    background = [r["text"] for r in speech if r["lang"].startswith("en")] + _librispeech(evaldata, "test", 300)
    return {
        "hand-written, held-apart 20 %": (pos + neg, [1] * len(pos) + [0] * len(neg)),
        "third-party: benchmark questions vs real transcripts": (
            sorted(questions) + background, [1] * len(questions) + [0] * len(background)),
    }
