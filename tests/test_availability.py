"""Hardening II (issue 24): no user locked out, forgetting that forgets, no shared pool one token
can stall. Each test drives the real server (FastAPI's TestClient: the real app, its sessions,
models and memory on disk) the way an outsider did when the finding was made."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from helpers import wait_until
from test_server import jpeg, media, receive_until, with_memory_dir

from omnilive.memory.sqlite import SQLiteMemoryDB
from omnilive.memory.store import MemoryStore
from omnilive.server import protocol
from omnilive.server.app import create_app
from omnilive.server.guard import SESSIONS_PER_CORE, live_capacity
from omnilive.server.sessions import Tokens


def serve(settings, models, tmp_path, **server):
    """The real app on a memory under ``tmp_path``, with these ``server.*`` settings."""
    settings = with_memory_dir(settings, tmp_path)
    return TestClient(create_app(settings.model_copy(update={"server": settings.server.model_copy(update=server)}),
                                 models))


def ready(ws) -> dict:
    msg = ws.receive_json()
    assert msg["type"] == "ready", msg
    return msg


def wait_not_live(client, token) -> None:
    """Until the token's last session has ended (it keeps its last clips first)."""
    assert wait_until(lambda: not client.get(f"/api/session?token={token}").json()["live"], 60), "it never ended"


def sessions_at_most(client, n: int) -> bool:
    """Wait (60 s at most) until the server holds at most ``n`` live sessions."""
    return wait_until(lambda: client.get("/health").json()["sessions"] <= n, 60)


def closed_with(ws, limit: int = 2000) -> tuple[int, list[dict]]:
    """Read until the server closes the socket: (close code, the events before it)."""
    seen = []
    for _ in range(limit):
        try:
            msg = ws.receive()
        except WebSocketDisconnect as exc:
            return exc.code, seen
        if msg["type"] == "websocket.close":
            return msg.get("code", 1000), seen
        if msg.get("text"):
            seen.append(json.loads(msg["text"]))
    pytest.fail("the socket was never closed")


def test_an_idle_socket_is_closed_and_a_pinging_one_is_not(settings, models, tmp_path):
    with serve(settings, models, tmp_path, idle_timeout_s=5.0) as client:
        token = client.post("/api/sessions").json()["token"]
        with client.websocket_connect(f"/ws?token={token}") as ws:
            ready(ws)
            for _ in range(20):  # 6 s of pings 0.3 s apart: longer than the timeout, never idle
                ws.send_text('{"type": "ping"}')
                time.sleep(0.3)
            ws.send_text(json.dumps({"type": "config", "speak": False}))
            ws.send_text(json.dumps({"type": "ask", "text": "What is the capital of France?"}))
            receive_until(ws, "utterance")
            code, events = closed_with(ws)  # then it says nothing more
        assert code == 4408 and any(e["type"] == "error" and "idle_timeout" in e["message"] for e in events)
        assert sessions_at_most(client, 0)  # the slot is free again


def test_one_address_cannot_take_every_live_slot(settings, models, tmp_path):
    with serve(settings, models, tmp_path, max_live_per_address=2) as client, ExitStack() as stack:
        tokens = [client.post("/api/sessions").json()["token"] for _ in range(3)]
        first = stack.enter_context(client.websocket_connect(f"/ws?token={tokens[0]}"))
        ready(first)
        ready(stack.enter_context(client.websocket_connect(f"/ws?token={tokens[1]}")))
        with client.websocket_connect(f"/ws?token={tokens[2]}") as third:
            said = third.receive_json()
            assert said["type"] == "error" and "max_live_per_address" in said["message"], said
            code, _ = closed_with(third)
        assert code == 4429
        first.close()
        assert sessions_at_most(client, 1)
        with client.websocket_connect(f"/ws?token={tokens[2]}") as third:  # a slot of this address is free
            ready(third)


def test_admission_control_refuses_a_session_past_the_capacity_at_once(settings, models, tmp_path):
    """Past ``server.max_live_sessions`` a new session is told the server is full (4429), and the
    live one goes on; unset, the capacity is the measured sessions per core times the cores."""
    assert live_capacity(None) == SESSIONS_PER_CORE * len(os.sched_getaffinity(0)) and live_capacity(3) == 3
    with serve(settings, models, tmp_path, max_live_sessions=1) as client, ExitStack() as stack:
        tokens = [client.post("/api/sessions").json()["token"] for _ in range(2)]
        first = stack.enter_context(client.websocket_connect(f"/ws?token={tokens[0]}"))
        ready(first)
        with client.websocket_connect(f"/ws?token={tokens[1]}") as second:
            said = second.receive_json()
            assert said["type"] == "error" and "full" in said["message"] and "1 live session" in said["message"], said
            code, _ = closed_with(second)
        assert code == 4429
        first.send_json({"type": "ping"})  # the admitted one is untouched
        first.close()
        assert sessions_at_most(client, 0)
        with client.websocket_connect(f"/ws?token={tokens[1]}") as second:  # its slot is free again
            ready(second)


def test_a_deleted_session_is_gone_with_its_memory_even_while_live(settings, models, tmp_path):
    with serve(settings, models, tmp_path) as client:
        token = client.post("/api/sessions").json()["token"]
        where = tmp_path / "sessions" / Tokens.key(token)
        with client.websocket_connect(f"/ws?token={token}") as ws:
            ready(ws)
            ws.send_text(json.dumps({"type": "config", "speak": False}))
            ws.send_text(json.dumps({"type": "ask", "text": "Remember that the spare key is under the mat."}))
            receive_until(ws, "answer")
            r = client.delete("/api/session", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            code, events = closed_with(ws)
        assert code == 4404 and any("deleted" in e.get("message", "") for e in events if e["type"] == "error")
        assert not where.exists()
        assert client.get(f"/api/session?token={token}").status_code == 401
        assert client.get(f"/api/history?token={token}").status_code == 401
        assert client.delete(f"/api/session?token={token}").status_code == 401


def test_tokens_unused_for_longer_than_their_lifetime_expire(settings, models, tmp_path):
    with serve(settings, models, tmp_path) as client:
        old, recent = (client.post("/api/sessions").json()["token"] for _ in range(2))
    month_ago = time.time() - 31 * 86400
    os.utime(tmp_path / "sessions" / Tokens.key(old), (month_ago, month_ago))
    with serve(settings, models, tmp_path, token_days=30) as client:  # a restart: expired tokens go
        assert wait_until(lambda: not (tmp_path / "sessions" / Tokens.key(old)).exists(), 60)
        assert client.get(f"/api/session?token={old}").status_code == 401
        assert client.get(f"/api/session?token={recent}").status_code == 200


def test_one_token_cannot_hold_the_rest_api_and_others_are_served_meanwhile(settings, models, tmp_path, monkeypatch):
    """Two slow reads of one token run, a third waits its turn, a fourth gets 429 at once; another
    user's read is served while they hang (the REST API's own threads, a limit per token)."""
    release = threading.Event()
    real = Tokens.reading
    held = threading.Semaphore(0)

    def reading(self, token, whole=True):
        if token == slow:
            held.release()
            release.wait(60)
        return real(self, token, whole)

    monkeypatch.setattr(Tokens, "reading", reading)
    with serve(settings, models, tmp_path, rest_per_token=2, rest_waiting_per_token=1, rest_threads=3) as client:
        slow, other = (client.post("/api/sessions").json()["token"] for _ in range(2))
        with ThreadPoolExecutor(3) as pool:
            hanging = [pool.submit(client.get, f"/api/history?token={slow}") for _ in range(2)]
            assert held.acquire(timeout=60) and held.acquire(timeout=60)  # both are in
            waiting = pool.submit(client.get, f"/api/history?token={slow}")
            assert wait_until(lambda: client.app.state.rest_calls.calls(Tokens.key(slow)) == 3, 60)  # the third waits
            assert not waiting.done()
            assert client.get(f"/api/history?token={slow}").status_code == 429
            assert client.get(f"/api/session?token={other}").status_code == 200
            assert not held.acquire(timeout=0)  # the third never got a thread while two of its token ran
            release.set()
            assert [f.result(60).status_code for f in [*hanging, waiting]] == [200, 200, 200]
        assert client.get(f"/api/history?token={slow}").status_code == 200  # its limit is given back


def test_reads_of_a_memory_not_live_load_nothing(settings, models, tmp_path, evaldata, monkeypatch):
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    bus = jpeg(evaldata / "images/img_ultralytics_bus.jpg")
    with serve(settings, models, tmp_path) as client:
        token = client.post("/api/sessions").json()["token"]
        with client.websocket_connect(f"/ws?token={token}") as ws:
            ready(ws)
            for t in range(4):
                ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
            ws.send_bytes(media(protocol.FRAME_IN, 4.0, bus))
            clip = receive_until(ws, "clip")[-1][1]
        wait_not_live(client, token)
        with client.websocket_connect(f"/ws?token={token}") as ws:  # what the loaded memory says
            loaded = ready(ws)["memory"]
        loads = []
        monkeypatch.setattr(SQLiteMemoryDB, "load", lambda self, dim: loads.append(1) or ([], []))
        monkeypatch.setattr(MemoryStore, "open", classmethod(lambda *a, **k: loads.append(1) or pytest.fail("loaded")))
        info = client.get(f"/api/session?token={token}").json()
        assert {k: v for k, v in info["memory"].items() if k != "bytes"} == \
            {k: v for k, v in loaded.items() if k != "bytes"}
        assert client.get(f"/api/history?token={token}").status_code == 200
        assert client.get(f"/api/watches?token={token}").json() == {"items": []}
        timeline = client.get(f"/api/memory?k=10&token={token}").json()
        assert [c["start"] for c in timeline["clips"]] and timeline["memory"] == info["memory"]
        frame = client.get(f"/api/keyframe?t={(clip['start'] + clip['end']) / 2}&token={token}")
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        assert not loads
        assert info["memory"]["clips"] + info["memory"]["episodes"] >= 1


def test_forgetting_from_the_page_forgets_what_the_live_session_holds(settings, models, tmp_path, evaldata):
    """The clip being built when the page forgets is never stored after it (the old REST forget
    ran beside the session and missed it), and the session says what went."""
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    bus = jpeg(evaldata / "images/img_ultralytics_bus.jpg")
    with serve(settings, models, tmp_path) as client:
        token = client.post("/api/sessions").json()["token"]
        with client.websocket_connect(f"/ws?token={token}") as ws:
            ready(ws)
            for t in range(3):  # a clip of the cat, being built
                ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
            counters = client.app.state.live[Tokens.key(token)].ctx.counters
            assert wait_until(lambda: counters.frames_encoded >= 3, 120), "the frames were never encoded"
            r = client.delete(f"/api/memory?start=0&end=3&token={token}")
            assert r.status_code == 200, r.text
            forgotten = receive_until(ws, "memory_forgotten")[-1][1]
            assert forgotten["start"] == 0 and forgotten["end"] == 3
            for t in range(10, 14):  # then the bus: a clip of its own
                ws.send_bytes(media(protocol.FRAME_IN, float(t), bus))
            ws.send_bytes(media(protocol.FRAME_IN, 20.0, cat))
            clip = receive_until(ws, "clip")[-1][1]
        assert clip["start"] >= 10, clip  # the first clip stored is the bus's, not the forgotten cat's
        wait_not_live(client, token)
        store = MemoryStore.open(tmp_path / "sessions" / Tokens.key(token), models.visual, settings.memory)
        try:
            kept = store.clips + store.episodes
            assert kept and all(c.start >= 10 for c in kept), [(c.start, c.end) for c in kept]
        finally:
            store.close()


def test_made_up_timestamps_do_not_buy_frame_decoding(settings, models, tmp_path, evaldata):
    """Every frame "one second later" would each be sampled: decoding is paced by server time."""
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    with serve(settings, models, tmp_path) as client:
        token = client.post("/api/sessions").json()["token"]
        with client.websocket_connect(f"/ws?token={token}") as ws:
            ready(ws)
            counters = client.app.state.live[Tokens.key(token)].ctx.counters
            started = time.monotonic()
            for t in range(200):
                ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
            assert wait_until(lambda: counters.frames_seen == 200, 120)  # every frame read (decoded or not)
            elapsed = time.monotonic() - started
        assert counters.frames_sampled <= 16 + 2 * settings.runtime.video_fps * elapsed + 1, (counters, elapsed)


def test_a_huge_jpeg_is_decoded_small(evaldata):
    """A 4000 x 3000 JPEG (48 MB of pixels at full size) decodes at a fraction of its size, never
    below what the session keeps (640 px)."""
    import io

    from PIL import Image

    big = io.BytesIO()
    Image.open(evaldata / "images/img_ultralytics_bus.jpg").convert("RGB").resize((4000, 3000)).save(big, "JPEG")
    image = protocol.decode_jpeg(protocol.MediaIn(protocol.FRAME_IN, 0.0, big.getvalue()))
    assert 640 <= min(image.shape[:2]) and max(image.shape[:2]) <= 1000, image.shape
