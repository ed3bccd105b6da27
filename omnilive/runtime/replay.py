"""Feed recorded media through a live session at X times real time, as a camera and mic would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..events import SAMPLE_RATE, Summary
from ..perception.media import iter_media
from ..perception.sources import source_allowed
from .session import Session

log = logging.getLogger(__name__)


def _chunks(items: Iterator[tuple[str, float, np.ndarray]], chunk_s: float) -> Iterator[tuple[str, float, np.ndarray]]:
    """Re-cut decoded audio into fixed live-size chunks (decoders return uneven blocks)."""
    n = int(chunk_s * SAMPLE_RATE)
    buf, buf_t = np.zeros(0, np.float32), 0.0
    for kind, t, data in items:
        if kind != "audio":
            yield kind, t, data
            continue
        if len(buf) == 0:
            buf_t = t
        buf = np.concatenate([buf, data])
        while len(buf) >= n:
            yield "audio", buf_t, buf[:n]
            buf, buf_t = buf[n:], buf_t + n / SAMPLE_RATE
    if len(buf):
        yield "audio", buf_t, buf


def media_items(video: str | Path, audio: str | Path | None, chunk_s: float) -> Iterator[tuple[str, float, np.ndarray]]:
    """The video's frames and audio (or a separate audio file's), merged in stream-time order."""
    if audio is None:
        return _chunks(iter_media(video), chunk_s)
    frames = iter_media(video, audio=False)
    sound = _chunks(iter_media(audio, video=False), chunk_s)
    return heapq.merge(frames, sound, key=lambda item: item[1])


def _prefetch(items: Iterator, depth: int = 64) -> tuple["asyncio.Queue", threading.Event]:
    """Decode in a thread (PyAV is CPU work) into a small queue the event loop reads. Setting the
    returned event stops the thread (the reader was cancelled: no thread or media connection is
    left behind, blocked on a queue nobody reads)."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        if stop.is_set():
            return False
        try:
            fut = asyncio.run_coroutine_threadsafe(q.put(item), loop)
        except RuntimeError:  # the event loop is gone (its program ended): nobody reads any more
            return False
        while not stop.is_set():
            try:
                fut.result(timeout=0.2)
                return True
            except concurrent.futures.TimeoutError:
                continue
        fut.cancel()
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:
            put(exc)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None and stop.is_set():
                close()  # ends the generator: its `with av.open(...)` closes the connection
        put(None)

    threading.Thread(target=run, daemon=True, name="media-reader").start()
    return q, stop


async def replay(session: Session, video: str | Path, audio: str | Path | None = None,
                 speed: float = 1.0, tail_s: float = 1.0) -> Summary:
    """Play the media into the session, paced at ``speed`` x real time (0 = as fast as the
    session accepts audio), then let every stage drain and return the summary."""
    chunk_s = session.settings.runtime.audio_chunk_ms / 1000
    await feed(session, media_items(video, audio, chunk_s), speed, tail_s)
    return await session.finish()


async def pull(session: Session, url: str) -> None:
    """Feed a live stream from a media server (RTMP, HTTP-FLV, HLS, RTSP: whatever FFmpeg opens)
    into the session until it ends. The stream paces itself; only sampled frames are decoded to RGB.
    Whatever the stream leads to (HLS segments and keys, redirects) must pass ``server.pull_prefixes``
    as the URL itself did."""
    chunk_s = session.settings.runtime.audio_chunk_ms / 1000
    prefixes = session.settings.server.pull_prefixes
    log.info("%s: pulling %s", session.name, url)
    items = iter_media(url, video_fps=session.settings.runtime.video_fps, allow=lambda u: source_allowed(u, prefixes))
    await feed(session, _chunks(items, chunk_s), speed=0)
    log.info("%s: %s ended", session.name, url)


async def feed(session: Session, items: Iterator, speed: float, tail_s: float = 1.0) -> None:
    chunk_s = session.settings.runtime.audio_chunk_ms / 1000
    q, stop = _prefetch(items)
    wall0 = time.perf_counter()
    last_t = 0.0
    try:
        while (item := await q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            kind, t, data = item
            if speed > 0:
                delay = wall0 + t / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if kind == "audio":
                await session.put_audio(t, data)
                last_t = max(last_t, t + len(data) / SAMPLE_RATE)
            else:
                session.offer_frame(t, data)
                last_t = max(last_t, t)
    finally:
        stop.set()
    # A little silence so an utterance that runs to the end of the file is closed by the VAD.
    silence = np.zeros(int(chunk_s * SAMPLE_RATE), np.float32)
    for i in range(int(tail_s / chunk_s)):
        if speed > 0:
            await asyncio.sleep(chunk_s / speed)
        await session.put_audio(last_t + i * chunk_s, silence)
