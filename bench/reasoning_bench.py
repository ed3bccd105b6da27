"""Reasoning benchmarks (issue 5): instruction-filter accuracy on held-apart text, turn latency in a
1x replay (end of speech -> first token / first audio), TTS real-time factor, interrupt latency.

    .venv/bin/python bench/reasoning_bench.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import EVALDATA, ROOT, table
from _intent_data import held_out, training
from runtime_bench import turns

from omnilive.backends.registry import load_models
from omnilive.config import load_settings
from omnilive.perception.media import read_audio
from omnilive.reasoning.intent import InstructionFilter
from omnilive.runtime.session import Session

sys.path.insert(0, str(ROOT / "tests"))
from helpers import Recorder, mix, write_wav  # noqa: E402


def filter_accuracy(models) -> None:
    f = InstructionFilter(models.text_embedding)
    _, train_labels = training(EVALDATA)
    rows = [{"set": "training (hand-written 80 % + LibriSpeech dev)", "n": len(train_labels), "accuracy": "",
             "requests recognised": "", "background rejected": "", "ms per utterance": ""}]
    for name, (texts, labels) in held_out(EVALDATA).items():
        started = time.perf_counter()
        pred = f.probability(texts) >= 0.5
        ms = (time.perf_counter() - started) / len(texts) * 1000
        y = np.array(labels, dtype=bool)
        rows.append({"set": name, "n": len(y), "accuracy": f"{np.mean(pred == y):.1%}",
                     "requests recognised": f"{np.mean(pred[y]):.1%}", "background rejected": f"{np.mean(~pred[~y]):.1%}",
                     "ms per utterance": round(ms, 1)})
    table(rows, "Instruction filter (MiniLM + cues, logistic regression), held-apart sets")


def tts_rtf(models) -> None:
    sentences = ["I saw a tabby cat about two minutes ago.", "Right now I see a coffee mug and a spoon.",
                 "Sorry, I can't answer right now."]
    rows = []
    for s in sentences:
        models.tts.synthesize(s)
        started = time.perf_counter()
        audio = models.tts.synthesize(s)
        took = time.perf_counter() - started
        dur = len(audio) / models.tts.sample_rate
        rows.append({"sentence": s, "audio s": round(dur, 2), "synth s": round(took, 3), "RTF": round(took / dur, 3)})
    table(rows, f"TTS ({models.tts.__class__.__name__}, output at {models.tts.sample_rate} Hz), one thread")


class _TimedLLM:
    """The real LLM, noting when its token stream was closed (the generation really stopped)."""

    def __init__(self, llm) -> None:
        self._llm, self.closed_at = llm, None

    def __getattr__(self, name):  # supports_images, json, prime ... of the real LLM
        return getattr(self._llm, name)

    def stream(self, messages, *, max_tokens, cancel=None):
        try:
            yield from self._llm.stream(messages, max_tokens=max_tokens, cancel=cancel)
        finally:
            self.closed_at = time.perf_counter()


async def _interrupt_once(models, settings, barge_in: np.ndarray) -> dict:
    import dataclasses

    llm = _TimedLLM(models.llm)
    models = dataclasses.replace(models, llm=llm)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"max_tokens": 300})})
    session = await Session(models, settings, name="bench-interrupt").start()
    rec = Recorder()
    session.subscribe(rec)
    turn = await session.ask("Tell me a long story about a cat.")
    await rec.wait_for("answer_audio", turn_id=turn, timeout=60)
    for i in range(0, len(barge_in), 512):
        await session.put_audio(i / 16000, barge_in[i: i + 512])
        await asyncio.sleep(512 / 16000)  # real time
    await rec.wait_for("utterance", timeout=60)
    await session.close()
    started = next(t for t, e in rec.events if e.type == "speech_started")
    interrupt = next(t for t, e in rec.events if e.type == "interrupt" and e.cancelled_turn == turn)
    after = [e for t, e in rec.events if t > interrupt and e.type in ("answer_audio", "answer_delta")
             and e.turn_id == turn]
    ended = next(t for t, e in rec.events if e.type == "answer" and e.turn_id == turn)
    return {"speech start -> interrupt sent ms": round((interrupt - started) * 1000, 1),
            "-> answer task cancelled ms": round((ended - started) * 1000, 1),
            "-> LLM generation stopped ms": round((llm.closed_at - started) * 1000, 1) if llm.closed_at else "",
            "answer audio/text after interrupt": len(after)}


def main() -> None:
    settings = load_settings()
    models = load_models(settings)
    filter_accuracy(models)
    tts_rtf(models)
    with tempfile.TemporaryDirectory() as tmp:
        bed = read_audio(EVALDATA / "video/vid_imageio_cockatoo.mp4")
        qs = [models.tts.synthesize(q) for q in ("What animal did you see?", "Where was the bird?", "Tell me a joke.",
                                                 "What is the capital of France?")]
        audio = write_wav(Path(tmp) / "q.wav", mix(30.0, [(4.0, qs[0]), (10.0, qs[1]), (16.0, qs[2]), (23.0, qs[3])],
                                                   bed=bed))
        video = EVALDATA / "video/vid_imageio_cockatoo.mp4"
        for facts_first in (True, False):
            s = settings.model_copy(update={"llm": settings.llm.model_copy(update={"facts_first": facts_first})})
            rows, _ = asyncio.run(turns(models, s, video, audio))
            table(rows, f"Turns in a 1x replay, embedded defaults, facts_first={facts_first}"
                        + (" (default)" if facts_first else f" ({settings.llm.model} phrases every answer)"))
    barge = read_audio(EVALDATA / "speech/en/wav16k/en_harvard_spk1_snt1.wav")
    rows = [asyncio.run(_interrupt_once(models, settings, mix(4.0, [(0.3, barge)]))) for _ in range(3)]
    table(rows, "Interrupt: the user talks over a spoken answer (3 runs)")


if __name__ == "__main__":
    main()
