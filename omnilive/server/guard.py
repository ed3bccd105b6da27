"""What the server checks before it spends anything on a request: the Origin of a page, the rate
and number of new sessions, whether a pull URL is allowed, and that tokens never reach a log."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from ..memory.pg import redact as redact_url

_TOKEN_IN_TEXT = re.compile(r"(token=|token\.|Bearer\s+)[A-Za-z0-9_\-]+", re.I)
SUBPROTOCOL = "omnilive"  # the page offers ["omnilive", "token.<T>"]: the token stays out of the URL


def redact(text: str) -> str:
    """Session tokens and URL passwords (``postgresql://user:***@host``) out of a log line."""
    return redact_url(_TOKEN_IN_TEXT.sub(lambda m: m.group(1) + "***", text))


class RedactTokens(logging.Filter):
    """Removes session tokens from log records (uvicorn's access log prints request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "omnilive"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


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


def source_allowed(url: str, allowed: list[str]) -> bool:
    """Scheme, host and port equal to an allowed URL's, and the path under its path (by segments:
    ``rtmp://media/live`` admits ``rtmp://media/live/cam1``, not ``rtmp://media.evil.example`` or
    ``rtmp://media/lively``)."""
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError:
        return False
    if not u.scheme or not u.hostname or u.username or u.password:
        return False
    for a in allowed:
        try:
            b = urlsplit(a)
            b_port = b.port
        except ValueError:
            continue
        if (u.scheme.lower(), u.hostname.lower(), port) != (b.scheme.lower(), (b.hostname or "").lower(), b_port):
            continue
        base = b.path.rstrip("/")
        if u.path == base or u.path.startswith(base + "/"):
            return True
    return False


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
