"""Visual memory with the real encoder: clips, episodes, grounding, snapshots, persistence, ingest."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from postgres import memory_name
from streams import compose, evaldata_items

from omnilive.memory.clips import ClipBuilder
from omnilive.memory.store import MemoryStore, recall
from omnilive.perception.media import MediaError
from omnilive.runtime.ingest import ingest

SCENES = [("img_skimage_coffee", 16), ("img_skimage_chelsea", 16), ("img_ultralytics_bus", 16),
          ("img_imageio_dinosaurs", 16)]


@pytest.fixture(scope="module")
def stream(evaldata, tmp_path_factory):
    """A 64 s camera-like video: coffee, cat, bus, toy dinosaurs, 16 s each (handheld jitter)."""
    items = {it.id: it for it in evaldata_items(evaldata)}
    path = tmp_path_factory.mktemp("stream") / "room.mp4"
    shown = compose([(items[name], s) for name, s in SCENES], path)
    return path, {s.item.id: (s.start, s.end) for s in shown}


def overlaps(clip, span) -> bool:
    return clip.start < span[1] and span[0] < clip.end


def test_ingested_video_answers_where_an_object_was_seen_and_survives_a_restart(models, settings, stream, mem):
    video, truth = stream
    store = MemoryStore.open(mem.where, models.visual, mem.cfg)
    report = ingest(video, models, settings, store, progress=False)
    assert report.status == "ingested" and report.frames == 64
    assert all(a.end <= b.start for a, b in zip(store.clips, store.clips[1:]))  # one timeline, no overlaps
    answers = {}
    for question, item in [("where did I see the cat?", "img_skimage_chelsea"),
                           ("when was there a bus?", "img_ultralytics_bus"),
                           ("where is my coffee?", "img_skimage_coffee"),
                           ("did you see a dinosaur?", "img_imageio_dinosaurs")]:
        best = recall(store, models.visual, question, k=3)
        assert overlaps(best[0], truth[item]), (question, best[0])
        assert best[0].keyframe_jpeg[:2] == b"\xff\xd8" and best[0].score > best[1].score
        answers[question] = [(c.start, c.end) for c in best]
    n_clips = len(store)
    store.close()

    reopened = MemoryStore.open(mem.where, models.visual, mem.cfg)  # a restart
    assert len(reopened) == n_clips
    for question, spans in answers.items():
        assert [(c.start, c.end) for c in recall(reopened, models.visual, question, k=3)] == spans
    again = ingest(video, models, settings, reopened, progress=False)
    assert again.status == "skipped" and len(reopened) == n_clips  # idempotent
    reopened.close()


def test_consolidation_compresses_old_clips_into_episodes_that_still_ground(models, settings, stream, mem):
    video, truth = stream
    cfg = mem.cfg.model_copy(update={"short_term_s": 0.0})  # consolidate everything at once
    store = MemoryStore.open(mem.where, models.visual, cfg)
    ingest(video, models, settings.model_copy(update={"memory": cfg}), store, progress=False)
    episodes = store.episodes
    assert len(episodes) >= 3 and sum(e.n_clips for e in episodes) > len(episodes)  # clips were merged
    for e in episodes:  # an episode never mixes two scenes
        assert sum(overlaps(e, span) for span in truth.values()) == 1, e
    best = recall(store, models.visual, "where did I see the cat?", k=3)
    assert overlaps(best[0], truth["img_skimage_chelsea"]) and best[0].n_clips >= 1
    store.close()


def test_interrupted_ingest_resumes_without_losing_or_duplicating_clips(models, settings, stream, mem):
    video, truth = stream

    class Crash(Exception):
        pass

    real = models.visual
    calls = {"n": 0}

    class CrashingEncoder:
        def __getattr__(self, name):
            return getattr(real, name)

        def encode(self, images):
            calls["n"] += 1
            if calls["n"] == 10:  # ~40 s into the video
                raise KeyboardInterrupt  # what Ctrl-C does mid-ingest
            return real.encode(images)

    crashing = type(models)(**{**models.__dict__, "visual": CrashingEncoder()})
    store = MemoryStore.open(mem.where, real, mem.cfg)
    with pytest.raises(KeyboardInterrupt):
        ingest(video, crashing, settings, store, progress=False)
    kept = [(c.start, c.end) for c in store.clips]
    store.close()
    assert kept and kept[-1][1] < 64

    store = MemoryStore.open(mem.where, real, mem.cfg)
    report = ingest(video, models, settings, store, progress=False)
    assert report.status == "resumed" and report.frames < 64
    spans = [(c.start, c.end) for c in store.clips]
    assert spans[: len(kept)] == kept and spans[-1][1] == pytest.approx(64, abs=1)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    best = recall(store, models.visual, "did you see a dinosaur?", k=1)
    assert overlaps(best[0], truth["img_imageio_dinosaurs"])  # found in the resumed part
    store.close()


def test_snapshot_ignores_frames_added_after_it(models, settings, evaldata):
    store = MemoryStore(models.visual.dim, settings.memory, encoder=models.visual)
    builder = ClipBuilder(settings.memory)

    def show(name: str, n: int, t: float) -> float:
        img = np.asarray(Image.open(evaldata / "images" / name).convert("RGB"))
        for _ in range(n):
            f = models.visual.encode([img])
            sealed = builder.add(t, f.vectors[0], f.tokens[0], f.labels[0], img)
            if sealed:
                store.add(sealed.clip)
            t += 1.0
        return t

    t = show("img_skimage_coffee.png", 3, 0.0)
    snap = store.snapshot(t, (builder.peek(end=t),))  # the user starts speaking now
    t = show("img_ultralytics_bus.jpg", 3, t)
    seen_then = recall(store, models.visual, "a bus", k=5, snapshot=snap)
    assert seen_then and all(c.end <= 3 for c in seen_then)  # only the coffee clip existed then
    store.add(builder.flush(end=t).clip)
    assert recall(store, models.visual, "a bus", k=1)[0].start == 3  # without the snapshot it is found


def test_memory_made_by_another_encoder_is_refused(models, settings, mem):
    from omnilive.memory.errors import MemoryMismatch

    MemoryStore.open(mem.where, models.visual, mem.cfg).close()

    class Other:
        dim, name, concept_names, concept_vectors = models.visual.dim, "clip:some-model", None, None

        def label_words(self, label):
            return label

    with pytest.raises(MemoryMismatch, match="clip:some-model"):
        MemoryStore.open(mem.where, Other(), mem.cfg)


def test_cli_ingest_and_recall_the_same_from_sqlite_and_from_postgresql(stream, tmp_path, evaldata, postgres):
    video, truth = stream
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(video.read_bytes()[:2000])  # a truncated download
    mem = tmp_path / "mem"
    proc = subprocess.run([sys.executable, "-m", "omnilive", "ingest", str(broken), str(video), "--memory", str(mem),
                           "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr  # one file failed ...
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert "error" in lines[0] and lines[1]["status"] == "ingested"  # ... and the next was still ingested
    assert "broken.mp4" in proc.stderr

    proc = subprocess.run([sys.executable, "-m", "omnilive", "recall", "--memory", str(mem), "where is the cat?",
                           "--json", "-k", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    clips = json.loads(proc.stdout)["clips"]
    assert len(clips) == 2 and clips[0]["score"] >= clips[1]["score"]
    assert overlaps(SimpleNamespace(**clips[0]), truth["img_skimage_chelsea"])
    assert {"start", "end", "score", "labels", "keyframe"} <= set(clips[0])
    with open(clips[0]["keyframe"], "rb") as f:
        assert f.read(2) == b"\xff\xd8"

    # the same video into a memory in PostgreSQL (memory.url; --memory names it), recalled by another process
    env = {**os.environ, "OMNILIVE_MEMORY__URL": postgres.url}
    name = memory_name()
    proc = subprocess.run([sys.executable, "-m", "omnilive", "ingest", str(video), "--memory", name, "--json"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "ingested", proc.stderr
    proc = subprocess.run([sys.executable, "-m", "omnilive", "recall", "--memory", name, "where is the cat?",
                           "--json", "-k", "2"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    from_pg = json.loads(proc.stdout)["clips"]
    assert [(c["start"], c["end"], c["score"], c["labels"]) for c in from_pg] == \
        [(c["start"], c["end"], c["score"], c["labels"]) for c in clips]
    with open(from_pg[0]["keyframe"], "rb") as f:
        assert f.read(2) == b"\xff\xd8"
    # its key frames are this memory's alone (not "a_b"'s for "a-b"), and a forget takes them
    from omnilive.cli.recall_cmd import keyframe_dir
    from omnilive.config import load_settings

    pg = load_settings().model_copy(update={"memory": load_settings().memory.model_copy(update={"url": postgres.url})})
    assert Path(from_pg[0]["keyframe"]).parent.parent == keyframe_dir(pg, name)
    assert keyframe_dir(pg, "a-b") != keyframe_dir(pg, "a_b")  # (they shared one: names were made \w-only)
    proc = subprocess.run([sys.executable, "-m", "omnilive", "forget", "--memory", name, "--all"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not Path(from_pg[0]["keyframe"]).exists()
    missing = subprocess.run([sys.executable, "-m", "omnilive", "recall", "--memory", "nobody", "a cat"],
                             capture_output=True, text=True, timeout=300, env=env)
    assert missing.returncode == 2 and "no memory" in missing.stderr


def test_unreadable_video_is_a_clear_error(models, settings, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    store = MemoryStore.open(tmp_path / "mem", models.visual, settings.memory)
    with pytest.raises(MediaError, match="notes.mp4"):
        ingest(bad, models, settings, store, progress=False)
    assert len(store) == 0
    store.close()
