"""Interruptions that are meant (issue 10): speech and noise over a playing answer, and the
answer's own voice coming back through the microphone.

- **false interruptions**: real non-speech sounds (every ESC-50 / bird / music clip in
  ../shared/evaldata/events, 5 s each) and backchannels in Debian voices ("mm-hm", "yeah", "okay,
  right" ...) played over an answer that is being spoken: how often the answer was cancelled,
  against how often it was paused and resumed;
- **real interruptions**: questions and stop commands in the same voices: how often they did cut it;
- **self-interruption**: the answer's audio mixed back into a live-paced mic at several delays and
  levels (speakers, no headphones): how often it interrupted or paused itself.

The LLM is a slow stand-in (the answer must stay in flight); VAD, Smart Turn, ASR, the instruction
filter and TTS are the real ones.

    .venv/bin/python bench/interrupt_bench.py
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time

import numpy as np
from _common import EVALDATA, ROOT, table

sys.path.insert(0, str(ROOT / "tests"))

SR = 16_000
BACKCHANNELS = [("Mm-hmm.", "flite", "slt"), ("Yeah.", "flite", "awb"), ("Okay, right.", "espeak-ng", "en-us"),
                ("Uh-huh.", "flite", "rms"), ("I see.", "espeak-ng", "en-gb"), ("Yeah, okay.", "flite", "kal")]
MEANT = [("Stop.", "flite", "slt"), ("Where are my keys?", "flite", "awb"), ("Wait, stop talking.", "espeak-ng", "en-us"),
         ("What time is it?", "flite", "rms"), ("Hold on, what did you see?", "espeak-ng", "en-gb"),
         ("Be quiet please.", "flite", "kal")]
ECHO = [(0.05, 0.5), (0.15, 0.35), (0.3, 0.6), (0.5, 0.25), (0.8, 0.4)]  # (delay s, level)


async def over_answer(models, settings, audio: np.ndarray) -> tuple[bool, bool]:
    """(answer cancelled, answer paused) for ``audio`` fed while an answer plays."""
    from helpers import SlowLLM, live, llm_phrases, with_llm

    session, rec = await live(with_llm(models, SlowLLM(delay=0.05, words=60)), llm_phrases(settings), "bench")
    turn = await session.ask("Tell me about the room.")
    await rec.wait_for("answer_audio", turn_id=turn)
    x = np.concatenate([audio, np.zeros(3 * SR, np.float32)])  # then silence, as a live mic goes on
    for i in range(0, len(x), 512):
        await session.put_audio(i / SR, x[i : i + 512])
    await session.finish()  # every stage drained: the speech (if any) is understood and settled
    cancelled = any(e.cancelled_turn == turn for e in rec.of("interrupt"))
    paused = bool(rec.of("answer_paused"))
    await session.close()
    return cancelled, paused


async def echo_run(models, settings, delay: float, gain: float) -> tuple[bool, bool, int]:
    """(interrupted, paused, speech starts taken for echo) with only the answer's own voice in the
    mic for 6 s."""
    from helpers import SlowLLM, live, llm_phrases, with_llm
    from test_turn_taking import _Speakers

    session, rec = await live(with_llm(models, SlowLLM(delay=0.03, words=80)), llm_phrases(settings), "bench-echo")
    speakers = _Speakers(delay, gain)
    session.subscribe(speakers)
    turn = await session.ask("Tell me a long story.")
    await rec.wait_for("answer_audio", turn_id=turn)
    rng = np.random.default_rng(1)
    t, t0 = 0.0, time.monotonic()
    while t < 6.0:
        recorded = t0 + t + 512 / SR
        await asyncio.sleep(max(0.0, recorded - time.monotonic()))
        session.offer_audio(t, speakers.mic(512, recorded) + rng.normal(0, 1e-3, 512).astype(np.float32))
        t += 512 / SR
    interrupted = any(e.cancelled_turn == turn for e in rec.of("interrupt"))
    paused = bool(rec.of("answer_paused"))
    ignored = session.counters.echo_ignored
    await session.close()
    return interrupted, paused, ignored


def main() -> None:
    from helpers import say
    from omnilive.backends.registry import load_models
    from omnilive.config import load_settings
    from omnilive.perception.media import read_audio

    settings = load_settings()
    models = load_models(settings)
    with open(EVALDATA / "events" / "labels.tsv") as fh:
        clips = [row for row in csv.DictReader(fh, delimiter="\t") if float(row["duration_s"]) <= 10]
    groups = {"noise (events)": [(r["labels"].split(",")[0], read_audio(EVALDATA / r["wav16k"])) for r in clips],
              "backchannel": [(t, say(t, v, e)) for t, e, v in BACKCHANNELS],
              "meant (question / stop)": [(t, say(t, v, e)) for t, e, v in MEANT]}
    rows, missed = [], []
    for name, items in groups.items():
        cancelled = paused = 0
        for label, audio in items:
            c, p = asyncio.run(over_answer(models, settings, np.concatenate([np.zeros(SR // 2, np.float32), audio])))
            cancelled += c
            paused += p
            if c != (name.startswith("meant")):
                missed.append(f"{name}: {label}")
        rows.append({"over a playing answer": name, "clips": len(items), "paused": paused,
                     "cancelled": f"{cancelled}/{len(items)} ({cancelled / len(items):.0%})",
                     "resumed": paused - cancelled if not name.startswith("meant") else "-"})
    table(rows, "Speech and sound over a playing answer (real VAD, Smart Turn, ASR, filter)")
    if missed:
        print("\nwrong calls: " + "; ".join(missed))
    rows = []
    for delay, gain in ECHO:
        interrupted, paused, ignored = asyncio.run(echo_run(models, settings, delay, gain))
        rows.append({"echo delay": f"{delay * 1000:.0f} ms", "level": f"{20 * np.log10(gain):.0f} dB",
                     "speech starts taken for echo": ignored, "paused itself": paused, "interrupted itself": interrupted})
    table(rows, "The answer's own voice in a live-paced mic for 6 s (no person speaking)")


if __name__ == "__main__":
    main()
