"""Soak benchmark: 8 users come and go for ``--minutes`` against one real `omnilive serve` process.

A leak that one session cannot show (a thread, a file descriptor, an open memory, a live slot left
behind by each visit) shows after hundreds of them. Each user, on loopback, again and again:
takes a token (its own, reused; a new one every ``--new-token-every`` visits), connects the
WebSocket, streams the recorded camera (1 fps JPEG) and microphone (PCM16, a spoken question
after 5 s, as bench/load_bench.py streams it) in real time, keeps streaming until the answer
comes, and disconnects. A warm-up round (every user once, together) runs first, so the thread
pools and caches a first visit creates are in the baseline. Reported: sessions served, turns
answered, errors, question end -> answer, and the server's resident memory, open file descriptors
and threads at the baseline and at the end, and its live sessions at the end. Exits non-zero
(LEAK) when the end has a live session, or more descriptors or threads than ``--fd-slack`` /
``--thread-slack`` over the baseline. Figures and ratios only: no wall-clock time is judged.

    .venv/bin/python bench/soak_bench.py [--minutes 10] [--users 8] [--max-visits N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets
from _common import stop, table
from load_bench import CHUNK, _inputs, metric, rss_mb
from scale_bench import wait_http

from helpers import free_port  # noqa: E402 - tests/ is on the path through load_bench

from omnilive.dsp import float_to_pcm16  # noqa: E402

SR = 16000


@dataclass
class Tally:
    sessions: int = 0  # visits the server said ready to
    answered: int = 0
    interrupted: int = 0  # answered, but cut (by background sound taken for speech)
    unanswered: int = 0  # no answer within --answer-timeout
    errors: Counter = field(default_factory=Counter)  # error events by stage, failed visits by exception
    latency: list[float] = field(default_factory=list)  # end of the question's speech -> its answer event


def process(pid: int) -> dict:
    """The server's resident memory (MB), open file descriptors and threads now."""
    threads = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Threads:"))
    return {"rss_mb": round(rss_mb(pid)), "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


async def visit(url: str, token: str, frames: list[bytes], pcm: bytes, q_end: float, tally: Tally) -> None:
    """One visit: stream camera + mic in real time from stream time 0 until the answer, then leave."""
    async with websockets.connect(f"{url}/ws", subprotocols=["omnilive", f"token.{token}"], max_size=None) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if ready["type"] != "ready":
            tally.errors[f"refused: {ready.get('message', ready)}"] += 1
            return
        tally.sessions += 1
        answered: asyncio.Future = asyncio.get_running_loop().create_future()

        async def receive() -> None:
            async for msg in ws:
                if isinstance(msg, str):
                    ev = json.loads(msg)
                    if ev["type"] == "error":
                        tally.errors[f"error event: {ev['stage']}"] += 1
                    elif ev["type"] == "answer" and not answered.done():
                        answered.set_result((time.perf_counter(), ev.get("interrupted", False)))

        reader = asyncio.create_task(receive())
        t0, sent_end, next_frame = time.perf_counter(), None, 0
        for i in range(0, len(pcm) // 2, CHUNK):
            if answered.done() or reader.done():
                break
            t = i / SR
            await asyncio.sleep(max(0.0, t0 + t - time.perf_counter()))
            if next_frame <= t:
                await ws.send(struct.pack("<Bd", 2, float(next_frame)) + frames[next_frame % len(frames)])
                next_frame += 1
            await ws.send(struct.pack("<Bd", 1, t) + pcm[2 * i: 2 * (i + CHUNK)])
            if sent_end is None and t >= q_end:
                sent_end = time.perf_counter()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        if not answered.done():
            tally.unanswered += 1
            return
        at, interrupted = answered.result()
        tally.answered += 1
        tally.interrupted += bool(interrupted)
        if sent_end is not None:
            tally.latency.append(at - sent_end)


async def user(k: int, http: str, url: str, frames, pcm, q_end, tally: Tally, until: float, max_visits: int,
               new_every: int) -> None:
    rng = random.Random(k)
    await asyncio.sleep(rng.uniform(0, 3))  # users do not all arrive at once
    token = None
    async with httpx.AsyncClient() as client:
        for n in range(max_visits):
            if time.monotonic() >= until:
                break
            try:
                if token is None or (new_every and n % new_every == 0):
                    token = (await client.post(f"{http}/api/sessions")).raise_for_status().json()["token"]
                await visit(url, token, frames, pcm, q_end, tally)
            except (OSError, TimeoutError, httpx.HTTPError, websockets.WebSocketException) as exc:
                tally.errors[f"visit failed: {type(exc).__name__}"] += 1
            await asyncio.sleep(rng.uniform(0, 1))  # between visits


def wait_idle(http: str, timeout: float = 60.0) -> int:
    """The server's live sessions once none is left (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (n := httpx.get(f"{http}/health").json()["sessions"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return n


def steady(pid: int, timeout: float = 15.0) -> dict:
    """The server's figures once two samples 0.5 s apart agree on descriptors and threads."""
    deadline, last = time.monotonic() + timeout, process(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = process(pid)
        if (now["fds"], now["threads"]) == (last["fds"], last["threads"]):
            return now
        last = now
    return last


def settled(pid: int, start: dict, fd_slack: int, thread_slack: int, timeout: float = 15.0) -> dict:
    """The server's figures once its descriptors and threads are back within slack of ``start``, or
    after ``timeout``: the last session's stage threads end just after its slot is free."""
    deadline = time.monotonic() + timeout
    while True:
        now = process(pid)
        if (now["fds"] - start["fds"] <= fd_slack and now["threads"] - start["threads"] <= thread_slack
                or time.monotonic() > deadline):
            return now
        time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--max-visits", type=int, default=1000, help="per user, a bound besides the time")
    ap.add_argument("--new-token-every", type=int, default=5, help="visits per token (0: one token per user)")
    ap.add_argument("--answer-timeout", type=float, default=90.0, help="seconds streamed after the question")
    ap.add_argument("--fd-slack", type=int, default=8, help="descriptors the end may hold over the baseline")
    ap.add_argument("--thread-slack", type=int, default=4, help="threads the end may hold over the baseline")
    args = ap.parse_args()

    port = free_port()
    http, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    env = {**os.environ, "OMNILIVE_MEMORY__DIR": tempfile.mkdtemp(prefix="omnilive-soak-"),
           "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),  # as load_bench, so RSS compares
           # every user is 127.0.0.1, and a user's last visit may still be closing as the next one starts
           "OMNILIVE_SERVER__NEW_SESSIONS_PER_MINUTE": "1000", "OMNILIVE_SERVER__MAX_LIVE_PER_ADDRESS": str(2 * args.users)}
    server = subprocess.Popen([sys.executable, "-m", "omnilive", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"{http}/health", server)
        from omnilive.backends.registry import load_models
        from omnilive.config import load_settings

        tts = load_models(load_settings(), ("tts",)).tts
        timed_frames, audio, ends = _inputs(tts)  # the first question ends at ends[0]; the second is cut off
        frames = [jpg for _, jpg in timed_frames]
        said = audio[: int((ends[0] + 1.0) * SR)]
        pcm = float_to_pcm16(np.concatenate([said, np.zeros(int(args.answer_timeout * SR), np.float32)]))

        def run(tally: Tally, minutes: float, visits: int) -> float:
            until = time.monotonic() + 60 * minutes
            started = time.monotonic()

            async def trend() -> None:  # a line a minute: a leak grows steadily, warm-up growth levels off
                seen = 0
                while True:
                    await asyncio.sleep(60)
                    recent, seen = tally.latency[seen:], len(tally.latency)
                    # (off the loop that streams every user in real time)
                    live = (await asyncio.to_thread(httpx.get, f"{http}/health")).json()["sessions"]
                    now = await asyncio.to_thread(process, server.pid)
                    print(f"  {(time.monotonic() - started) / 60:4.1f} min: {tally.sessions} sessions, {tally.answered} "
                          f"answered, {sum(tally.errors.values())} errors, answer median "
                          f"{statistics.median(recent) if recent else float('nan'):.2f} s this minute, {live} live, "
                          f"server {now}", flush=True)

            async def everyone():
                sampler = asyncio.create_task(trend())
                await asyncio.gather(*(user(k, http, url, frames, pcm, ends[0], tally, until, visits,
                                            args.new_token_every) for k in range(args.users)))
                sampler.cancel()

            asyncio.run(everyone())
            return time.monotonic() - started

        warm = Tally()
        run(warm, 1e9, 1)  # every user once, together
        left = wait_idle(http)
        start = steady(server.pid)  # the warm-up sessions' stage threads end just after their slots are free
        print(f"warm-up: {warm.sessions} sessions, {warm.answered} answered, live after: {left}; baseline {start}",
              flush=True)
        dropped0 = metric(url, "omnilive_frames_dropped_total")
        soak = Tally()
        took = run(soak, args.minutes, args.max_visits)
        live = wait_idle(http)
        end = settled(server.pid, start, args.fd_slack, args.thread_slack)
        lat = sorted(soak.latency)
        rows = [{"figure": k, "start": start[k], "end": end[k], "end / start": f"{end[k] / max(start[k], 1):.2f}"}
                for k in ("rss_mb", "fds", "threads")]
        table(rows, f"server process, {args.users} users for {took / 60:.1f} min (after warm-up)")
        print(f"\nsessions served {soak.sessions} ({soak.sessions / max(took / 60, 1e-9):.1f}/min), turns answered "
              f"{soak.answered}/{soak.sessions} (interrupted {soak.interrupted}, unanswered {soak.unanswered}), "
              f"errors {sum(soak.errors.values())} {dict(soak.errors)}")
        if lat:
            print(f"question end -> answer: median {statistics.median(lat):.2f} s, "
                  f"p95 {lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.2f} s (n={len(lat)})")
        print(f"server RSS growth: {(end['rss_mb'] - start['rss_mb']) / max(soak.sessions, 1) * 100:.0f} MB "
              "per 100 sessions")
        print(f"frames dropped {int(metric(url, 'omnilive_frames_dropped_total') - dropped0)}; "
              f"/health sessions at end: {live}")
        leaks = [f"{live} live session(s) left"] if live else []
        leaks += [f"{k} +{end[k] - start[k]} (slack {slack})" for k, slack in
                  (("fds", args.fd_slack), ("threads", args.thread_slack)) if end[k] - start[k] > slack]
        print("LEAK: " + "; ".join(leaks) if leaks else "no leak: slots free, descriptors and threads within slack")
        return 1 if leaks else 0
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
