"""``/v1/realtime`` with the official ``openai`` SDK's realtime client against the real server
(uvicorn on a port, real models): images and a typed question in, streamed audio and transcript
out; a spoken question in a Debian voice; ``response.cancel``; refusals; the README's example."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from omnilive.dsp import float_to_pcm16, resample
from helpers import app_on_port, say

openai = pytest.importorskip("openai")
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240.0  # a whole answer on a busy 2-core machine, well past what it takes


@pytest.fixture(scope="module")
def server(settings, models, tmp_path_factory):
    """The real app on a real port (the SDK speaks real WebSockets), models shared with the run."""
    cfg = settings.model_copy(update={"memory": settings.memory.model_copy(
        update={"dir": str(tmp_path_factory.mktemp("realtime"))})})
    with app_on_port(cfg, models) as url:
        yield url


def new_token(url: str) -> str:
    return httpx.post(f"{url}/api/sessions").json()["token"]


def client(url: str, token: str):
    return openai.AsyncOpenAI(api_key=token, base_url=f"{url}/v1")


def data_url(path: Path) -> str:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


async def until(conn, *types: str, response_id: str | None = None) -> list:
    """Events up to and including the first of ``types`` (of ``response_id``, if given)."""
    seen = []

    async def read():
        async for ev in conn:
            seen.append(ev)
            if ev.type in types and (response_id is None or getattr(ev, "response", None) is None
                                     or ev.response.id == response_id):
                return seen
        raise AssertionError(f"connection closed before {types}: {[e.type for e in seen]}")

    return await asyncio.wait_for(read(), TIMEOUT)


def audio_of(events, response_id: str) -> np.ndarray:
    pcm = b"".join(base64.b64decode(e.delta) for e in events
                   if e.type == "response.output_audio.delta" and e.response_id == response_id)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def transcript_of(events, response_id: str) -> str:
    return "".join(e.delta for e in events
                   if e.type == "response.output_audio_transcript.delta" and e.response_id == response_id)


def test_typed_question_about_an_image_streams_audio_and_transcript(server, models, evaldata):
    async def run():
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            created = await until(conn, "session.created")
            assert created[-1].session.audio.output.format.rate == 24000
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            await until(conn, "session.updated")
            await conn.conversation.item.create(item={
                "type": "message", "role": "user",
                "content": [{"type": "input_image", "image_url": data_url(evaldata / "images/img_skimage_chelsea.png")}]})
            await until(conn, "conversation.item.done")  # done once the frame is seen
            await conn.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What animal did you see?"}]})
            await until(conn, "conversation.item.done")
            await conn.response.create()
            events = await until(conn, "response.done")
            done = events[-1].response
            assert done.status == "completed", done
            text = transcript_of(events, done.id)
            assert re.search(r"\bcats?\b", text, re.I), text
            assert done.output[0].content[0].transcript.strip() == text.strip()
            audio = audio_of(events, done.id)
            assert len(audio) / 24000 > 0.5 and np.abs(audio).max() > 0.05  # speech, at the client's 24 kHz
            heard = models.asr.transcribe(resample(audio, 24000, 16000), "en").text
            assert re.search(r"\bcats?\b", heard, re.I), heard  # the audio says what the transcript says
            grounding = next(e for e in events if e.type == "omnilive.grounding")
            assert any("cat" in " ".join(c["names"] + c["labels"]) for c in grounding.model_extra["clips"])

    asyncio.run(run())


def test_spoken_question_in_a_debian_voice(server):
    speech = resample(say("What is the capital of France?", voice="slt"), 16000, 24000)
    silence = np.zeros(int(2.5 * 24000), np.float32)  # the pause that ends the turn, as a microphone sends it
    pcm = float_to_pcm16(np.concatenate([np.zeros(12000, np.float32), speech, silence]))

    async def run():
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            await until(conn, "session.created")
            for i in range(0, len(pcm), 9600):  # 200 ms appends
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + 9600]).decode())
            events = await until(conn, "response.done")
            types = [e.type for e in events]
            for t in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                      "input_audio_buffer.committed", "conversation.item.input_audio_transcription.completed",
                      "response.created", "response.output_audio.delta"):
                assert t in types, (t, types)
            said = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
            assert "capital" in said.transcript.lower() and "france" in said.transcript.lower(), said.transcript
            assert types.index("input_audio_buffer.speech_started") < types.index("response.created")
            assert "paris" in transcript_of(events, events[-1].response.id).lower()

    asyncio.run(run())


def test_push_to_talk_commit_ends_the_turn(server):
    """A client without server VAD sends the speech and commits: the turn ends there."""
    pcm = float_to_pcm16(resample(say("What is two plus two?", voice="slt"), 16000, 24000))

    async def run():
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            await until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
            await until(conn, "session.updated")
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
            await conn.input_audio_buffer.commit()
            events = await until(conn, "response.done")
            said = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
            assert re.search(r"\b(2|two) plus (2|two)\b", said.transcript, re.I), said.transcript
            assert "input_audio_buffer.committed" in [e.type for e in events]
            assert re.search(r"\b(4|four)\b", transcript_of(events, events[-1].response.id), re.I)
            await conn.input_audio_buffer.commit()  # nothing appended since
            assert (await until(conn, "error"))[-1].error.code == "input_audio_buffer_commit_empty"

    asyncio.run(run())


def test_cancel_stops_the_audio(server):
    async def ask(conn, text):
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": text}]})
        await conn.response.create()

    async def run():
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            await until(conn, "session.created")
            await ask(conn, "Tell me a long story about a squirrel who lost his acorns.")
            first = await until(conn, "response.output_audio.delta")
            story = first[-1].response_id
            await conn.response.cancel()
            events = await until(conn, "response.done")
            assert events[-1].response.id == story and events[-1].response.status == "cancelled"
            await ask(conn, "What is two plus two?")
            events = await until(conn, "response.done")
            assert events[-1].response.status == "completed"
            stale = [e for e in events if getattr(e, "response_id", None) == story]
            assert not stale, [e.type for e in stale]  # nothing of the cut story after its response.done
            assert re.search(r"\b(4|four)\b", transcript_of(events, events[-1].response.id), re.I)

    asyncio.run(run())


def test_talking_over_an_answer_cuts_it(server):
    """Barge-in through the same session: a spoken question over a story cuts it (speech_started,
    then the story's response.done cancelled) and is answered in its own response."""
    question = resample(say("What is two plus two?", voice="slt"), 16000, 24000)
    pcm = float_to_pcm16(np.concatenate([question, np.zeros(int(2.5 * 24000), np.float32)]))

    async def run():
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            await until(conn, "session.created")
            await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Tell me a long story about a lighthouse keeper."}]})
            await conn.response.create()
            story = (await until(conn, "response.output_audio.delta"))[-1].response_id
            for i in range(0, len(pcm), 9600):
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + 9600]).decode())
            events = await until(conn, "response.done")
            types = [e.type for e in events]
            assert "input_audio_buffer.speech_started" in types, types
            assert events[-1].response.id == story and events[-1].response.status == "cancelled"
            events = await until(conn, "response.done")
            assert events[-1].response.id != story and events[-1].response.status == "completed"
            assert re.search(r"\b(4|four)\b", transcript_of(events, events[-1].response.id), re.I)

    asyncio.run(run())


def test_refusals_and_bad_events(server):
    async def run():
        async with client(server, "not-a-token").realtime.connect(model="omnilive") as conn:
            events = await until(conn, "error")
            assert events[-1].error.code == "session_refused" and "token" in events[-1].error.message
        async with client(server, new_token(server)).realtime.connect(model="omnilive") as conn:
            await until(conn, "session.created")
            await conn.send({"type": "input_audio_buffer.append", "audio": "%%% not base64"})
            assert (await until(conn, "error"))[-1].error.param == "audio"
            await conn.send({"type": "session.update", "session": {"type": "realtime", "audio": {
                "input": {"format": {"type": "audio/pcmu"}}}}})
            assert (await until(conn, "error"))[-1].error.code == "unsupported_audio_format"
            await conn.response.cancel()
            assert (await until(conn, "error"))[-1].error.code == "response_cancel_not_active"
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await until(conn, "session.updated")
            await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "Say hello."}]})
            await conn.response.create()
            events = await until(conn, "response.done")  # the session lives on after every error
            assert "response.output_text.delta" in [e.type for e in events]
            assert "response.output_audio.delta" not in [e.type for e in events]

    asyncio.run(run())


def test_readme_example_runs(server, tmp_path):
    """The README's "Use from the OpenAI SDK" example, as a user would paste it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use from the OpenAI SDK", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "OMNILIVE_URL": server, "OMNILIVE_TOKEN": new_token(server)}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"\bparis\b", out.stdout, re.I), out.stdout
    audio = (tmp_path / "answer.pcm").read_bytes()
    assert len(audio) > 24000  # more than half a second of 24 kHz PCM16
