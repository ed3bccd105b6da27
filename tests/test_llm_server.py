"""omnilive against a real OpenAI-compatible server: llama-cpp-python's own (``python -m
llama_cpp.server``) on the embedded Qwen2.5 0.5B GGUF, started by the test. Streaming answers in a
live session, an interrupt that stops the server-side generation, a server that stops answering,
a server that is down, and the shape of a vision request (a recording HTTP server, since the
embedded model is text-only)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import http.server
import json
import socket
import sys
import threading

import pytest
from helpers import Recorder, free_port, server_process

from omnilive.backends.base import ChatMessage, ModelUnavailable
from omnilive.backends.llm import EMBEDDED, LLMError, OpenAICompatLLM
from omnilive.runtime.session import Session


@pytest.fixture(scope="module")
def llama_server(settings):
    gguf = EMBEDDED["qwen2.5-0.5b"].path(settings.cache_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with server_process([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "qwen-local",
                         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
                        f"{url}/models") as log:
        yield url, log


def openai_settings(settings, url: str, **llm):
    return settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"backend": "openai", "url": url, "model": "qwen-local", "timeout_s": 60.0, **llm})})


def test_streamed_answers_and_an_interrupt_that_stops_the_server(models, settings, llama_server):
    url, log = llama_server
    llm = OpenAICompatLLM.load(openai_settings(settings, url))

    async def run():
        session = await Session(dataclasses.replace(models, llm=llm), settings, name="t-openai").start()
        rec = Recorder()
        session.subscribe(rec)
        joke = await session.ask("What is the capital of France?", speak=False)
        answer = await rec.wait_for("answer", turn_id=joke, timeout=120)
        mark = len(log.lines)
        story = await session.ask("Tell me a very long story about a lighthouse keeper.", speak=False)
        await rec.wait_for("answer_delta", turn_id=story, timeout=120)
        session.stop()  # the user says "stop" mid-answer
        cut = await rec.wait_for("answer", turn_id=story, timeout=30)
        stopped = await asyncio.to_thread(log.wait_for, "Disconnected from client", mark, 30)
        await session.close()
        return answer, cut, stopped

    answer, cut, stopped = asyncio.run(run())
    assert "paris" in answer.text.lower()
    assert cut.interrupted and cut.text  # cut after its first sentence ...
    assert stopped  # ... and the server saw the client leave and stopped generating


def test_a_server_that_stops_answering_times_out_with_a_clear_error(settings):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        llm = OpenAICompatLLM(openai_settings(settings, url, timeout_s=1.0))
        llm.retries = 0
        with pytest.raises(LLMError, match="failed"):
            list(llm.stream([ChatMessage("user", "hello")], max_tokens=5))


def test_a_server_that_is_down_is_a_clear_error_at_start(settings):
    with pytest.raises(ModelUnavailable, match="not reachable"):
        OpenAICompatLLM.load(openai_settings(settings, f"http://127.0.0.1:{free_port()}/v1"))


def test_key_frames_go_to_a_vision_server_as_openai_images(settings):
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            chunk = {"choices": [{"delta": {"content": "A cat."}}]}
            body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        llm = OpenAICompatLLM(openai_settings(settings, f"http://127.0.0.1:{srv.server_port}/v1"))
        jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
        out = "".join(llm.stream([ChatMessage("system", "s"), ChatMessage("user", "What is this?", images=(jpeg,))],
                                 max_tokens=8))
    finally:
        srv.shutdown()
    assert out == "A cat."
    body = seen[0]
    assert body["stream"] is True and body["model"] == "qwen-local"
    user = body["messages"][1]["content"]
    assert user[0] == {"type": "text", "text": "What is this?"}
    assert user[1]["type"] == "image_url"
    assert user[1]["image_url"]["url"] == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
