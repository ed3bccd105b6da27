"""Memory benchmarks (issue 4): recall on a composed stream, and scale over long sessions.

recall: every evaldata photo and clip is shown once for 20-45 s, in a shuffled order, as one
        camera-like video; it is ingested with `omnilive ingest`'s code into a fresh memory (so
        clips older than memory.short_term_s are consolidated into episodes), then for each object
        label "where did you see the <label>?" is asked; a hit is a returned clip overlapping a
        time when an item with that label was on screen. Also reports ingest speed.
scale:  1 h / 8 h / 24 h sessions at 1 fps built from real encoder features of the same items
        (scenes of 10-120 s, small per-frame feature noise), fed through the clip builder and the
        persistent store: bytes per hour on disk, cost per frame early vs late, query latency.

    .venv/bin/python bench/memory_bench.py [recall] [scale] [--hours 1 8 24]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import EVALDATA, table

from omnilive.backends.registry import load_models
from omnilive.config import load_settings
from omnilive.memory.clips import ClipBuilder
from omnilive.memory.store import MemoryStore, recall
from omnilive.runtime.ingest import ingest
from tests.streams import compose, evaldata_items

NOT_OBJECTS = {"texture", "animation", "indoor", "talking", "silhouette"}


def recall_bench(models, settings, seed: int = 7) -> dict:
    rng = random.Random(seed)
    items = evaldata_items(EVALDATA)
    rng.shuffle(items)
    plan = [(it, rng.uniform(20, 45)) for it in items]
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "stream.mp4"
        shown = compose(plan, video, seed=seed)
        store = MemoryStore.open(Path(tmp) / "memory", models.visual, settings.memory)
        report = ingest(video, models, settings, store, progress=False)
        labels = sorted({lab for s in shown for lab in s.item.labels} - NOT_OBJECTS)
        words = vocabulary(models.visual)
        started = time.perf_counter()
        results = {label: _ask(store, models, shown, label) for label in labels}
        query_ms = (time.perf_counter() - started) / len(labels) * 1000
        stats = store.stats()
        store.close()
    rows = []
    for name, subset in (("all object labels", labels),
                         ("labels the encoder has words for", [lab for lab in labels if nameable(lab, words)])):
        hits = [results[lab] for lab in subset]
        rows.append({"questions": name, "n": len(subset),
                     "recall@1": f"{sum(h[0] for h in hits) / len(hits):.0%}",
                     "recall@3": f"{sum(h[1] for h in hits) / len(hits):.0%}"})
    table(rows, f"Recall on a {shown[-1].end / 60:.0f}-min composed stream of {len(items)} items "
                f"({stats['clips']} clips + {stats['episodes']} episodes; ingest {report.speed:.1f}x real time; "
                f"{query_ms:.0f} ms per question incl. embedding)")
    misses = [f"{lab}->{results[lab][2]}{'' if nameable(lab, words) else '*'}" for lab in labels if not results[lab][1]]
    print("\nmissed (label -> top clip's label; * = no word for it in the encoder's vocabulary): " + ", ".join(misses))
    return rows


def _ask(store, models, shown, label: str) -> tuple[bool, bool, str]:
    truth = [(s.start, s.end) for s in shown if label in s.item.labels]
    clips = recall(store, models.visual, f"where did you see the {label.replace('_', ' ')}?", 3)
    ok = [any(c.start < e and s < c.end for s, e in truth) for c in clips]
    return bool(ok and ok[0]), any(ok), clips[0].labels[0] if clips else "-"


def vocabulary(visual) -> list[set[str]]:
    """What the encoder can name: per class, the words of its name and all its WordNet ancestors."""
    from omnilive.backends.visual_conse import imagenet_hypernyms
    from omnilive.memory.ranking import content_words

    from omnilive.memory.clips import TEXT_CONCEPT_DESCRIPTION

    classes = getattr(visual, "classes", [])
    vocab = [content_words(c + " " + " ".join(h)) for c, h in zip(classes, imagenet_hypernyms())]
    return vocab + [content_words(TEXT_CONCEPT_DESCRIPTION)]  # what OCR adds


def nameable(label: str, vocab: list[set[str]]) -> bool:
    from omnilive.memory.ranking import content_words

    need = content_words(label)
    return any(need <= words for words in vocab)


def _scene_features(models) -> list[tuple]:
    """Real encoder output for each evaldata photo: (vector, tokens, labels, image)."""
    from PIL import Image

    scenes = []
    for it in evaldata_items(EVALDATA):
        if it.is_video:
            continue
        img = np.asarray(Image.open(it.path).convert("RGB").resize((320, 240)))
        feats = models.visual.encode([img])
        scenes.append((feats.vectors[0], feats.tokens[0].astype(np.float32), feats.labels[0], img))
    return scenes


def scale_bench(models, settings, hours: list[float], seed: int = 3, pg_url: str | None = None) -> list[dict]:
    """``pg_url``: the same in a PostgreSQL memory (memory.url) instead of SQLite files."""
    scenes = _scene_features(models)
    cfg = settings.memory.model_copy(update={"url": pg_url})
    rows = []
    for h in hours:
        rng = np.random.default_rng(seed)
        with tempfile.TemporaryDirectory() as tmp:
            where = f"bench-{h}h-{time.time_ns()}" if pg_url else tmp
            store = MemoryStore.open(where, models.visual, cfg)
            builder = ClipBuilder(settings.memory)
            n = int(h * 3600)
            costs = np.zeros(n)
            t, scene, until = 0.0, 0, 0.0
            for i in range(n):
                if t >= until:
                    scene, until = int(rng.integers(len(scenes))), t + float(rng.uniform(10, 120))
                vec, tokens, labels, img = scenes[scene]
                v = vec + rng.normal(0, 0.02, vec.shape).astype(np.float32)
                v /= np.linalg.norm(v)
                tok = tokens + rng.normal(0, 0.05, tokens.shape).astype(np.float32)
                started = time.perf_counter()
                sealed = builder.add(t, v, tok, labels, img)
                if sealed is not None:
                    store.add(sealed.clip)
                costs[i] = time.perf_counter() - started
                t += 1.0
            store.db.checkpoint()
            q = models.visual.embed_text(["water bottle"])[0]
            started = time.perf_counter()
            for _ in range(20):
                store.ground(q, k=3, question="where did I leave my water bottle?")
            query_ms = (time.perf_counter() - started) / 20 * 1000
            stats = store.stats()
            compacted = {}
            if pg_url:  # consolidated clips' space is dead until vacuumed, which 1 h run in seconds outpaces
                store.db.compact()
                compacted = {"MB_per_hour_vacuumed": round(store.db.size_bytes() / 1e6 / h, 2)}
            store.close()
            started = time.perf_counter()  # a returning user: the memory is read back into RAM
            MemoryStore.open(where, models.visual, cfg).close()
            reopen_s = time.perf_counter() - started
        first, last = costs[: n // 10], costs[-(n // 10):]
        rows.append({"hours": h, "frames": n, "clips_sealed": stats["clips_sealed"],
                     "episodes": stats["episodes"], "short_term_clips": stats["clips"],
                     "MB_per_hour": round(stats["bytes"] / 1e6 / h, 2), **compacted,
                     "ms_per_frame_first_10%": round(first.mean() * 1000, 3),
                     "ms_per_frame_last_10%": round(last.mean() * 1000, 3),
                     "query_ms": round(query_ms, 2), "reopen_s": round(reopen_s, 2)})
    table(rows, f"Scale: long sessions at 1 fps in {'PostgreSQL' if pg_url else 'SQLite'} (memory path only; "
                "encoder ~25 ms per frame on top)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="*", default=["recall", "scale"])
    ap.add_argument("--hours", nargs="+", type=float, default=[1, 8, 24])
    ap.add_argument("--postgres", action="store_true", help="scale: also in a PostgreSQL memory started here")
    args = ap.parse_args()
    settings = load_settings()
    settings.visual.threads = 2  # as `omnilive ingest` runs
    models = load_models(settings, ("text_embedding", "visual", "ocr"))
    if "recall" in args.parts:
        recall_bench(models, settings)
    if "scale" in args.parts:
        scale_bench(models, settings, args.hours)
        if args.postgres:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from postgres import Postgres

            pg = Postgres.start()
            try:
                scale_bench(models, settings, args.hours, pg_url=pg.url)
            finally:
                pg.stop()


if __name__ == "__main__":
    main()
