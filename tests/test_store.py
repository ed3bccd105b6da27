"""One contract, three stores (memory/db.py): SQLite, PostgreSQL and RAM hold and give back the same
memory. Clips come from real photos through the real encoder; what was heard is real text; each
store is driven through ``MemoryStore`` as a session drives it, then read back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from postgres import memory_name

from omnilive.events import HeardItem
from omnilive.memory.clips import ClipBuilder, add_encoded
from omnilive.memory.errors import MemoryLocked
from omnilive.memory.store import MemoryStore

PHOTOS = ["img_skimage_coffee.png", "img_skimage_chelsea.png", "img_ultralytics_bus.jpg", "img_skimage_rocket.jpg"]
SAID = [("speech", "I left my keys next to the printer in the hallway", "user"),
        ("speech", "Maintz is where the conference will be held", "background"),
        ("speech", "明天下午三点去看牙医", "user"),
        ("note", "my dentist appointment is on Tuesday at three", "user")]


@pytest.fixture(params=["sqlite", "postgresql", "ram"])
def kind(request):
    return request.param


@pytest.fixture
def opener(kind, models, settings, tmp_path, request):
    """``opener()`` opens the store's memory (again, after a close, for the persistent ones)."""
    cfg = settings.memory.model_copy(update={"short_term_s": 8.0})
    if kind == "ram":
        return lambda: MemoryStore.open(None, models.visual, cfg, models.text_embedding)
    if kind == "postgresql":
        cfg = cfg.model_copy(update={"url": request.getfixturevalue("postgres").url})
        where = memory_name()
    else:
        where = tmp_path / "memory"
    return lambda: MemoryStore.open(where, models.visual, cfg, models.text_embedding)


@pytest.fixture(scope="module")
def clips(models, settings, evaldata):
    """Four scenes of 6 s at 1 fps through the real encoder: the clips a session seals."""
    builder = ClipBuilder(settings.memory)
    sealed = []
    for n, name in enumerate(PHOTOS):
        image = np.asarray(Image.open(evaldata / "images" / name).convert("RGB").resize((320, 240)))
        feats = models.visual.encode([image] * 6)
        sealed += add_encoded(builder, feats, [(6.0 * n + i, image) for i in range(6)])
    last = builder.flush(end=24.0)
    return [s.clip for s in sealed + ([last] if last else [])]


def fill(store: MemoryStore, clips) -> None:
    for c in clips:
        store.add(c)
    for n, (kind, text, speaker) in enumerate(SAID):
        store.heard.add(HeardItem(item_id=0, start=2.0 + 5 * n, end=4.0 + 5 * n, kind=kind, text=text, speaker=speaker,
                                  language="zh" if n == 2 else "en"))
    store.db.add_turn({"start": 3.0, "end": 4.0, "wall": 1.7e9, "heard": "where are my keys?", "language": "en",
                       "source": "speech", "for_assistant": True, "answer": "Next to the printer.",
                       "state": "answered", "grounding": [{"start": 2.0, "end": 4.0, "kind": "speech",
                                                           "text": SAID[0][1]}]})


def contents(store: MemoryStore) -> dict:
    db = store.db
    clips, episodes = db.load(store.dim)
    return {"clips": [(c.clip_id, c.start, c.end, c.labels) for c in clips],
            "episodes": [(e.episode_id, e.first_clip, e.last_clip, e.labels) for e in episodes],
            "heard": [(i.item_id, i.kind, i.text, i.speaker) for i, _ in db.heard_items()],
            "turns": db.turns(), "watches": db.watches()}


def test_a_store_keeps_and_gives_back_clips_episodes_heard_turns_and_watches(kind, opener, clips, models):
    store = opener()
    fill(store, clips)
    watch = store.db.add_watch("seen", "bus", "you see a bus", 5.0, 65.0)
    assert [w[:4] for w in store.db.watches()] == [(watch, "seen", "bus", "you see a bus")]
    have = contents(store)
    assert have["episodes"], "old clips were consolidated into episodes"
    kept = {c for e in have["episodes"] for c in range(e[1], e[2] + 1)} | {c[0] for c in have["clips"]}
    assert kept == {c.clip_id for c in clips}  # every clip, in an episode or on its own
    assert [h[2] for h in have["heard"]] == [t for _, t, _ in SAID]
    turn = have["turns"][0]
    assert set(turn) == {"id", "start", "end", "wall", "heard", "language", "source", "for_assistant", "answer",
                         "state", "grounding"} and turn["for_assistant"] is True
    store.db.set_turn_state(turn["id"], "interrupted")
    assert store.db.turns()[0]["state"] == "interrupted"
    vectors = {i.text: None if v is None else len(v) for i, v in store.db.heard_items()}
    # searchable by meaning after a restart (the embedded text embedder is English-only)
    assert vectors == {t: None if n == 2 else models.text_embedding.dim for n, (_, t, _) in enumerate(SAID)}
    store.close()
    if kind == "ram":
        return
    again = opener()  # a restart
    have_again = contents(again)
    assert have_again["episodes"] == have["episodes"] and have_again["clips"] == have["clips"]
    assert have_again["heard"] == have["heard"] and have_again["watches"] == have["watches"]
    assert [t["state"] for t in have_again["turns"]] == ["interrupted"]
    again.close()


def test_a_store_finds_what_was_heard_by_words_loosely_and_in_chinese(kind, opener, clips):
    store = opener()
    fill(store, clips)
    ids = {text: i.item_id for i, _ in store.db.heard_items() for _, text, _ in SAID if i.text == text}
    exact = dict(store.db.heard_match(["printer"]))
    assert ids[SAID[0][1]] in exact and ids[SAID[1][1]] not in exact
    loose = dict(store.db.heard_match(["mainz"]))  # the ASR wrote "Maintz"
    assert ids[SAID[1][1]] in loose and loose[ids[SAID[1][1]]] < 1.0
    chinese = dict(store.db.heard_like(["牙医", "下午"]))
    assert chinese.get(ids[SAID[2][1]]) == 1.0
    assert not store.db.heard_match(["giraffe"])
    store.close()


def test_a_store_forgets_a_range_and_a_topic_everywhere(kind, opener, clips):
    store = opener()
    fill(store, clips)
    store.db.set_source("/videos/a.mp4", "1:2", 0.0, 12.0, finished=False)
    counts = store.forget(0.0, 8.0)
    assert counts["heard"] == 2 and counts["turns"] == 1
    left = contents(store)
    assert all(c[1] > 8.0 for c in left["clips"]) and not left["turns"]
    assert [h[2] for h in left["heard"]] == [t for _, t, _ in SAID[2:]]
    gone = store.forget_about("dentist")
    assert gone["heard"] >= 1 and "dentist" not in " ".join(h[2] for h in contents(store)["heard"])
    assert store.db.source("/videos/a.mp4")["done_t"] == 12.0  # an ingest's progress is not what was seen
    store.close()


def test_forgetting_a_topic_takes_what_names_it_as_a_word_and_nothing_else(kind, opener, clips):
    """"Forget what I said about the car": turns, summaries of talk and cancelled watches that say
    "car" go; "Oscar" and "scary" are not the car."""
    store = opener()
    fill(store, clips)
    turn = {"wall": 1.7e9, "language": "en", "source": "speech", "for_assistant": True, "state": "answered",
            "grounding": []}
    store.db.add_turn({**turn, "start": 30.0, "end": 31.0, "heard": "Where did I park the car?", "answer": "Outside."})
    store.db.add_turn({**turn, "start": 32.0, "end": 33.0, "heard": "Did Oscar call?", "answer": "That was scary."})
    store.heard.add(HeardItem(item_id=0, start=34.0, end=35.0, kind="speech", text="the car keys are in the drawer",
                              speaker="user", language="en"))
    store.db.add_heard_episode(34.0, 35.0, 1, "They talked about the car keys.")
    store.db.add_heard_episode(36.0, 37.0, 1, "Oscar told a scary story.")
    cancelled = store.db.add_watch("seen", "car", "you see a car", 36.0)
    store.db.end_watch(cancelled)
    gone = store.forget_about("the car")
    assert gone["heard"] >= 1 and gone["turns"] == 1 and gone["heard_episodes"] == 1, gone
    assert [t["heard"] for t in store.db.turns()][-1] == "Did Oscar call?"
    assert [e[3] for e in store.db.heard_episodes()] == ["Oscar told a scary story."]
    assert [e[3] for e in store.heard.episodes] == ["Oscar told a scary story."]  # what a session holds, too
    if kind == "sqlite":
        with store.db._lock:
            assert not store.db._con.execute("SELECT * FROM watches WHERE thing = 'car'").fetchall()
    store.close()


def test_a_memory_read_in_place_says_what_the_loaded_store_says(kind, opener, clips, request):
    """The server's REST reads of a memory not live (memory/sqlite.py, memory/pg.py ``reader``) count
    and find key frames in SQL, without loading the memory: the same answers as the loaded store."""
    if kind == "ram":
        pytest.skip("a memory in RAM is only ever read through its live store")
    store = opener()
    fill(store, clips)
    want = {k: v for k, v in store.stats().items() if k != "bytes"}
    frames = {t: store.keyframe_at(t) for t in (1.0, 13.0, 23.0, 500.0)}
    timeline = [(store.items(k, before), store.heard_latest(k, before)) for k, before in ((60, None), (2, 14.0))]
    store.close()
    if kind == "sqlite":
        from omnilive.memory.sqlite import SQLiteMemories
        memories, name = SQLiteMemories(store.db.dir.parent), store.db.dir.name
    else:
        from omnilive.memory.pg import PostgresMemories
        memories, name = PostgresMemories(request.getfixturevalue("postgres").url), store.db.name
    try:
        with memories.reader(name) as db:
            got = db.stats()
            assert got["bytes"] > 0
            assert {k: v for k, v in got.items() if k != "bytes"} == want
            assert {t: db.keyframe_at(t) for t in frames} == frames and frames[1.0] and frames[500.0] is None
            assert [t["heard"] for t in db.turns()] == ["where are my keys?"]
            assert [(db.items(k, before), db.heard_latest(k, before)) for k, before in ((60, None), (2, 14.0))] == timeline
    finally:
        memories.close()


def test_a_postgresql_memory_lives_through_a_dropped_connection(models, settings, clips, request):
    """The server ends the writer's connection (a restart, a failover, an idle timeout): the next
    write reconnects, takes the memory's lock again, and nothing is lost."""
    import psycopg

    url = request.getfixturevalue("postgres").url
    cfg = settings.memory.model_copy(update={"url": url, "short_term_s": 8.0})
    where = memory_name()
    store = MemoryStore.open(where, models.visual, cfg, models.text_embedding)
    try:
        store.add(clips[0])
        with psycopg.connect(url, autocommit=True) as admin:
            pid = store.db._con.info.backend_pid
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        store.add(clips[1])  # the first statement finds the connection gone
        store.db.add_turn({"start": 1.0, "end": 2.0, "wall": 1.7e9, "heard": "hello", "language": "en",
                           "source": "typed", "for_assistant": True, "answer": "hi", "state": "answered",
                           "grounding": []})
        assert store.db._con.info.backend_pid != pid
        with pytest.raises(MemoryLocked):  # still this writer's alone
            MemoryStore.open(where, models.visual, cfg, models.text_embedding)
        assert [c.clip_id for c in store.db.load(store.dim)[0]] == [clips[0].clip_id, clips[1].clip_id]
    finally:
        store.close()
