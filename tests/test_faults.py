"""The fault suite: hostile input, failing stages, races, crashes and contention, each through the
real server / session / memory on the real models. The session and its memory must survive."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import Recorder, live, mix, say
from PIL import Image
from starlette.websockets import WebSocketDisconnect
from streams import compose, evaldata_items
from test_server import connect, jpeg, media, receive_until, with_memory_dir

from omnilive.memory.errors import MemoryLocked
from omnilive.memory.store import MemoryStore
from omnilive.runtime.session import Session
from omnilive.server import protocol
from omnilive.server.app import create_app
from omnilive.perception.sources import source_allowed
from omnilive.redaction import redact


@pytest.fixture(scope="module")
def client(settings, models, tmp_path_factory):
    with TestClient(create_app(with_memory_dir(settings, tmp_path_factory.mktemp("faults")), models)) as c:
        yield c


# ---- hostile input ---------------------------------------------------------------------------


def _fuzz_message(rng: random.Random) -> tuple[str, bytes | str]:
    """One malformed or harmless message (never a valid question: those would be answered)."""
    r = rng.random()
    if r < 0.45:
        kind = rng.choice([0, 1, 2, 3, 17, 255])
        t = rng.choice([0.0, 1.5, -1.0, float("nan"), float("inf"), 1e300, rng.uniform(0, 100)])
        n = rng.choice([0, 1, 3, 7, 101, 4001, 70_000])
        payload = bytes(rng.getrandbits(8) for _ in range(min(n, 512))) * (n // 512 + 1)
        if kind == 1 and len(payload[:n]) % 2 == 0 and n <= 64_000:
            payload = b"\x00" * n  # valid audio is silence, so nothing is heard
        return "bytes", struct.pack("<Bd", kind, t)[: rng.choice([1, 5, 9, 9, 9])] + payload[:n]
    if r < 0.8:
        msg = rng.choice([
            {"type": "ask"}, {"type": "ask", "text": ""}, {"type": "ask", "text": 42}, {"type": "ask", "text": None},
            {"type": "ask", "text": "x" * 5000}, {"type": "config"}, {"type": "config", "speak": "yes"},
            {"type": "config", "speak": rng.random() < 0.5}, {"type": "stop"}, {"type": 7}, {"type": None},
            {"type": "delete everything"}, {"text": "hi"}, [], [1, 2], "ask", None, {"type": "ask", "speak": True},
        ])
        return "text", json.dumps(msg)
    return "text", "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(0, 80)))


def test_thousands_of_fuzzed_messages_leave_the_session_alive(client):
    rng = random.Random(1234)
    with connect(client) as ws:
        for _ in range(3000):
            kind, data = _fuzz_message(rng)
            ws.send_bytes(data) if kind == "bytes" else ws.send_text(data)
        ws.send_text(json.dumps({"type": "ask", "text": "What did you see?", "speak": False}))
        seen = receive_until(ws, "answer", limit=10_000)
        errors = [ev for k, ev in seen if k == "error"]
        assert len(errors) > 1000 and all(e["stage"] == "protocol" for e in errors)
        assert seen[-1][1]["text"]  # answered after all of it
    assert client.get("/health").json()["ok"]


def _png_bomb(side: int, full: bool) -> bytes:
    """A grey PNG of side x side pixels; ``full``: all its (zero) rows compressed, else only the
    header and a truncated stream (a size no decoder must start on)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(z.compress(row) for _ in range(side if full else 8)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_before_decoding(client, evaldata):
    small_bomb = _png_bomb(12_000, full=True)  # ~140 KiB -> 144 Mpx
    assert len(small_bomb) < 300_000
    big_bomb = _png_bomb(40_000, full=False)  # 1.6 Gpx
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    with connect(client) as ws:
        ws.send_bytes(media(protocol.FRAME_IN, 0.0, small_bomb))
        assert "pixels" in ws.receive_json()["message"]
        ws.send_bytes(media(protocol.FRAME_IN, 1.0, big_bomb))
        assert "pixels" in ws.receive_json()["message"]
        for t in range(2, 6):  # the camera goes on: real frames still make memory
            ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
        ws.send_bytes(media(protocol.FRAME_IN, 6.0, jpeg(evaldata / "images/img_ultralytics_bus.jpg")))
        clip = receive_until(ws, "clip")[-1][1]
        assert 2.0 <= clip["start"] < 6.0 and clip["n_frames"] >= 1  # the bombs made no frame, the cat did


def test_hostile_source_urls_are_refused(client):
    allowed = ["rtmp://media:1935/live/"]
    assert source_allowed("rtmp://media:1935/live/cam1", allowed)
    for url in ["rtmp://media:1935.evil.example/live/x", "rtmp://media.evil.example:1935/live/x",
                "rtmp://media:1936/live/x", "rtmps://media:1935/live/x", "rtmp://media:1935/lively",
                "rtmp://user:pw@media:1935/live/x", "file:///etc/passwd", "concat:rtmp://media:1935/live/x",
                "rtmp://media:99999/live/x", "http://media:1935/live/x.m3u8"]:
        assert not source_allowed(url, allowed), url
    token = client.post("/api/sessions").json()["token"]
    with client.websocket_connect(f"/ws?token={token}&source=file:///etc/passwd") as ws:
        assert "not allowed" in ws.receive_json()["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_other_origins_and_session_floods_are_refused(settings, models, tmp_path):
    app_settings = with_memory_dir(settings, tmp_path)
    with TestClient(create_app(app_settings, models)) as c:
        evil = {"origin": "http://evil.example"}
        assert c.post("/api/sessions", headers=evil).status_code == 403
        token = c.post("/api/sessions").json()["token"]
        with c.websocket_connect(f"/ws?token={token}", headers=evil) as ws:
            ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403
        codes = [c.post("/api/sessions").status_code for _ in range(settings.server.new_sessions_per_minute + 5)]
        assert 429 in codes and codes.count(201) == settings.server.new_sessions_per_minute - 1
        assert c.get("/health").json()["ok"]


def test_tokens_never_reach_the_logs(caplog):
    line = '127.0.0.1:5000 - "WebSocket /ws?token=s3cr3t-T0ken_x" [accepted]'
    assert "s3cr3t" not in redact(line) and "token=***" in redact(line)
    assert "s3cr3t" not in redact("Authorization: Bearer s3cr3t-T0ken_x")
    from omnilive.redaction import install_log_redaction

    install_log_redaction()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "uvicorn.access")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:  # uvicorn's own config (an earlier test's server) may quieten them or stop them propagating
        lg.addHandler(caplog.handler)
        lg.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO):
            loggers[0].info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws?token=s3cr3t")
            loggers[1].info('%s - "GET %s HTTP/1.1" %d', "127.0.0.1", "/api/memory?token=s3cr3t", 200)
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(caplog.handler)
            lg.setLevel(level)
    assert len(caplog.records) >= 2 and "s3cr3t" not in caplog.text and "token=***" in caplog.text


# ---- failing stages and races ----------------------------------------------------------------


class _Flaky:
    """The real model, except that its ``method`` raises the first ``times`` calls."""

    def __init__(self, model, method: str, times: int = 1) -> None:
        self._model, self._method, self.left = model, method, times

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        if name != self._method:
            return attr

        def flaky(*args, **kw):
            if self.left > 0:
                self.left -= 1
                raise RuntimeError(f"injected failure in {name}")
            return attr(*args, **kw)

        return flaky


def _feed_speech(session, audio: np.ndarray, realtime: bool = False):
    async def run():
        t0 = session.stream_t  # the stream goes on where it was
        for i in range(0, len(audio), 512):
            await session.put_audio(t0 + i / 16000, audio[i: i + 512])
            if realtime:
                await asyncio.sleep(512 / 16000)
    return run()


def test_a_stage_that_raises_is_reported_and_the_session_goes_on(models, settings, evaldata):
    flaky = _Flaky(models.visual, "embed_text")  # grounding of the first question fails
    question = models.tts.synthesize("Did you see a cat?")
    cat = np.asarray(Image.open(evaldata / "images/img_skimage_chelsea.png").convert("RGB"))

    async def run():
        memory = MemoryStore(models.visual.dim, settings.memory, encoder=models.visual)
        session, rec = await live(dataclasses.replace(models, visual=flaky), settings, "t-flaky", memory=memory)
        for t in range(4):
            session.offer_frame(float(t), cat)
        await _feed_speech(session, mix(4.0, [(0.3, question)]))
        await rec.wait_for("error", timeout=60)
        typed = await session.ask("Did you see a cat?", speak=False)  # the stage lives on
        answer = await rec.wait_for("answer", turn_id=typed, timeout=60)
        await _feed_speech(session, mix(4.0, [(0.3, question)]))  # and so does the spoken path
        await session.finish()
        await session.close()
        return rec, answer, session.counters

    rec, answer, counters = asyncio.run(run())
    assert any(e.type == "error" and "injected failure" in e.message for _, e in rec.events)
    assert counters.stage_errors == 1 and "cat" in answer.text.lower()
    spoken = [e for _, e in rec.events if e.type == "answer" and e.turn_id < 1_000_000]
    assert spoken and "cat" in spoken[-1].text.lower()


def test_two_typed_questions_back_to_back_answer_only_the_second(models, settings):
    async def run():
        session, rec = await live(models, settings, "t-b2b")
        first = await session.ask("Tell me a long story about a lighthouse.", speak=False)
        second = await session.ask("What is the capital of France?", speak=False)
        answer = await rec.wait_for("answer", turn_id=second, timeout=120)
        await session.close()
        return rec, first, answer

    rec, first, answer = asyncio.run(run())
    assert "paris" in answer.text.lower() and not answer.interrupted
    assert all(e.interrupted for _, e in rec.events if e.type == "answer" and e.turn_id == first)


class _HeldASR:
    """The real ASR, held until the user has started speaking again (an event, not a sleep), so a
    new question always arrives while the previous one is still being transcribed."""

    def __init__(self, asr) -> None:
        self._asr, self.release, self.held = asr, threading.Event(), 0

    def __getattr__(self, name):
        return getattr(self._asr, name)

    def transcribe(self, samples, language=None):
        if self.held == 0:
            self.held += 1
            self.release.wait(30)
        return self._asr.transcribe(samples, language)


def test_a_question_while_the_previous_is_in_asr_supersedes_it(models, settings, evaldata):
    held = _HeldASR(models.asr)
    no_early = settings.model_copy(update={"vad": settings.vad.model_copy(update={"early_asr_ms": 0}),  # (and no
                                           "asr": settings.asr.model_copy(update={"partial_interval_s": 0})})  # partials)
    q1 = models.tts.synthesize("Where did I leave my keys?")
    q2 = models.tts.synthesize("What is the capital of France?")

    async def run():
        session = await Session(dataclasses.replace(models, asr=held), no_early, name="t-stale").start()
        rec = Recorder()
        session.subscribe(lambda e: held.release.set() if e.type == "speech_started" and e.turn_id > 1 else None)
        session.subscribe(rec)
        # the first question's end is called in this silence, then it waits in ASR; longer than
        # turn.incomplete_ms, so the second is a question of its own, not the first one going on
        gap = 2.0
        await _feed_speech(session, mix(0.3 + len(q1) / 16000 + gap + len(q2) / 16000 + 2.0,
                                        [(0.3, q1), (0.3 + len(q1) / 16000 + gap, q2)]), realtime=True)
        await session.finish()
        await session.close()
        return rec

    rec = asyncio.run(run())
    utts = [e for _, e in rec.events if e.type == "utterance"]
    assert len(utts) == 2 and "keys" in utts[0].text.lower()
    stale, fresh = utts[0].turn_id, utts[1].turn_id
    # the stale one is never heard: its answer (if it began) starts held while the user speaks, and is
    # cut once the new speech is understood as a question
    audio = [i for i, (_, e) in enumerate(rec.events) if e.type == "answer_audio" and e.turn_id == stale]
    if audio:
        assert rec.index("answer_paused", turn_id=stale) < audio[0]
    if any(e.type == "query" and e.turn_id == stale for _, e in rec.events):  # its answer was held, then cut
        assert any(e.type == "interrupt" and e.cancelled_turn == stale for _, e in rec.events)
    assert any(e.type == "answer" and e.turn_id == fresh and not e.interrupted for _, e in rec.events)


def test_a_clip_keeps_its_frames_small_whatever_the_camera_sends(models, settings, evaldata):
    """A clip holds every frame it is built from: a 3000 x 2000 frame is kept at 640 px at most."""
    big = np.asarray(Image.open(evaldata / "images/img_skimage_chelsea.png").convert("RGB").resize((3000, 2000)))

    async def run():
        session, rec = await live(models, settings, "t-big")
        session.offer_frame(0.0, big)
        deadline = time.monotonic() + 60
        while session.counters.frames_encoded < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        kept = session.seeing._clips._cur.images[0].shape
        await session.close()
        return kept

    assert max(asyncio.run(run())[:2]) == 640


def test_snapshots_never_hold_a_clip_twice(models, settings, evaldata):
    """The memory thread stores a clip before the event loop takes it off the not-yet-stored list;
    a snapshot taken in between must count it once."""
    cat, bus = (np.asarray(Image.open(evaldata / f"images/{n}").convert("RGB"))
                for n in ("img_skimage_chelsea.png", "img_ultralytics_bus.jpg"))

    async def run():
        session, rec = await live(models, settings, "t-snap")
        for t in range(4):
            session.offer_frame(float(t), cat)
        session.offer_frame(4.0, bus)
        clip = await rec.wait_for("clip", timeout=60)  # sealed and stored
        session.seeing._unstored.append(clip)  # ... as in the moment before the loop removes it
        snap = session.snapshot(5.0)
        await session.close()
        return [c.clip_id for c in snap.short + snap.extra]

    ids = asyncio.run(run())
    assert len(ids) == len(set(ids)), ids


def test_a_cancelled_media_reader_leaves_no_thread_behind(models, settings):
    from omnilive.runtime.replay import feed

    def endless():
        t = 0.0
        while True:
            yield ("audio", t, np.zeros(512, np.float32))
            t += 0.032

    async def run():
        session = await Session(models, settings, name="t-pull").start()
        task = asyncio.create_task(feed(session, endless(), speed=1.0))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await session.close()

    asyncio.run(run())
    deadline = time.monotonic() + 10
    while any(t.name == "media-reader" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "media-reader" for t in threading.enumerate())


# ---- crashes and contention ------------------------------------------------------------------


def _clip_ranges(memory: Path) -> list[tuple[float, float]]:
    with sqlite3.connect(memory / "memory.sqlite") as con:
        return con.execute('SELECT start, "end" FROM clips ORDER BY start').fetchall()


def test_kill_9_mid_ingest_then_resume_stores_nothing_twice(evaldata, tmp_path):
    items = {it.id: it for it in evaldata_items(evaldata)}
    video = tmp_path / "long.mp4"
    compose([(items[n], 40) for n in ("img_skimage_chelsea", "img_ultralytics_bus", "img_skimage_coffee",
                                      "img_skimage_rocket", "img_skimage_motorcycle")], video)
    memory = tmp_path / "memory"
    cmd = [sys.executable, "-m", "omnilive", "ingest", str(video), "--memory", str(memory)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(_clip_ranges(memory)) >= 3:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    proc.kill()  # SIGKILL, mid-file
    proc.wait()
    before = _clip_ranges(memory)
    assert 3 <= len(before)
    done = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "resumed"
    after = _clip_ranges(memory)
    assert after[: len(before)] == before  # kept as they were
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(after, after[1:])), after  # nothing stored twice
    assert after[-1][1] >= 199.0  # and the rest of the file is there


def test_a_second_process_on_one_memory_gets_a_clear_error(models, settings, evaldata, tmp_path):
    store = MemoryStore.open(tmp_path / "memory", models.visual, settings.memory)
    try:
        with pytest.raises(MemoryLocked, match="in use"):
            MemoryStore.open(tmp_path / "memory", models.visual, settings.memory)
        proc = subprocess.run([sys.executable, "-m", "omnilive", "ingest", str(evaldata / "video/vid_imageio_cockatoo.mp4"),
                               "--memory", str(tmp_path / "memory")], capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0 and "in use by process" in proc.stderr
    finally:
        store.close()
    MemoryStore.open(tmp_path / "memory", models.visual, settings.memory).close()  # free again once closed


class _Tagger:
    """The real sound tagger, which waits (up to 20 s) for ASR of the same utterance to start: with
    ASR started only after tagging, it would give up and record that it ran alone."""

    def __init__(self, tagger, asr_started: threading.Event) -> None:
        self._tagger, self._asr_started, self.overlapped = tagger, asr_started, []

    def __getattr__(self, name):
        return getattr(self._tagger, name)

    def tag(self, samples, top_k):
        self.overlapped.append(self._asr_started.wait(20))
        return self._tagger.tag(samples, top_k)


class _SignalASR:
    def __init__(self, asr, started: threading.Event) -> None:
        self._asr, self._started = asr, started

    def __getattr__(self, name):
        return getattr(self._asr, name)

    def transcribe(self, samples, language=None):
        self._started.set()
        return self._asr.transcribe(samples, language)


def test_asr_runs_beside_sound_tagging(models, settings):
    started = threading.Event()
    tagger = _Tagger(models.sound_events, started)
    wired = dataclasses.replace(models, asr=_SignalASR(models.asr, started), sound_events=tagger)
    no_early = settings.model_copy(update={"vad": settings.vad.model_copy(update={"early_asr_ms": 0}),  # (and no
                                           "asr": settings.asr.model_copy(update={"partial_interval_s": 0})})  # partials)

    async def run():
        session, rec = await live(wired, no_early, "t-overlap")
        await _feed_speech(session, mix(4.0, [(0.3, models.tts.synthesize("Mend the coat before you go out."))]))
        await session.finish()
        await session.close()
        return rec

    rec = asyncio.run(run())
    assert [e for _, e in rec.events if e.type == "utterance"] and tagger.overlapped[:1] == [True]


def test_the_real_llm_stops_on_a_spoken_stop_and_on_a_barge_in(models, settings, evaldata):
    """The embedded LLM tells a story; "Okay, stop." ends it (a command), and a second story is
    cut by the user asking something else over it. Nothing of either is played after its interrupt,
    and the part that was heard goes into the conversation, marked as cut off."""
    stop = models.tts.synthesize("Okay, stop.")
    barge = say("What else is in the room?", "awb")

    async def one(session, rec, speech, story):
        turn = await session.ask(story)
        await rec.wait_for("answer_audio", turn_id=turn, timeout=120)
        await _feed_speech(session, mix(len(speech) / 16000 + 1.5, [(0.2, speech)]), realtime=True)
        return turn, await rec.wait_for("answer", turn_id=turn, timeout=60)

    async def run():
        session, rec = await live(models, settings, "t-real-stop")
        first = await one(session, rec, stop, "Tell me a long story about a lighthouse keeper.")
        second = await one(session, rec, barge, "Tell me a long story about a fisherman.")
        history = list(session.ctx.conversation.history)
        await session.finish()
        await session.close()
        return rec, first, second, history

    rec, (t1, _), (t2, _), history = asyncio.run(run())
    # (speech over a story pauses it at once and cuts it once understood: the story may be fully
    # written by then, and is cut while it plays)
    cuts = {e.cancelled_turn: (i, e.reason) for i, (_, e) in enumerate(rec.events)
            if e.type == "interrupt" and e.cancelled_turn is not None}
    assert t1 in cuts and t2 in cuts  # both cut the moment the user spoke ...
    # (Smart Turn may end the turn after "Okay"; "stop" then joins it: the joined utterance counts)
    stop = next(e for _, e in rec.events if e.type == "utterance" and e.source == "speech" and e.command)
    assert stop.command == "stop" and any(e.type == "interrupt" and e.reason == "command" for _, e in rec.events)
    assert not [e for _, e in rec.events if e.type == "query" and e.turn_id == stop.turn_id]  # ... "stop" is no question
    for turn in (t1, t2):
        late = [e for i, (_, e) in enumerate(rec.events) if i > cuts[turn][0]
                and e.type in ("answer_audio", "answer_delta") and e.turn_id == turn]
        assert not late, turn
    said = [m.content for m in history if m.role == "assistant"]
    assert len(said) >= 2 and all(s.endswith("…") for s in said[:2])  # (then the barge-in's own answer)


def test_kill_9_of_the_server_mid_session_keeps_its_memory(settings, evaldata, tmp_path):
    """A real `omnilive serve` process is killed (SIGKILL) while a camera streams into it; the next
    server on the same disk has every clip it had stored, once, and serves the user again."""
    import httpx
    from websockets.sync.client import connect as ws_connect

    def serve(port: int) -> subprocess.Popen:
        env = {**__import__("os").environ, "OMNILIVE_MEMORY__DIR": str(tmp_path / "mem")}
        proc = subprocess.Popen([sys.executable, "-m", "omnilive", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.kill()
        pytest.fail("omnilive serve did not start")

    from helpers import free_port

    port = free_port()
    proc = serve(port)
    cat, bus = jpeg(evaldata / "images/img_skimage_chelsea.png"), jpeg(evaldata / "images/img_ultralytics_bus.jpg")
    try:
        token = httpx.post(f"http://127.0.0.1:{port}/api/sessions").json()["token"]
        with ws_connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["omnilive", f"token.{token}"]) as ws:
            for t in range(4):
                ws.send(media(protocol.FRAME_IN, float(t), cat))
            for t in range(4, 8):
                ws.send(media(protocol.FRAME_IN, float(t), bus))
            ws.send(media(protocol.FRAME_IN, 8.0, cat))
            clips = 0
            while clips < 2:  # two clips stored, a third being built
                msg = ws.recv(timeout=120)
                clips += isinstance(msg, str) and json.loads(msg)["type"] == "clip"
            proc.kill()  # SIGKILL mid-session
            proc.wait()
    finally:
        proc.kill()
    proc = serve(port)
    try:
        got = httpx.get(f"http://127.0.0.1:{port}/api/memory", params={"k": 10},
                        headers={"Authorization": f"Bearer {token}"}).json()
        spans = sorted((c["start"], c["end"]) for c in got["clips"])
        # (a frame may be dropped when the encoder is behind, moving a clip's edge by a second)
        assert len(spans) >= 2 and spans[0][0] == 0.0
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:])), spans  # nothing twice
        with ws_connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["omnilive", f"token.{token}"]) as ws:
            ws.send(json.dumps({"type": "ask", "text": "Did you see a cat?", "speak": False}))
            while True:
                ev = json.loads(msg) if isinstance(msg := ws.recv(timeout=120), str) else {}
                if ev.get("type") == "answer":
                    break
        assert "cat" in ev["text"].lower()
    finally:
        proc.kill()
        proc.wait()
