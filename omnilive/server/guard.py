"""What the server checks before it spends anything on a request: the Origin of a page and the rate
of new sessions (which pull URLs are allowed: perception/sources.py; secrets out of logs:
redaction.py)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

SUBPROTOCOL = "omnilive"  # the page offers ["omnilive", "token.<T>"]: the token stays out of the URL


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
