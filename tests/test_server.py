"""The WebSocket server with real models: speech and frames in, transcript, answer and audio out."""

import io
import json
import struct
import time

import pytest
from fastapi.testclient import TestClient
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


@pytest.fixture(scope="module")
def client(settings, models):
    with TestClient(create_app(settings, models)) as c:
        yield c


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
    assert client.get("/app.js").status_code == 200
    assert client.get("/health").json()["ok"] is True


def test_spoken_question_about_what_the_camera_saw(client, models, evaldata):
    cat = jpeg(evaldata / "images/img_skimage_chelsea.png")
    question = mix(3.5, [(0.3, models.tts.synthesize("What animal did you see?"))])
    with client.websocket_connect("/ws") as ws:
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
    with client.websocket_connect("/ws") as ws:
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
        ws.send_text(json.dumps({"type": "ask", "text": "What did you see?", "speak": False}))
        seen = receive_until(ws, "answer")
        assert next(ev for k, ev in seen if k == "answer")["text"]


def test_a_client_that_vanishes_mid_speech_leaves_the_server_serving(client, models):
    speech = float_to_pcm16(mix(3.0, [(0.3, models.tts.synthesize("Where did I leave my keys?"))]))
    with client.websocket_connect("/ws") as ws:
        for i in range(0, len(speech) // 2, 1024):  # half of the question, then the client is gone
            ws.send_bytes(media(protocol.AUDIO_IN, i / 32000, speech[i : i + 1024]))
        receive_until(ws, "speech_started")
    for _ in range(100):  # the vanished client's session is closed and counted out
        health = client.get("/health").json()
        if health["sessions"] == 0:
            break
        time.sleep(0.05)
    assert health == {"ok": True, "sessions": 0}
    with client.websocket_connect("/ws") as ws:  # the next client is served as usual
        ws.send_text(json.dumps({"type": "ask", "text": "What did you see?", "speak": False}))
        assert receive_until(ws, "answer")[-1][1]["text"]
