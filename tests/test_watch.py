"""Watches (issue 13): "tell me when you see a cat" / "when the dog barks" on streams composed from
evaldata photos and a real ESC-50 bark, through the real encoder and sound tagger; a spoken watch
through the real ASR that survives a restart; `omnilive replay --watch --json`."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import live, load, say_until_heard
from omnilive.memory.store import MemoryStore
from omnilive.perception.media import write_video
from omnilive.reasoning.watch import watch_request
from omnilive.runtime.replay import feed, media_items

# what the camera shows, 6 s each at 1 fps (stream seconds 0, 6, 12, 18, 24): the last is a printed page
SCENES = ["img_skimage_coffee.png", "img_ultralytics_bus.jpg", "img_skimage_chelsea.png", "img_skimage_horse.png",
          "img_skimage_page.png"]
SCENE_S = 6
BARK_AT = 19.0


def compose(evaldata: Path, path: Path, audio: np.ndarray | None = None) -> Path:
    """The scenes as a 5 fps video (with ``audio`` as its sound track when given)."""
    photos = [Image.open(evaldata / "images" / n).convert("RGB").resize((320, 240)) for n in SCENES]
    return write_video(path, [photos[i // (SCENE_S * 5)] for i in range(len(SCENES) * SCENE_S * 5)], 5, audio)


def test_replay_watch_alerts_on_the_cat_the_bark_and_the_text_and_an_expired_watch_never(evaldata, tmp_path):
    audio = np.zeros(16000 * len(SCENES) * SCENE_S, np.float32)
    bark = load(evaldata, "events/wav16k/ev_esc50_4-183992-A-0_dog.wav")
    audio[int(BARK_AT * 16000): int(BARK_AT * 16000) + len(bark)] += bark
    video = compose(evaldata, tmp_path / "scenes.mp4", audio)
    proc = subprocess.run([sys.executable, "-m", "omnilive", "replay", str(video), "--speed", "2", "--json",
                           "--watch", "a cat", "--watch", "the dog barks", "--watch", "the word segmentation",
                           "--watch", "a bus in the next 3 seconds"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    alerts = [e for e in events if e["type"] == "alert"]
    cats = [a for a in alerts if a["watch"] == "cat"]
    dogs = [a for a in alerts if a["watch"] == "dog"]
    texts = [a for a in alerts if a["kind"] == "text"]
    assert len(cats) == 1 and len(dogs) == 1 and len(texts) == 1, alerts  # one per appearance, none for the others
    assert not [a for a in alerts if a["watch"] == "bus"], alerts  # the bus came at 6 s, after its watch ended
    ended = [e for e in events if e["type"] == "watches"]
    assert ended and "bus" not in [w["thing"] for w in ended[-1]["items"]], ended  # the page is told it ended
    assert texts[0]["watch"] == "segmentation" and "Region-based segmentation" in texts[0]["text"], texts
    assert 4 * SCENE_S <= texts[0]["t"] <= 5 * SCENE_S and texts[0]["keyframe_jpeg_bytes"] > 0, texts
    cat_first = 2 * SCENE_S
    assert cat_first <= cats[0]["t"] <= cat_first + 2, cats  # within 2 s of the cat's first frame at 1 fps
    assert dogs[0]["kind"] == "sound" and BARK_AT - 1 <= dogs[0]["start"] <= BARK_AT + 5, dogs
    answers = [e["text"] for e in map(json.loads, proc.stdout.splitlines()) if e["type"] == "answer"]
    assert any("cat" in a.lower() for a in answers), answers  # said, too


def test_a_spoken_watch_is_kept_across_a_restart_and_fires(models, settings, evaldata, tmp_path):
    async def ask_for_watch():
        store = MemoryStore.open(tmp_path / "memory", models.visual, settings.memory, models.text_embedding)
        session, rec = await live(models, settings, "watch-1", memory=store)
        _, utt = await say_until_heard(session, rec, models.tts, "Tell me when you see a bus.",
                                       lambda x: getattr(watch_request(x), "thing", "") == "bus", 0.0)
        confirmed = await rec.wait_for("answer", turn_id=utt.turn_id, timeout=120)
        await session.close()
        store.close()
        return confirmed.text

    said = asyncio.run(ask_for_watch())
    assert re.search(r"tell you when you see (a|the) bus", said.lower()), said  # (the ASR may hear either article)

    async def restart_and_watch():
        store = MemoryStore.open(tmp_path / "memory", models.visual, settings.memory, models.text_embedding)
        session, rec = await live(models, settings, "watch-2", memory=store)
        listed = await session.ask("What are you watching for?", speak=False)
        listing = (await rec.wait_for("answer", turn_id=listed, timeout=60)).text
        zh = await session.ask("看到猫的时候告诉我", speak=False)  # named "cat" in English by the LLM
        zh_said = (await rec.wait_for("answer", turn_id=zh, timeout=120)).text
        watching = rec.of("watches")[-1].items
        t0 = session.t_offset
        video = compose(evaldata, tmp_path / "scenes.mp4")
        await feed(session, media_items(video, None, settings.runtime.audio_chunk_ms / 1000), speed=2)
        await rec.wait_for("alert", watch="bus", timeout=60)
        await rec.wait_for("alert", watch="cat", timeout=60)
        alerts = rec.of("alert")
        stop = await session.ask("Stop watching for buses.", speak=False)
        stopped = (await rec.wait_for("answer", turn_id=stop, timeout=60)).text
        await session.close()
        store.close()
        return listing, zh_said, watching, alerts, t0, stopped

    listing, zh_said, watching, alerts, t0, stopped = asyncio.run(restart_and_watch())
    assert "bus" in listing.lower(), listing
    assert "看到猫" in zh_said, zh_said
    assert [w["thing"] for w in watching] == ["bus", "cat"] and watching[1]["said"] == "看到猫", watching
    assert [a.watch for a in alerts] == ["bus", "cat"], alerts  # once each, nothing for the coffee or the horse
    bus_first, cat_first = t0 + SCENE_S, t0 + 2 * SCENE_S  # on the memory's timeline
    assert bus_first <= alerts[0].t <= bus_first + 2 and alerts[0].keyframe_jpeg, alerts
    assert cat_first <= alerts[1].t <= cat_first + 2, alerts
    assert "stopped watching for bus" in stopped.lower(), stopped
