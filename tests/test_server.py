"""The WebSocket server with real models: speech and frames in, transcript, answer and audio out."""

import io
import json
from contextlib import contextmanager
import struct
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from PIL import Image

from omnilive.dsp import float_to_pcm16
from omnilive.server import protocol
from omnilive.server.app import create_app
from helpers import mix


def media(kind, t, payload):
    return struct.pack("<Bd", kind, t) + payload


def jpeg(path):
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()


def with_memory_dir(settings, path):
    return settings.model_copy(update={"memory": settings.memory.model_copy(update={"dir": path})})


@pytest.fixture(scope="module")
def client(settings, models, tmp_path_factory):
    with TestClient(create_app(with_memory_dir(settings, tmp_path_factory.mktemp("server")), models)) as c:
        yield c


@contextmanager
def connect(client, token=None):
    """A live connection, once the server said it is ready (the first message, before any event)."""
    token = token or client.post("/api/sessions").json()["token"]
    with client.websocket_connect(f"/ws?token={token}") as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready" and "t_offset" in ready and "clips" in ready["memory"], ready
        yield ws


def receive_until(ws, type_, limit=400):
    seen = []
    for _ in range(limit):
        msg = ws.receive()
        if msg.get("bytes") is not None:
            seen.append(("audio", msg["bytes"]))
            continue
        ev = json.loads(msg["text"])
        seen.append((ev["type"], ev))
        if ev["type"] == type_:
            return seen
    raise AssertionError(f"no {type_} in {[k for k, _ in seen]}")


def test_page_and_health(client):
    page = client.get("/")
    assert page.status_code == 200
    for element in ('id="start"', 'id="stop"', 'id="transcript"', 'id="answer"', 'id="question"', 'id="ask"', 'id="status"'):
        assert element in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/health").json()["ok"] is True


def test_spoken_question_about_what_the_camera_saw(client, models, evaldata):
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    question = mix(3.5, [(0.3, models.tts.synthesize("What animal did you see?"))])
    with connect(client) as ws:
        for t in range(4):  # four seconds of camera showing the cat, then a bus
            ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
        ws.send_bytes(media(protocol.FRAME_IN, 4.0, jpeg(evaldata / "images/img_ultralytics_bus.jpg")))
        clip = receive_until(ws, "clip")[-1][1]  # the cat clip is sealed when the scene changes
        assert (clip["start"], clip["end"]) == (0.0, 4.0) and clip["keyframe"].startswith("data:image/jpeg")
        pcm = float_to_pcm16(question)
        for i in range(0, len(pcm), 1024):
            ws.send_bytes(media(protocol.AUDIO_IN, 5.0 + i / 32000, pcm[i : i + 1024]))
        seen = receive_until(ws, "answer")
        kinds = [k for k, _ in seen]
        assert kinds.index("speech_started") < kinds.index("utterance")
        utt = next(ev for k, ev in seen if k == "utterance")
        assert "animal" in utt["text"].lower()
        answer = next(ev for k, ev in seen if k == "answer")
        assert "cat" in answer["text"].lower()
        audio = [b for k, b in seen if k == "audio"]
        assert audio and audio[0][0] == protocol.AUDIO_OUT
        turn, seq = struct.unpack_from("<II", audio[0], 1)
        assert turn == utt["turn_id"] and seq == 0 and len(audio[0]) > 9 + 3200


def test_malformed_messages_get_an_error_and_the_session_survives(client, evaldata):
    with connect(client) as ws:
        ws.send_text("{not json")
        assert json.loads(ws.receive_text())["stage"] == "protocol"
        ws.send_bytes(b"\x09" + b"\x00" * 20)  # unknown kind
        assert "unknown binary kind" in json.loads(ws.receive_text())["message"]
        ws.send_bytes(media(protocol.AUDIO_IN, 0.0, b"\x00" * 3))  # odd-length PCM16
        assert "PCM16" in json.loads(ws.receive_text())["message"]
        ws.send_bytes(media(protocol.FRAME_IN, 0.0, b"garbage that is not a jpeg"))
        assert "image" in json.loads(ws.receive_text())["message"]
        ws.send_bytes(media(protocol.FRAME_IN, 0.0, b"\xff" * (protocol.MAX_FRAME_BYTES + 1)))
        assert "exceeds" in json.loads(ws.receive_text())["message"]
        ws.send_text(json.dumps({"type": "unwatch", "watch_id": "3"}))
        assert "watch_id" in json.loads(ws.receive_text())["message"]
        ws.send_text(json.dumps({"type": "unwatch", "watch_id": 999}))  # no such watch: nothing happens
        ws.send_text(json.dumps({"type": "ask", "text": "What did you see?", "speak": False}))
        seen = receive_until(ws, "answer")
        assert next(ev for k, ev in seen if k == "answer")["text"]


def test_a_client_that_vanishes_mid_speech_leaves_the_server_serving(client, models):
    speech = float_to_pcm16(mix(3.0, [(0.3, models.tts.synthesize("Where did I leave my keys?"))]))
    with connect(client) as ws:
        for i in range(0, len(speech) // 2, 1024):  # half of the question, then the client is gone
            ws.send_bytes(media(protocol.AUDIO_IN, i / 32000, speech[i : i + 1024]))
        receive_until(ws, "speech_started")
    for _ in range(100):  # the vanished client's session is closed and counted out
        health = client.get("/health").json()
        if health["sessions"] == 0:
            break
        time.sleep(0.05)
    assert health == {"ok": True, "sessions": 0}
    with connect(client) as ws:  # the next client is served as usual
        ws.send_text(json.dumps({"type": "ask", "text": "What did you see?", "speak": False}))
        assert receive_until(ws, "answer")[-1][1]["text"]


def test_every_socket_and_memory_read_needs_its_own_token(client):
    with client.websocket_connect("/ws") as ws:  # no token
        assert "token" in ws.receive_json()["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    with client.websocket_connect("/ws?token=guessed") as ws:
        ws.receive_json()
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    assert client.get("/api/memory").status_code == 401
    assert client.get("/api/memory", headers={"Authorization": "Bearer guessed"}).status_code == 401
    assert client.get("/api/session", headers={"Authorization": "Bearer guessed"}).status_code == 401
    token = client.post("/api/sessions").json()["token"]
    assert client.get("/api/session", params={"token": token}).json()["live"] is False
    with connect(client, token) as first:
        assert client.get("/api/session", params={"token": token}).json()["live"] is True
        with client.websocket_connect(f"/ws?token={token}") as second:  # one live connection per token
            assert "already connected" in second.receive_json()["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == 4409
        with client.websocket_connect(f"/ws?token={token}&takeover=1") as third:  # a second tab takes over
            assert third.receive_json()["type"] == "ready"
            assert "taken over" in first.receive_json()["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                first.receive_json()
            assert closed.value.code == 4410
            third.send_text(json.dumps({"type": "config", "language": "zh"}))  # and the session is its own
            third.send_text(json.dumps({"type": "config", "language": "fr"}))
            assert "language" in receive_until(third, "error")[-1][1]["message"]


def test_memory_survives_a_server_restart_and_stays_private(settings, models, evaldata, tmp_path):
    app_settings = with_memory_dir(settings, tmp_path)
    cat, bus = jpeg(evaldata / "images/img_skimage_chelsea.png"), jpeg(evaldata / "images/img_ultralytics_bus.jpg")
    with TestClient(create_app(app_settings, models)) as first:
        mine = first.post("/api/sessions").json()["token"]
        theirs = first.post("/api/sessions").json()["token"]
        with connect(first, mine) as ws:
            for t in range(4):
                ws.send_bytes(media(protocol.FRAME_IN, float(t), cat))
            ws.send_bytes(media(protocol.FRAME_IN, 4.0, bus))
            receive_until(ws, "clip")
    with TestClient(create_app(app_settings, models)) as second:  # a new server process, same disk
        got = second.get("/api/memory", params={"q": "where is the cat?", "k": 1},
                         headers={"Authorization": f"Bearer {mine}"}).json()
        assert got["clips"][0]["start"] == 0.0 and any("cat" in lab for lab in got["clips"][0]["labels"])
        assert got["memory"]["clips_sealed"] == 2  # the bus clip being built was kept when the client left
        other = second.get("/api/memory", params={"token": theirs}).json()
        assert other["clips"] == [] and other["memory"]["clips_sealed"] == 0
        with connect(second, mine) as ws:  # the returning user is answered from that memory
            ws.send_text(json.dumps({"type": "ask", "text": "Where did you see the cat?", "speak": False}))
            seen = receive_until(ws, "answer")
            answer = seen[-1][1]
            assert "cat" in answer["text"].lower()
            grounding = next(ev for kind, ev in seen if kind == "grounding")  # the page's thumbnails
            assert grounding["clips"][0]["start"] == 0.0 and grounding["clips"][0]["keyframe"].startswith("data:image/jpeg")

    with TestClient(create_app(app_settings, models)) as third:  # a reloaded page: the conversation comes back
        auth = {"Authorization": f"Bearer {mine}"}
        turns = third.get("/api/history", headers=auth).json()["turns"]
        assert [(t["heard"], t["state"], t["source"]) for t in turns] == [("Where did you see the cat?", "answered", "typed")]
        assert turns[0]["answer"] == answer["text"] and turns[0]["grounding"][0]["start"] == 0.0
        assert third.get("/api/keyframe", params={"t": 1.0}, headers=auth).headers["content-type"] == "image/jpeg"
        timeline = third.get("/api/memory", params={"k": 50}, headers=auth).json()
        assert [c["start"] for c in timeline["clips"]] == [0.0, 4.0] and timeline["clock_origin"] > 1.7e9
        # one moment deleted (the page's per-item delete): gone from the timeline, from grounding
        # and from the conversation that quoted it; the rest stays
        deleted = third.delete("/api/memory", params={"start": 0.0, "end": 3.9}, headers=auth).json()["deleted"]
        assert deleted["clips"] == 1
        assert [c["start"] for c in third.get("/api/memory", params={"k": 50}, headers=auth).json()["clips"]] == [4.0]
        assert third.get("/api/keyframe", params={"t": 1.0}, headers=auth).status_code == 404
        with connect(third, mine) as ws:  # the next session's LLM remembers the dialogue, not the clip
            ws.send_text(json.dumps({"type": "ask", "text": "Where did you see the cat?", "speak": False}))
            seen = receive_until(ws, "answer")
            assert all(c["start"] == 4.0 for kind, ev in seen if kind == "grounding" for c in ev["clips"])


def test_metrics_time_every_turn(client, models):
    question = float_to_pcm16(mix(3.0, [(0.3, models.tts.synthesize("What time is it?"))]))
    with connect(client) as ws:
        for i in range(0, len(question), 1024):
            ws.send_bytes(media(protocol.AUDIO_IN, i / 32000, question[i : i + 1024]))
        seen = receive_until(ws, "answer")
        assert any(k == "audio" for k, _ in seen)
        live = client.get("/metrics").text  # while it is live: its own stages' work and age
        busy = {l.split('stage="')[1].split('"')[0]: float(l.split()[-1]) for l in live.splitlines()
                if l.startswith("omnilive_session_stage_busy_seconds{")}
        assert busy["vad"] > 0 and busy["asr"] > 0, busy
        assert any(l.startswith("omnilive_session_live_seconds{") and float(l.split()[-1]) > 0 for l in live.splitlines())
    text = client.get("/metrics").text
    for stage in ("transcript", "first_token", "first_audio_sent"):
        line = next(l for l in text.splitlines()
                    if l.startswith(f'omnilive_turn_latency_seconds_count{{stage="{stage}"}}'))
        assert float(line.split()[-1]) >= 1, line
    assert "omnilive_sessions_active" in text
    deadline = time.time() + 30
    while client.get("/health").json()["sessions"] and time.time() < deadline:  # the session has ended
        time.sleep(0.05)
    text = client.get("/metrics").text
    calls = {l.split('"')[1]: float(l.split()[-1]) for l in text.splitlines() if l.startswith("omnilive_stage_calls_total{")}
    assert calls["vad"] >= 1 and calls["asr"] >= 1 and calls["tts"] >= 1, calls  # per-stage work, once ended
