"""Session tokens and per-user memory.

A token is a 192-bit random secret handed out by ``POST /api/sessions``. Its memory lives in
``<memory root>/<sha256(token)[:32]>/`` (the token itself is never written to disk), or with
``memory.url`` set in the PostgreSQL memory of that name, so a token is valid exactly when its
memory exists, and a returning user with the same token gets the same memory back after a server
restart, from any server process on the same database. One live connection per token at a time
(across processes too: memory/pg.py locks it): the memory has one writer, and two cameras feeding
one memory would interleave two timelines.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..backends.base import TextEmbedder, VisualEncoder
from ..config import MemoryConfig
from ..memory.db import memories
from ..memory.store import MemoryStore

CLOSE_WAIT_S = 30.0  # a read waits this long at most for a just-ended session to close its memory
TAKEOVER_WAIT_S = 15.0  # a takeover waits this long at most for the other connection to end


class TokenError(PermissionError):
    """Missing or unknown session token."""


class TokensFull(RuntimeError):
    """No more session tokens may be made."""


class SessionBusy(RuntimeError):
    """The token already has a live connection."""


class Tokens:
    def __init__(self, root: Path, encoder: VisualEncoder, cfg: MemoryConfig, text: TextEmbedder | None = None) -> None:
        self.root = Path(root)
        self._encoder, self._cfg, self._text = encoder, cfg, text
        self._memories = memories(self.root, cfg.url)
        self._stores: dict[str, MemoryStore] = {}
        self._live: dict[str, Callable[[], None]] = {}  # key -> ends that live connection (a takeover)
        self._closing: dict[str, threading.Event] = {}  # memories a session that just ended is closing
        self._readers: dict[str, threading.Lock] = {}  # key -> held while a read has the memory open
        self._lock = threading.Lock()
        self._left = threading.Condition(self._lock)  # notified when a live connection ends

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()[:32]

    def create(self, limit: int | None = None) -> str:
        """A new token and its (empty) memory directory; TokensFull once ``limit`` exist."""
        with self._lock:
            if limit is not None and self._count() >= limit:
                raise TokensFull(f"this server holds as many sessions as it may ({limit}, server.max_tokens)")
            token = secrets.token_urlsafe(24)
            self._memories.create(self._key(token))
        return token

    def _count(self) -> int:
        return self._memories.count()

    def _exists(self, key: str) -> bool:
        return self._memories.exists(key)

    def _open(self, key: str) -> MemoryStore:
        return MemoryStore.open(self._memories.where(key), self._encoder, self._cfg, self._text)

    @property
    def location(self) -> str:
        """Where memories are kept, for the log (a database URL without its password)."""
        return self._memories.location

    def check(self, token: str | None) -> str:
        if not token or not self._exists(self._key(token)):
            raise TokenError("a valid session token is required (POST /api/sessions gives one)")
        return self._key(token)

    @contextmanager
    def reading(self, token: str | None) -> Iterator[MemoryStore]:
        """The token's memory for one read: the live session's store, or opened just for it. A
        live store is not closed under a read (``disconnect`` waits for it): a page reloading reads
        its history while the session of the page before it is ending."""
        key = self.check(token)
        with self._lock:
            closing = self._closing.get(key)
            guard = self._readers.setdefault(key, threading.Lock())
        if closing is not None:  # its session just ended (a page reloading): read once it is closed
            closing.wait(CLOSE_WAIT_S)
        with guard:  # a page asks for its history and its timeline at once: one opens the memory
            with self._lock:
                store = self._stores.get(key)  # its session may have started meanwhile
            if store is not None:
                yield store
                return
            store = self._open(key)
            try:
                yield store
            finally:
                store.close()

    def live(self, token: str | None) -> bool:
        return self._key(token or "") in self._live

    def connect(self, token: str | None, kick: Callable[[], None] = lambda: None,
                takeover: bool = False) -> MemoryStore:
        """Open the token's memory for its one live connection; ``kick`` ends this connection when
        another one takes over (``takeover``: end the current one, as a second tab asks to)."""
        key = self.check(token)
        with self._lock:
            if key in self._live and takeover:
                self._live[key]()
                self._left.wait_for(lambda: key not in self._live, TAKEOVER_WAIT_S)
            if key in self._live:
                raise SessionBusy("this session is already connected elsewhere")
            self._live[key] = kick
            one_at_a_time = self._readers.setdefault(key, threading.Lock())
        try:
            with one_at_a_time:  # after any read that has the memory open
                store = self._open(key)
                with self._lock:
                    self._stores[key] = store
        except BaseException:
            self.disconnect(token)
            raise
        return store

    def disconnect(self, token: str) -> None:
        """The live connection ended: its memory is closed (reopened on the next read or visit),
        so memory held by the server is bounded by the users connected now, not by all users ever.
        Blocking (it waits for reads of the memory): call it off the event loop."""
        key = self._key(token)
        with self._lock:
            store = self._stores.get(key)
            closed = self._closing.setdefault(key, threading.Event()) if store is not None else None
            guard = self._readers.setdefault(key, threading.Lock())
        try:
            if store is not None:
                try:
                    with guard:  # after the reads that have it now
                        with self._lock:
                            self._stores.pop(key, None)
                        store.close()
                finally:
                    closed.set()
                    with self._lock:
                        self._closing.pop(key, None)
        finally:  # (also when closing the memory failed: the token must not stay "live" for good)
            with self._lock:  # only now: a takeover must find the memory closed
                self._live.pop(key, None)
                self._left.notify_all()

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        self._memories.close()
