"""Short-term memory with the real encoder: clips, grounding, snapshots."""

import numpy as np
from PIL import Image

from omnilive.memory.clips import ClipBuilder
from omnilive.memory.store import MemoryStore


def frames(evaldata, name, n):
    img = np.asarray(Image.open(evaldata / "images" / name).convert("RGB"))
    return [img] * n


def build(models, settings, evaldata, scenes):
    store = MemoryStore(models.visual.dim)
    builder = ClipBuilder(settings.memory)
    t = 0.0
    for name, n in scenes:
        for img in frames(evaldata, name, n):
            f = models.visual.encode([img])
            clip = builder.add(t, f.vectors[0], f.tokens[0], f.labels[0], img)
            if clip:
                store.add(clip)
            t += 1.0
    return store, builder, t


def test_scene_changes_make_clips_and_a_question_finds_its_time(models, settings, evaldata):
    store, builder, t = build(models, settings, evaldata, [
        ("img_skimage_coffee.png", 4), ("img_skimage_chelsea.png", 4), ("img_ultralytics_bus.jpg", 4)])
    store.add(builder.flush(end=t))
    assert [(c.start, c.end) for c in store.clips] == [(0, 4), (4, 8), (8, 12)]
    clip = store.clips[0]
    assert clip.tokens.shape == (settings.memory.tokens_per_clip, 1280) and clip.keyframe_jpeg[:2] == b"\xff\xd8"
    q = models.visual.embed_text(["where did I see a cat?"])[0]
    best = store.ground(q, k=3)
    assert (best[0].start, best[0].end) == (4, 8)
    assert best[0].score > best[1].score


def test_snapshot_ignores_frames_added_after_it(models, settings, evaldata):
    store, builder, t = build(models, settings, evaldata, [("img_skimage_coffee.png", 3)])
    snap = store.snapshot(t, builder.peek(end=t))  # the user starts speaking now
    for img in frames(evaldata, "img_ultralytics_bus.jpg", 3):
        f = models.visual.encode([img])
        clip = builder.add(t, f.vectors[0], f.tokens[0], f.labels[0], img)
        if clip:
            store.add(clip)
        t += 1
    q = models.visual.embed_text(["a bus"])[0]
    seen_then = store.ground(q, snap, k=5)
    assert all(c.end <= 3 for c in seen_then)  # only the coffee clip existed at the snapshot
    store.add(builder.flush(end=t))
    assert store.ground(q, k=1)[0].start == 3  # without the snapshot the bus is found
