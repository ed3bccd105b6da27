"""Runtime benchmark: do model calls run in parallel from threads (the reason stages are threads,
not processes), and what latency does a turn see in a live replay at 1x?

    .venv/bin/python bench/runtime_bench.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from _common import EVALDATA, ROOT, table
from omnilive.backends.registry import load_models
from omnilive.config import load_settings
from omnilive.perception.media import read_audio
from omnilive.runtime.replay import replay
from omnilive.runtime.session import Session

sys.path.insert(0, str(ROOT / "tests"))
from helpers import mix, write_wav  # noqa: E402


def timed(fn, n=3) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def parallelism(models) -> list[dict]:
    speech = read_audio(EVALDATA / "speech/en/wav16k/en_harvard_spk1_snt1.wav")
    frame = np.asarray(Image.open(EVALDATA / "images/img_skimage_coffee.png").convert("RGB"))
    asr = lambda: models.asr.transcribe(speech, "en")
    enc = lambda: [models.visual.encode([frame]) for _ in range(3)]
    a, e = timed(asr), timed(enc)

    def both():
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda f: f(), [asr, enc]))

    b = timed(both)
    return [{"work": "ASR 2.9 s utterance", "wall s": round(a, 3)},
            {"work": "3 frames through the encoder", "wall s": round(e, 3)},
            {"work": "both, sequentially (sum)", "wall s": round(a + e, 3)},
            {"work": "both, two threads", "wall s": round(b, 3)},
            {"work": "overlap gained by threads", "wall s": f"{100 * (a + e - b) / min(a, e):.0f} % of the shorter"}]


async def turns(models, settings, video: Path, audio: Path) -> tuple[list[dict], object]:
    session = await Session(models, settings, name="bench").start()
    events: list = []
    session.subscribe(events.append)
    summary = await replay(session, video, audio, speed=1.0)
    await session.close()
    rows = []
    utts = {e.turn_id: e for e in events if e.type == "utterance"}
    for ans in (e for e in events if e.type == "answer"):
        utt = utts.get(ans.turn_id)
        rows.append({"turn": ans.turn_id, "heard": utt.text[:40] if utt else "",
                     "speech end -> text s": round(utt.asr_latency_s, 3) if utt else "",
                     "-> first token s": ans.first_token_s and round(ans.first_token_s, 3),
                     "-> first audio s": ans.first_audio_s and round(ans.first_audio_s, 3),
                     "answer": ans.text[:50]})
    return rows, summary


def main() -> None:
    settings = load_settings()
    models = load_models(settings)
    table(parallelism(models), "Model calls from two threads (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        bed = read_audio(EVALDATA / "video/vid_imageio_cockatoo.mp4")
        q1 = models.tts.synthesize("What animal did you see?")
        q2 = models.tts.synthesize("Where was the bird?")
        audio = write_wav(Path(tmp) / "q.wav", mix(20.0, [(6.0, q1), (13.0, q2)], bed=bed))
        rows, summary = asyncio.run(turns(models, settings, EVALDATA / "video/vid_imageio_cockatoo.mp4", audio))
    table(rows, "Turns in a 1x replay of video/vid_imageio_cockatoo.mp4 with two spoken questions")
    print(f"\nframes: seen {summary.frames_seen}, sampled {summary.frames_sampled}, encoded "
          f"{summary.frames_encoded}, dropped {summary.frames_dropped}; clips {summary.clips}")


if __name__ == "__main__":
    main()
