"""Test helpers: compose real recordings into a stream, collect a session's events."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from omnilive.backends.base import LLM
from omnilive.perception.media import read_audio

SR = 16000


def mix(duration_s: float, pieces: list[tuple[float, np.ndarray]], bed: np.ndarray | None = None) -> np.ndarray:
    """Place speech ``pieces`` at their start times over an optional background ``bed``."""
    out = np.zeros(int(duration_s * SR), np.float32)
    if bed is not None:
        out[: min(len(bed), len(out))] += 0.5 * bed[: len(out)]
    for start, audio in pieces:
        i = int(start * SR)
        out[i : i + len(audio)] += audio[: len(out) - i]
    return np.clip(out, -1, 1)


def say(text: str, voice: str = "slt", engine: str = "flite") -> np.ndarray:
    """``text`` spoken by a Debian voice the project never tuned on (flite or espeak-ng), at 16 kHz."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        cmd = (["flite", "-voice", voice, "-o", str(wav), "-t", text] if engine == "flite"
               else ["espeak-ng", "-v", voice, "-w", str(wav), "--", text])
        subprocess.run(cmd, check=True, capture_output=True)
        return read_audio(wav)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    sf.write(path, samples, SR, subtype="PCM_16")
    return path


def load(evaldata: Path, rel: str) -> np.ndarray:
    return read_audio(evaldata / rel)


class Recorder:
    """Collects events with the wall-clock time they were emitted."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, ev) -> None:
        self.events.append((time.perf_counter(), ev))

    def of(self, *types: str) -> list:
        return [e for _, e in self.events if e.type in types]

    def index(self, type_: str, **match) -> int:
        for i, (_, e) in enumerate(self.events):
            if e.type == type_ and all(getattr(e, k) == v for k, v in match.items()):
                return i
        raise AssertionError(f"no {type_} {match} in {[e.type for _, e in self.events]}")

    async def wait_for(self, type_: str, timeout: float = 60.0, **match):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for _, e in self.events:
                if e.type == type_ and all(getattr(e, k) == v for k, v in match.items()):
                    return e
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {type_} {match}; saw {[e.type for _, e in self.events]}")


class SlowLLM(LLM):
    """Scheduling tests only: a stand-in LLM that writes one word every ``delay`` seconds in its
    own thread, and records whether it kept writing after being told to stop."""

    name = "slow-fake"

    def __init__(self, delay: float = 0.2, words: int = 100) -> None:
        self.delay, self.words = delay, words
        self.produced = 0
        self.after_cancel = 0
        self.finished = threading.Event()

    def stream(self, messages, *, max_tokens, cancel=None):
        try:
            for i in range(self.words):
                time.sleep(self.delay)
                if cancel is not None and cancel.is_set():
                    self.after_cancel += 1
                    return
                self.produced += 1
                # "have not seen" passes the grounding check for an empty memory
                yield ("I have not seen " if i == 0 else "") + f"word{i} " + ("and so on. " if i % 8 == 7 else "")
        finally:
            self.finished.set()


def with_llm(models, llm):
    return dataclasses.replace(models, llm=llm)


def llm_phrases(settings):
    """Settings where the LLM phrases memory answers too (no facts-first shortcut), so a fake
    LLM stays in the loop for every question."""
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"facts_first": False})})


async def live(models, settings, name: str, **kw):
    """A started session and a recorder of everything it emits."""
    from omnilive.runtime.session import Session

    session = await Session(models, settings, name=name, **kw).start()
    rec = Recorder()
    session.subscribe(rec)
    return session, rec


async def utterance_after(rec, t: float, timeout: float = 120.0):
    """The first utterance that starts at or after stream time ``t`` (its audio fed already)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        later = [u for u in rec.of("utterance") if u.start >= t - 0.5]
        if later:
            return later[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no utterance after {t:.1f} s; heard {[(u.start, u.text) for u in rec.of('utterance')]}")


async def say_until_heard(session, rec, tts, text: str, heard, t: float, tries: int = 3) -> tuple[float, object]:
    """Say ``text`` (a fresh TTS rendering each time) into the session from stream time ``t`` until
    its utterance passes ``heard(text) -> bool``, as a person repeats what was misheard; returns
    (stream time after it, the utterance). The behaviour under test starts from a real transcript,
    and one unlucky rendering or decoding is not a failure of that behaviour."""
    said = []
    for _ in range(tries):
        audio = tts.synthesize(text)
        start = t
        # 2 s before it: past the window in which speech would join the previous turn (turn.join_ms)
        padded = np.concatenate([np.zeros(32000, np.float32), audio, np.zeros(32000, np.float32)])
        for i in range(0, len(padded), 1600):
            await session.put_audio(t + i / 16000, padded[i:i + 1600])
        t += len(padded) / 16000
        utt = await utterance_after(rec, start)
        said.append(utt.text)
        if heard(utt.text):
            return t, utt
    raise AssertionError(f"{text!r} was not heard as such in {tries} tries: {said}")


# ---- model servers started by a test (tests/test_llm_server.py, tests/test_remote_models.py) ----

import contextlib  # noqa: E402 - appended section: helpers.py is shared, additions go at the end
import socket  # noqa: E402
import subprocess  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerLog:
    """The server's output, read as it comes, so a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, since: int = 0, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines[since:]):
                return True
            time.sleep(0.05)
        return False


@contextlib.contextmanager
def server_process(cmd: list[str], ready_url: str, *, env: dict | None = None, headers: dict | None = None,
                   timeout: float = 180.0):
    """Run a server (its output in a ServerLog) until the block ends; ready once ``ready_url``
    answers 200, polled, so a test waits exactly as long as the server takes to start."""
    import httpx
    import pytest

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log = ServerLog(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(ready_url, headers=headers, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"{cmd[:3]} did not start:\n" + "".join(log.lines[-30:]))
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(predicate, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False): a wait for an
    outcome, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def app_on_port(settings, models, timeout: float = 120.0):
    """The real app (shared models) served by uvicorn in a thread on a free port, for clients that
    need real sockets (a browser, the openai SDK, the mcp client); its base URL."""
    import uvicorn

    from omnilive.server.app import create_app

    srv = uvicorn.Server(uvicorn.Config(create_app(settings, models), host="127.0.0.1", port=free_port(),
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert wait_until(lambda: srv.started, timeout), "the server did not start"
    try:
        yield f"http://127.0.0.1:{srv.config.port}"
    finally:
        srv.should_exit = True
        thread.join(30)
