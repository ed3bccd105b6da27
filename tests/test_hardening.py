"""Hardening (issue 24, first part): a failed session start locks nobody out, malformed messages
the JSON parser chokes on are errors (not the end of the session), a NaN range forgets nothing,
and every response carries the browser-side defences. The real server and models."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_server import with_memory_dir

import omnilive.server.app as server_app
from omnilive.server.app import create_app


@pytest.fixture
def client(settings, models, tmp_path):
    with TestClient(create_app(with_memory_dir(settings, tmp_path), models)) as c:
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
                assert ev["text"].startswith("I think we should") and ev["for_assistant"] is True  # typed: for it
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


def test_the_page_runs_under_its_content_security_policy(settings, models, evaldata, tmp_path):
    """Camera, microphone worklet, live key frames, a typed question and its grounded answer, in
    Chromium with the CSP enforced (the other browser tests bypass it for Playwright's own
    instrumentation): nothing the page does is refused."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, camera_file
    from test_page import Server

    srv = Server(with_memory_dir(settings, tmp_path / "m"), models)
    cam = camera_file(evaldata / "video/vid_imageio_cockatoo.mp4", tmp_path / "cam.y4m", seconds=20)
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    refused = []
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                       headless=True, args=args)
            try:
                page = ctx.new_page()
                page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(srv.url)
                page.click("#start")
                page.wait_for_selector("#timeline .item img", timeout=90_000)  # a live clip, its key frame shown
                page.fill("#question", "What did you see?")
                page.press("#question", "Enter")
                reply = page.wait_for_selector("#conversation .turn .reply[data-state=answered]", timeout=90_000)
                answer = reply.inner_text().lower()
                page.click("#stop")
            finally:
                ctx.close()
    finally:
        srv.stop()
    assert not refused, refused
    assert "saw" in answer or "see" in answer, answer


def test_request_phrases_cost_linear_time_on_long_typed_text():
    """The request parsers run on the event loop for every typed message. 200,000 characters that
    nearly match are no request: the old patterns backtracked quadratically on them (0.09 s at
    2,000 characters, hours here, which pytest's timeout would end); now they parse at once."""
    from omnilive.reasoning.privacy import forget_request, pause_request
    from omnilive.reasoning.watch import cancel_request, list_request, watch_request

    texts = ["." * 200_000, "当" + "." * 200_000 + "告诉我", "tell me when " + "a. " * 66_000, ", " * 100_000]
    for parse in (watch_request, cancel_request, forget_request, pause_request):
        assert [parse(text) for text in texts[:2] + texts[3:]] == [None, None, None], parse.__name__
    assert not any(list_request(text) for text in texts)
    assert watch_request(texts[2]) is not None  # a (very long) watch request is still one


def test_watches_are_limited_per_memory(models, settings):
    from omnilive.memory.store import MemoryStore
    from omnilive.reasoning.watch import watch_request
    from omnilive.runtime.watching import MAX_WATCHES, Watcher

    store = MemoryStore.open(None, models.visual, settings.memory, models.text_embedding)  # (in RAM)
    watcher = Watcher(store, models.visual, alert=lambda *a: None)
    things = ["dog", "cat", "bus", "car", "bicycle", "phone", "cup", "book", "laptop", "chair", "bottle", "clock",
              "umbrella", "backpack", "keyboard", "horse", "bird", "plant", "television", "pizza", "banana"]
    added = [watcher.add(watch_request(f"tell me when you see a {t}"), 0.0) for t in things]
    assert len(things) > MAX_WATCHES and all(added[:MAX_WATCHES]) and all(a is None for a in added[MAX_WATCHES:])
    assert len(store.db.watches()) == MAX_WATCHES


@pytest.mark.parametrize("said, means", [
    ("Yes.", True), ("yes please", True), ("Yeah, do it.", True), ("Sure.", True), ("Go ahead.", True),
    ("是的", True), ("确认", True), ("No.", False), ("No, don't.", False), ("Never mind.", False), ("不要", False),
    ("What time is it?", None), ("The weather is nice today.", None), ("Is it going to rain?", None)])
def test_a_spoken_forget_is_carried_out_on_yes_only(said, means):
    from omnilive.reasoning.privacy import confirmation

    assert confirmation(said) is means
