"""Hardening (issue 24, first part): a failed session start locks nobody out, malformed messages
the JSON parser chokes on are errors (not the end of the session), a NaN range forgets nothing,
and every response carries the browser-side defences. The real server and models."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import omnilive.server.app as server_app
from omnilive.server.app import create_app


@pytest.fixture
def client(settings, models, tmp_path):
    settings = settings.model_copy(update={"memory": settings.memory.model_copy(update={"dir": tmp_path})})
    with TestClient(create_app(settings, models)) as c:
        yield c


def test_a_session_that_fails_to_start_locks_nobody_out(client, monkeypatch):
    real = server_app.Session
    starts = []

    def failing_once(*args, **kwargs):
        starts.append(1)
        if len(starts) == 1:
            raise OSError("disk I/O error")  # e.g. the memory's meta write
        return real(*args, **kwargs)

    monkeypatch.setattr(server_app, "Session", failing_once)
    token = client.post("/api/sessions").json()["token"]
    with client.websocket_connect(f"/ws?token={token}") as ws:
        said = ws.receive_json()
        assert said["type"] == "error" and "could not start" in said["message"], said
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1011
    deadline = time.monotonic() + 30  # the slot is given back once the session's end has run
    while client.get("/health").json()["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/health").json()["sessions"] == 0
    assert client.get(f"/api/session?token={token}").json()["live"] is False
    with client.websocket_connect(f"/ws?token={token}") as ws:  # the same user, again: served
        assert ws.receive_json()["type"] == "ready"


def test_messages_the_json_parser_chokes_on_are_errors_and_the_session_lives(client):
    token = client.post("/api/sessions").json()["token"]
    with client.websocket_connect(f"/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "ready"
        for bad in ("[" * 100_000 + "]" * 100_000, '{"type": "unwatch", "watch_id": ' + "9" * 5000 + "}"):
            ws.send_text(bad)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["stage"] == "protocol", reply
        ws.send_text(json.dumps({"type": "config", "speak": False}))
        ws.send_text(json.dumps({"type": "ask", "text": "I think we should buy more milk tomorrow."}))
        for _ in range(50):  # still judging what it is told
            ev = ws.receive_json()
            if ev["type"] == "utterance":
                assert ev["text"].startswith("I think we should") and ev["for_assistant"] is False
                break
        else:
            pytest.fail("the typed message was never judged")


def test_a_nan_range_is_refused_and_forgets_nothing(client):
    token = client.post("/api/sessions").json()["token"]
    r = client.delete(f"/api/memory?start=nan&end=nan&token={token}")
    assert r.status_code == 422, r.text


def test_every_response_carries_the_browser_side_defences(client):
    for path in ("/", "/static/app.js", "/health"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
