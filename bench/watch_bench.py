"""Watches (issue 13) on a 30-minute composed stream: alert latency, missed alerts and false alerts
per hour, through the real encoder and sound tagger in a live session (replayed at 8x).

The camera shows evaldata photos in a shuffled order (20-60 s each, 1 fps); real ESC-50 dog barks
and church bells sound at random times. Watches: "a cat", "a bus", "a horse", "a motorcycle",
"the dog barks", "church bells". An appearance is caught when an alert comes within its first
2 s; an alert while its thing is neither on screen nor sounding is false. The horse is there as
a thing the embedded encoder does not recognise (it calls the silhouette "Mexican hairless").

    .venv/bin/python bench/watch_bench.py [--minutes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import EVALDATA, table
from PIL import Image

PHOTOS = {"cat": "img_skimage_chelsea.png", "bus": "img_ultralytics_bus.jpg", "horse": "img_skimage_horse.png",
          "motorcycle": "img_skimage_motorcycle.png", None: ["img_skimage_coffee.png", "img_skimage_rocket.jpg",
          "img_skimage_astronaut.png", "img_imageio_dinosaurs.jpg", "img_skimage_camera.png", "img_imageio_hats.png"]}
SOUNDS = {"dog": "events/wav16k/ev_esc50_4-183992-A-0_dog.wav", "bell": "events/wav16k/ev_esc50_4-125825-A-46_church_bells.wav"}
WATCHES = ["a cat", "a bus", "a horse", "a motorcycle", "the dog barks", "church bells ring"]
LATENCY_S = 2.0


def compose(minutes: float, path: Path, rng: np.random.Generator):
    from omnilive.perception.media import read_audio, write_video

    scenes, t, total = [], 0.0, minutes * 60
    names = [k for k in PHOTOS if k] + [None] * 4
    while t < total:
        what = names[rng.integers(len(names))]
        file = PHOTOS[what] if what else PHOTOS[None][rng.integers(len(PHOTOS[None]))]
        dur = float(rng.integers(20, 61))
        scenes.append((t, min(total, t + dur), what, file))
        t += dur
    audio = np.zeros(int(total * 16000), np.float32)
    sounds = []
    for _ in range(int(minutes / 3)):
        kind = list(SOUNDS)[rng.integers(len(SOUNDS))]
        clip = read_audio(EVALDATA / SOUNDS[kind])
        at = float(rng.uniform(5, total - 10))
        if any(abs(at - s) < 15 for s, _, _ in sounds):
            continue
        i = int(at * 16000)
        audio[i: i + len(clip)] += clip[: len(audio) - i]
        sounds.append((at, at + len(clip) / 16000, kind))
    images = {f: Image.open(EVALDATA / "images" / f).convert("RGB").resize((320, 240)) for _, _, _, f in scenes}
    write_video(path, [images[f] for start, end, _, f in scenes for _ in range(int(round(end - start)))], 1, audio)
    return scenes, sounds


async def run(models, settings, video: Path, speed: float):
    from omnilive.reasoning.watch import watch_request
    from omnilive.runtime.replay import replay
    from omnilive.runtime.session import Session

    session = await Session(models, settings, name="watch-bench").start()
    session.speak_answers = False
    for w in WATCHES:
        session.watch(watch_request(f"tell me when {w}"))
    alerts = []
    session.subscribe(lambda ev: alerts.append(ev) if ev.type == "alert" else None)
    await replay(session, video, None, speed=speed)
    await session.close()
    return alerts


def main() -> None:
    from omnilive.backends.registry import load_models
    from omnilive.config import load_settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=8.0)
    args = ap.parse_args()
    settings = load_settings()
    models = load_models(settings)
    rng = np.random.default_rng(13)
    video = Path(tempfile.mkdtemp()) / "stream.mp4"
    scenes, sounds = compose(args.minutes, video, rng)
    t0 = time.perf_counter()
    alerts = asyncio.run(run(models, settings, video, args.speed))
    took = time.perf_counter() - t0
    thing_of = {"cat": "cat", "bus": "bus", "horse": "horse", "motorcycle": "motorcycle", "dog": "dog", "bell": "bell"}
    seen: list[list] = []
    for s, e, w, _ in scenes:  # back-to-back scenes of one thing are one appearance
        if seen and seen[-1][2] == w and abs(seen[-1][1] - s) < 1e-6:
            seen[-1][1] = e
        else:
            seen.append([s, e, w])
    appearances = [(s, e, w) for s, e, w in seen if w] + [(s, e, k) for s, e, k in sounds]
    rows, latencies, missed = [], [], 0
    for thing in thing_of.values():
        mine = [(s, e) for s, e, w in appearances if w == thing]
        got = [a for a in alerts if a.watch == thing]
        caught = [min((a.t - s for a in got if s - 1 <= a.t <= e + 1), default=None) for s, e in mine]
        on = [a for a in got if not any(s - 1 <= a.t <= e + 3 for s, e in mine)]
        lat = [c for c in caught if c is not None]
        latencies += lat
        missed += sum(c is None or c > LATENCY_S for c in caught)
        rows.append({"watch": thing, "appearances": len(mine), "alerts": len(got),
                     "caught within 2 s": sum(c is not None and c <= LATENCY_S for c in caught),
                     "missed": sum(c is None for c in caught), "false": len(on),
                     "latency median": f"{statistics.median(lat):.1f} s" if lat else "-"})
    false = sum(r["false"] for r in rows)
    hours = args.minutes / 60
    table(rows, f"watches on a {args.minutes:.0f}-minute composed stream ({len(scenes)} scenes, {len(sounds)} sounds; "
                f"replayed at {args.speed:g}x in {took:.0f} s)")
    table([{"measure": "appearances missed or later than 2 s", "value": f"{missed} of {len(appearances)}"},
           {"measure": "alert latency after the first frame / sound, median / max",
            "value": f"{statistics.median(latencies):.1f} / {max(latencies):.1f} s" if latencies else "-"},
           {"measure": "false alerts per hour", "value": f"{false / hours:.1f}"}], "summary")


if __name__ == "__main__":
    main()
