"""What the server checks before it spends anything on a request: the Origin of a page and the rate
of new sessions (which pull URLs are allowed: perception/sources.py; secrets out of logs:
redaction.py)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

SESSIONS_PER_CORE = 2  # live sessions a core answers in time (bench/load_bench.py, 2 cores: 4 held, 6 did not)
SUBPROTOCOL = "omnilive"  # the page offers ["omnilive", "token.<T>"]: the token stays out of the URL


def live_capacity(configured: int | None) -> int:
    """Live sessions this server admits: ``server.max_live_sessions``, else measured per core. Past
    it a new session is refused at once rather than every session slowing down."""
    if configured is not None:
        return configured
    return SESSIONS_PER_CORE * len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        SESSIONS_PER_CORE * (os.cpu_count() or 1)


def from_subprotocols(header: str | None) -> tuple[str | None, str | None]:
    """``Sec-WebSocket-Protocol: omnilive, token.<T>`` -> ("omnilive", T): the subprotocol to
    accept (None when the client offered none of ours) and the token."""
    offered = [p.strip() for p in (header or "").split(",") if p.strip()]
    token = next((p[len("token."):] for p in offered if p.startswith("token.")), None)
    return (SUBPROTOCOL if SUBPROTOCOL in offered else None), token


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """No Origin (not a browser), the server's own origin, or a configured one."""
    if not origin:
        return True
    if "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


class TooManyCalls(Exception):
    """A token already has as many calls running and waiting as it may."""


class CallTurns:
    """Each token's share of the REST threads: ``running`` calls at once, ``waiting`` more wait
    their turn (waiting holds no thread), past that ``TooManyCalls``. One user's reads, by REST or
    MCP, cannot take every thread from the others."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.waiting = running, waiting
        self._calls: dict[str, tuple[int, asyncio.Semaphore]] = {}  # key -> (in flight or waiting, turn)

    def calls(self, key: str) -> int:
        """The token's calls running or waiting now."""
        return self._calls.get(key, (0, None))[0]

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        if key in self._calls and self._calls[key][0] >= self.running + self.waiting:
            raise TooManyCalls("too many calls for this session at once; retry shortly")
        n, sem = self._calls.get(key) or (0, asyncio.Semaphore(self.running))
        self._calls[key] = (n + 1, sem)
        try:
            async with sem:
                yield
        finally:
            n, sem = self._calls[key]
            if n > 1:
                self._calls[key] = (n - 1, sem)
            else:
                del self._calls[key]


class RateLimit:
    """At most ``per_minute`` events per key (client address) in any 60 s."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        q = self._seen[key]
        while q and now - q[0] > 60.0:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        if len(self._seen) > 10_000:  # forget idle clients
            for k in [k for k, v in self._seen.items() if not v or now - v[-1] > 60.0]:
                del self._seen[k]
        return True


class FramePace:
    """Frames decoded per second of *server* time: the sampler keeps 1 fps of the client's stream
    time, which a client may make up (every frame "one second later"); this bucket lets a burst of
    ``burst`` through, then ``2 x fps`` a second, whatever the timestamps say."""

    def __init__(self, fps: float, burst: int = 16) -> None:
        self.rate, self.burst = 2.0 * fps, float(burst)
        self._tokens, self._at = self.burst, time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
