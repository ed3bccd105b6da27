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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..backends.base import TextEmbedder, VisualEncoder
from ..config import MemoryConfig
from ..memory.db import MemoryDB, memories
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
        self._live: dict[str, Callable[[int, str], None]] = {}  # key -> ends that live connection (code, why)
        self._closing: dict[str, threading.Event] = {}  # memories a session that just ended is closing
        self._readers: dict[str, threading.Lock] = {}  # key -> held while a read has the memory open
        self._lock = threading.Lock()
        self._left = threading.Condition(self._lock)  # notified when a live connection ends

    @staticmethod
    def key(token: str) -> str:
        """Where the token's memory is kept (its name): the token itself is never stored."""
        return hashlib.sha256(token.encode()).hexdigest()[:32]

    def create(self, limit: int | None = None) -> str:
        """A new token and its (empty) memory directory; TokensFull once ``limit`` exist."""
        with self._lock:
            if limit is not None and self._count() >= limit:
                raise TokensFull(f"this server holds as many sessions as it may ({limit}, server.max_tokens)")
            token = secrets.token_urlsafe(24)
            self._memories.create(self.key(token))
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
        if not token or not self._exists(self.key(token)):
            raise TokenError("a valid session token is required (POST /api/sessions gives one)")
        return self.key(token)

    @contextmanager
    def reading(self, token: str | None, whole: bool = True) -> Iterator[MemoryStore | MemoryDB]:
        """The token's memory for one read: the live session's store, or one opened just for it
        (``whole``: loaded, for a search by meaning; else read in place: nothing loaded, no lock
        taken, for history, watches, counts and key frames). A live store is not closed under a
        read (``disconnect`` waits for it): a page reloading reads its history while the session
        of the page before it is ending."""
        key = self.check(token)
        with self._lock:
            closing = self._closing.get(key)
            guard = self._readers.setdefault(key, threading.Lock())
        if closing is not None:  # its session just ended (a page reloading): read once it is closed
            closing.wait(CLOSE_WAIT_S)
        with guard:  # a page asks for its history and its timeline at once: one opens the memory
            if not self._exists(key):  # deleted while this read waited
                raise TokenError("this session was deleted")
            with self._lock:
                store = self._stores.get(key)  # its session may have started meanwhile
            if store is not None:
                yield store
                return
            if not whole:
                with self._memories.reader(key) as db:
                    if db is not None:
                        yield db
                        return
            store = self._open(key)  # (also a memory never written: empty, cheap)
            try:
                yield store
            finally:
                store.close()

    def live(self, token: str | None) -> bool:
        return self.key(token or "") in self._live

    def connect(self, token: str | None, kick: Callable[[int, str], None] = lambda code, why: None,
                takeover: bool = False) -> MemoryStore:
        """Open the token's memory for its one live connection; ``kick(code, why)`` ends this
        connection when another one takes over (``takeover``: end the current one, as a second
        tab asks to) or the token is deleted."""
        key = self.check(token)
        with self._lock:
            if key in self._live and takeover:
                self._end_live(key, 4410, "this session was taken over by another tab or device")
            if key in self._live:
                raise SessionBusy("this session is already connected elsewhere")
            self._live[key] = kick
            one_at_a_time = self._readers.setdefault(key, threading.Lock())
        try:
            with one_at_a_time:  # after any read that has the memory open
                self._memories.touch(key)  # (token expiry counts from the last use)
                store = self._open(key)
                with self._lock:
                    self._stores[key] = store
        except BaseException:
            self.disconnect(token)
            raise
        return store

    def _end_live(self, key: str, code: int, why: str) -> None:
        """End the key's live connection and wait for it to go (``self._lock`` held)."""
        self._live[key](code, why)
        self._left.wait_for(lambda: key not in self._live, TAKEOVER_WAIT_S)

    def delete(self, token: str | None) -> None:
        """Remove the token and its memory for good (the page's "New memory", ``DELETE
        /api/session``); a live connection on it is ended first."""
        key = self.check(token)
        with self._lock:
            if key in self._live:
                self._end_live(key, 4404, "this session and its memory were deleted")
        if not self._drop(key):
            raise SessionBusy("this session's connection did not end; try again")

    def expire(self, ttl_s: float) -> int:
        """Delete the memories not used for ``ttl_s`` seconds (never a live one): tokens end, so
        ``server.max_tokens`` is not reached for good by users who never come back."""
        return sum(self._drop(key) for key in self._memories.unused_since(time.time() - ttl_s))

    def _drop(self, key: str) -> bool:
        """Delete one memory unless it is live; held as live meanwhile, so nobody connects to it."""
        with self._lock:
            if key in self._live:
                return False
            self._live[key] = lambda code, why: None
            guard = self._readers.setdefault(key, threading.Lock())
        try:
            with guard:  # after the reads that have it open
                self._memories.drop(key)
            return True
        finally:
            with self._lock:
                self._live.pop(key, None)
                self._readers.pop(key, None)
                self._left.notify_all()

    def disconnect(self, token: str) -> None:
        """The live connection ended: its memory is closed (reopened on the next read or visit),
        so memory held by the server is bounded by the users connected now, not by all users ever.
        Blocking (it waits for reads of the memory): call it off the event loop."""
        key = self.key(token)
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
