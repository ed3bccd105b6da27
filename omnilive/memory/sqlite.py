"""Where memory survives restarts: one SQLite file per user/session directory.

Why SQLite: it ships with Python, commits a sealed clip in well under a millisecond in WAL mode, and
keeps vectors, key frames and metadata in one atomic file; the vectors are also held in RAM by the
store, where a brute-force dot product over a day of episodes takes about a millisecond (see
bench/memory_bench.py), so no vector index is needed at this scale. A server-grade vector store
(pgvector, Qdrant, LanceDB) would implement the same ``MemoryDB`` protocol (memory/db.py).

Durability: a clip is committed when it is sealed, so a crash loses at most the clip being built.
Consolidation writes the episode and deletes its clips in one transaction; an ingested clip and
its file's progress are one transaction too, so a crash between them cannot store a clip twice on
resume. Ids never clash silently (plain INSERT: a clash is an error, not an overwrite).

One process per memory: the directory is locked (``flock`` on ``.lock``) while a ``MemoryDB`` is
open, so a CLI ingest cannot write into the memory a server session is writing; the second one
gets ``MemoryLocked`` saying which process holds it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..events import ClipMemory, GroundedClip, HeardItem
from .errors import MemoryLocked
from .longterm import Episode
from .rows import (
    HEARD_COLUMNS, TURN_COLUMNS, check_identity, clip_of, clip_row, episode_of, episode_row, heard_of, heard_row,
    stats_of, timeline, turn_of, turn_row,
)
from .textmatch import MENTIONED, add_fuzzy, like_share, mentioning, word_grams

log = logging.getLogger(__name__)
DB_NAME = "memory.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    id INTEGER PRIMARY KEY, start REAL NOT NULL, "end" REAL NOT NULL, n_frames INTEGER NOT NULL,
    labels TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL, tokens BLOB NOT NULL,
    tokens_shape TEXT NOT NULL, keyframe BLOB NOT NULL, concepts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY, start REAL NOT NULL, "end" REAL NOT NULL, n_clips INTEGER NOT NULL,
    n_frames INTEGER NOT NULL, labels TEXT NOT NULL, concepts TEXT NOT NULL, text TEXT NOT NULL,
    vectors BLOB NOT NULL, n_vectors INTEGER NOT NULL, tokens BLOB NOT NULL, tokens_shape TEXT NOT NULL,
    keyframe BLOB NOT NULL, first_clip INTEGER NOT NULL, last_clip INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, start REAL NOT NULL, "end" REAL NOT NULL, wall REAL NOT NULL,
    heard TEXT NOT NULL, language TEXT NOT NULL, source TEXT NOT NULL, for_assistant INTEGER NOT NULL,
    answer TEXT NOT NULL, state TEXT NOT NULL, grounding TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heard (
    id INTEGER PRIMARY KEY, start REAL NOT NULL, "end" REAL NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    labels TEXT NOT NULL, speaker TEXT NOT NULL, score REAL NOT NULL, language TEXT NOT NULL, vector BLOB,
    voice INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS heard_episodes (
    id INTEGER PRIMARY KEY, start REAL NOT NULL, "end" REAL NOT NULL, n_items INTEGER NOT NULL, summary TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS heard_fts USING fts5(text, content='heard', content_rowid='id', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS heard_ai AFTER INSERT ON heard BEGIN
    INSERT INTO heard_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS heard_ad AFTER DELETE ON heard BEGIN
    INSERT INTO heard_fts(heard_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
CREATE TABLE IF NOT EXISTS watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, thing TEXT NOT NULL, said TEXT NOT NULL,
    created REAL NOT NULL, active INTEGER NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, offset REAL NOT NULL, done_t REAL NOT NULL,
    finished INTEGER NOT NULL);
"""

_STATS = """SELECT (SELECT count(*) FROM clips), (SELECT count(*) FROM episodes), (SELECT count(*) FROM heard),
    max(coalesce((SELECT max("end") FROM clips), 0), coalesce((SELECT max("end") FROM episodes), 0),
        coalesce((SELECT max("end") FROM heard), 0)),
    max(coalesce((SELECT max(id) + 1 FROM clips), 0), coalesce((SELECT max(last_clip) + 1 FROM episodes), 0))"""
_KEYFRAME_AT = """SELECT keyframe FROM (
    SELECT keyframe, 0 AS k FROM clips WHERE start - 0.5 <= ? AND "end" + 0.5 >= ? AND length(keyframe) > 0
    UNION ALL SELECT keyframe, 1 FROM episodes WHERE start - 0.5 <= ? AND "end" + 0.5 >= ? AND length(keyframe) > 0)
    ORDER BY k LIMIT 1"""


def private_dir(path: str | Path) -> Path:
    """``mkdir -p`` whose new directories, and ``path`` itself, are 0700 whatever the umask: a
    memory holds what a camera saw and a microphone heard, for its owner's eyes only."""
    path = Path(path)
    made = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in [path, *made]:
        os.chmod(p, 0o700)
    return path


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a file created 0600 (an existing one made so too)."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _lock(directory: Path):
    """An exclusive, non-blocking lock on the directory; released when the file is closed (also
    when the process dies, so a crash never leaves a stale lock)."""
    f = open(directory / ".lock", "a+", opener=private_opener)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise MemoryLocked(f"memory {directory} is in use by {holder}; stop it first, or use another --memory "
                           "directory") from None
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()}")
    f.flush()
    return f


class SQLiteMemoryDB:
    """A memory in one directory (implements memory/db.py's ``MemoryDB``)."""

    persistent = True

    def __init__(self, directory: str | Path, encoder_id: str, dim: int) -> None:
        self.dir = private_dir(directory)
        self.path = self.dir / DB_NAME
        self._lockfile = _lock(self.dir)
        try:
            # SQLite creates -wal and -shm with the database file's mode: the file made 0600 first, they
            # are too; the files of a memory written before this are made private as well (its own
            # files only: a --memory pointed at a directory of other things leaves those alone)
            os.close(private_opener(str(self.path), os.O_RDONLY | os.O_CREAT))
            for p in [*self.dir.glob(DB_NAME + "-*"), *self.dir.glob("keyframes"), *self.dir.glob("keyframes/*.jpg")]:
                if not p.is_symlink():
                    os.chmod(p, 0o700 if p.is_dir() else 0o600)
            self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._lock = threading.Lock()  # one connection, used from the encoder thread and readers
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            self._con.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not just unlinked
            self._con.executescript(_SCHEMA)
            if "expires" not in {r[1] for r in self._con.execute("PRAGMA table_info(watches)")}:  # schema 3
                self._con.execute("ALTER TABLE watches ADD COLUMN expires REAL")
            if "voice" not in {r[1] for r in self._con.execute("PRAGMA table_info(heard)")}:  # schema 5
                self._con.execute("ALTER TABLE heard ADD COLUMN voice INTEGER NOT NULL DEFAULT 0")
            check_identity(self, str(self.dir), encoder_id, dim)
        except BaseException:
            self._lockfile.close()  # a memory that cannot be opened is not held either
            raise

    @classmethod
    def reader(cls, directory: str | Path) -> "SQLiteMemoryDB":
        """The memory for reading only, beside its writer (WAL lets both run): no lock taken, no
        schema written, nothing loaded into RAM (the server's REST reads of a memory not live)."""
        db = cls.__new__(cls)
        db.dir, db.path, db._lockfile, db._lock = Path(directory), Path(directory) / DB_NAME, None, threading.Lock()
        db._con = sqlite3.connect(f"{db.path.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                  isolation_level=None)
        return db

    def stats(self) -> dict[str, float]:
        """What ``MemoryStore.stats`` says, counted in SQL (nothing loaded)."""
        with self._lock:
            row = self._con.execute(_STATS).fetchone()
        return stats_of(row, self.size_bytes())

    def keyframe_at(self, t: float) -> bytes | None:
        """The key frame of the clip or episode that holds memory time ``t`` (as ``MemoryStore.keyframe_at``)."""
        with self._lock:
            row = self._con.execute(_KEYFRAME_AT, (t, t, t, t)).fetchone()
        return row[0] if row else None

    def items(self, limit: int = 60, before: float | None = None) -> list[GroundedClip]:
        """As ``MemoryStore.items`` (the page's timeline), read in place."""
        b, dim = float("inf") if before is None else before, int(self.meta()["dim"])
        with self._lock:
            clips = self._con.execute("SELECT * FROM clips WHERE start < ? ORDER BY start DESC LIMIT ?", (b, limit))
            clips = [clip_of(r) for r in clips.fetchall()]
            eps = self._con.execute("SELECT * FROM episodes WHERE start < ? ORDER BY start DESC LIMIT ?", (b, limit))
            eps = [episode_of(r, dim) for r in eps.fetchall()]
        return timeline(clips, eps, limit)

    def heard_latest(self, limit: int, before: float | None = None) -> list[HeardItem]:
        """As ``MemoryStore.heard_latest``, read in place."""
        with self._lock:
            rows = self._con.execute(f"SELECT {HEARD_COLUMNS} FROM heard WHERE kind IN ('speech', 'sound', 'note') "
                                     "AND start <= ? ORDER BY start DESC, id DESC LIMIT ?",
                                     (float("inf") if before is None else before, limit)).fetchall()
        return [heard_of(r)[0] for r in rows[::-1]]

    # ---- meta ---------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self._con.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    def set_meta(self, **values: Any) -> None:
        with self._lock:
            self._con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  [(k, json.dumps(v)) for k, v in values.items()])

    # ---- clips and episodes -------------------------------------------------------------------

    @contextmanager
    def _transaction(self):
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                # a failed COMMIT may leave it open (then later writes would join it, never committed);
                # SQLite may also have rolled it back itself (a full disk), and a ROLLBACK then would
                # raise over the real error
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise

    def add_clip(self, c: ClipMemory, wall_end: float,
                 source: tuple[str, str, float, float] | None = None) -> None:
        """Commit a clip; ``source`` (path, fingerprint, offset, done_t): the ingested file's progress
        up to this clip, in the same transaction."""
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO meta VALUES ('wall_end', ?)", (json.dumps(wall_end),))
            if source is not None:
                self._con.execute("INSERT OR REPLACE INTO sources VALUES (?,?,?,?,0)", source)
            self._con.execute("INSERT INTO clips VALUES (?,?,?,?,?,?,?,?,?,?,?)", clip_row(c))

    def add_episode(self, e: Episode, clip_ids: list[int]) -> None:
        with self._transaction():
            self._con.execute("INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", episode_row(e))
            self._con.executemany("DELETE FROM clips WHERE id = ?", [(i,) for i in clip_ids])

    def load(self, dim: int) -> tuple[list[ClipMemory], list[Episode]]:
        with self._lock:
            clip_rows = self._con.execute("SELECT * FROM clips ORDER BY id").fetchall()
            ep_rows = self._con.execute("SELECT * FROM episodes ORDER BY id").fetchall()
        return [clip_of(r) for r in clip_rows], [episode_of(r, dim) for r in ep_rows]

    def delete_between(self, start: float, end: float) -> dict[str, int]:
        """Delete every clip, episode and conversation turn overlapping [start, end], in one transaction."""
        counts = {}
        with self._transaction():
            for table in ("clips", "episodes", "turns", "heard", "heard_episodes"):
                cur = self._con.execute(f'DELETE FROM {table} WHERE "end" >= ? AND start <= ?', (start, end))
                counts[table] = cur.rowcount
            # what a cancelled watch asked for (an ingested file's progress stays: a re-ingest must not bring it back)
            counts["watches"] = self._con.execute("DELETE FROM watches WHERE active = 0 AND created BETWEEN ? AND ?",
                                                  (start, end)).rowcount
        return counts

    def scrub(self) -> None:
        """After a forget: merge the FTS index (its segments keep deleted words until merged), fold the
        write-ahead log into the file and empty it, and drop the key frames `omnilive recall` wrote
        beside the memory, so no byte of what was forgotten is left on disk."""
        with self._lock:
            self._con.execute("INSERT INTO heard_fts(heard_fts) VALUES ('optimize')")
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for jpeg in (self.dir / "keyframes").glob("*.jpg"):
            jpeg.unlink(missing_ok=True)

    def delete_heard_items(self, ids: list[int], words: list[str]) -> dict[str, int]:
        """Heard items by id, and what else says one of ``words`` as a word (conversation turns,
        summaries of talk, cancelled watches), in one transaction. SQLite's LIKE finds candidates,
        ``mentions`` keeps those that say the word ("car", not "Oscar")."""
        counts = {}
        with self._transaction():
            self._con.executemany("DELETE FROM heard WHERE id = ?", [(i,) for i in ids])
            for table, cols, where in MENTIONED:
                like = " OR ".join(f"{c} LIKE ?" for c in cols for _ in words) or "0"
                rows = self._con.execute(f"SELECT id, {', '.join(cols)} FROM {table} WHERE ({like}){where}",
                                         [f"%{w}%" for _ in cols for w in words]).fetchall()
                gone = mentioning(rows, words)
                self._con.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in gone])
                counts[table] = len(gone)
        return counts

    # ---- heard memory (memory/heard.py) -------------------------------------------------------

    def add_heard(self, item: HeardItem, vector: np.ndarray | None) -> None:
        with self._lock:
            self._con.execute(f"INSERT INTO heard ({HEARD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                              heard_row(item, vector))

    def update_heard(self, item: HeardItem) -> None:
        """A merged sound grew: only its end and score change (its text, and so the index, stay)."""
        with self._lock:
            self._con.execute('UPDATE heard SET "end" = ?, score = ? WHERE id = ?', (item.end, item.score, item.item_id))

    def add_heard_episode(self, start: float, end: float, n_items: int, summary: str) -> None:
        with self._lock:
            self._con.execute('INSERT INTO heard_episodes (start, "end", n_items, summary) VALUES (?,?,?,?)',
                              (start, end, n_items, summary))

    def heard_episodes(self) -> list[tuple[float, float, int, str]]:
        with self._lock:
            return self._con.execute('SELECT start, "end", n_items, summary FROM heard_episodes ORDER BY start').fetchall()

    def delete_heard_between(self, start: float, end: float) -> None:
        with self._lock:
            self._con.execute('DELETE FROM heard WHERE "end" >= ? AND start <= ?', (start, end))

    def delete_heard(self, item_id: int) -> None:
        with self._lock:
            self._con.execute("DELETE FROM heard WHERE id = ?", (item_id,))

    def heard_items(self) -> list[tuple[HeardItem, np.ndarray | None]]:
        with self._lock:
            rows = self._con.execute(f"SELECT {HEARD_COLUMNS} FROM heard ORDER BY start, id").fetchall()
        return [heard_of(r) for r in rows]

    def heard_match(self, words: list[str], limit: int = 50) -> list[tuple[int, float]]:
        """FTS5 over the heard text: (id, 0..1) for rows with any of these words (by bm25 rank), or,
        at half weight, with pieces of them: a long word also matches by its trigrams, so a name
        the ASR spelt differently ("Mainz" / "Maintz") is still found, below exact matches."""
        words = [w.replace('"', "") for w in words]
        scores = self._fts(" OR ".join(f'"{w}"' for w in words), limit)
        grams = word_grams(words)
        if grams:  # a row counts when it holds most of one word's trigrams ("ing" alone is no match)
            with self._lock:
                rows = self._con.execute(
                    "SELECT rowid, text FROM heard_fts WHERE heard_fts MATCH ? ORDER BY bm25(heard_fts) LIMIT ?",
                    (" OR ".join(f'"{g}"' for g in sorted({g for gs in grams.values() for g in gs})),
                     4 * limit)).fetchall()
            add_fuzzy(scores, grams, rows)
        return sorted(scores.items(), key=lambda p: -p[1])[:limit]

    def _fts(self, query: str, limit: int) -> dict[int, float]:
        with self._lock:
            rows = self._con.execute("SELECT rowid, bm25(heard_fts) FROM heard_fts WHERE heard_fts MATCH ?"
                                     " ORDER BY bm25(heard_fts) LIMIT ?", (query, limit)).fetchall()
        best = min((r[1] for r in rows), default=0.0)  # bm25: more negative is better
        return {r[0]: (r[1] / best) if best < 0 else 1.0 for r in rows}

    def heard_like(self, grams: list[str], limit: int = 50) -> list[tuple[int, float]]:
        """Chinese: (id, share of the question's character pairs found) for rows with any of them."""
        grams = grams[:12]
        where = " OR ".join("text LIKE ?" for _ in grams)
        with self._lock:
            rows = self._con.execute(f"SELECT id, text FROM heard WHERE {where} LIMIT ?",
                                     [f"%{g}%" for g in grams] + [limit]).fetchall()
        return like_share(grams, rows)

    # ---- watches (runtime/watching.py) -------------------------------------------------------

    def add_watch(self, kind: str, thing: str, said: str, created: float, expires: float | None = None) -> int:
        with self._lock:
            return int(self._con.execute("INSERT INTO watches (kind, thing, said, created, active, expires) "
                                         "VALUES (?,?,?,?,1,?)", (kind, thing, said, created, expires)).lastrowid)

    def end_watch(self, watch_id: int) -> None:
        with self._lock:
            self._con.execute("UPDATE watches SET active = 0 WHERE id = ?", (watch_id,))

    def watches(self) -> list[tuple[int, str, str, str, float, float | None]]:
        """The active watches: (id, kind, thing, said, created, expires)."""
        with self._lock:
            return self._con.execute("SELECT id, kind, thing, said, created, expires FROM watches WHERE active = 1 "
                                     "ORDER BY id").fetchall()

    # ---- the conversation log -----------------------------------------------------------------

    def add_turn(self, turn: dict[str, Any]) -> int:
        """One turn of the conversation (see runtime/history.py); returns its id."""
        with self._lock:
            cur = self._con.execute(f"INSERT INTO turns ({TURN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", turn_row(turn))
            return int(cur.lastrowid)

    def set_turn_state(self, turn_id: int, state: str) -> None:
        with self._lock:
            self._con.execute("UPDATE turns SET state = ? WHERE id = ?", (state, turn_id))

    def delete_turn(self, turn_id: int) -> None:
        with self._lock:
            self._con.execute("DELETE FROM turns WHERE id = ?", (turn_id,))

    def turns(self, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` turns (before turn id ``before``), oldest first."""
        with self._lock:
            rows = self._con.execute(f"SELECT id, {TURN_COLUMNS} FROM turns WHERE id < ? ORDER BY id DESC LIMIT ?",
                                     (before or 2**62, limit)).fetchall()
        return [turn_of(r) for r in rows[::-1]]

    # ---- ingested files -----------------------------------------------------------------------

    def source(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._con.execute("SELECT fingerprint, offset, done_t, finished FROM sources WHERE path = ?",
                                    (path,)).fetchone()
        return None if row is None else {"fingerprint": row[0], "offset": row[1], "done_t": row[2],
                                         "finished": bool(row[3])}

    def set_source(self, path: str, fingerprint: str, offset: float, done_t: float, finished: bool) -> None:
        with self._lock:
            self._con.execute("INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?)",
                              (path, fingerprint, offset, done_t, int(finished)))

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (it is otherwise left to grow to ~4 MB)."""
        with self._lock:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        if self._lockfile is None:  # a reader
            self._con.close()
            return
        try:
            self.checkpoint()
        except sqlite3.Error as exc:  # a full disk: what was committed stays in the log, read again on
            # the next open; the memory is released all the same (else it stays locked until a restart)
            log.warning("memory %s: write-ahead log not folded in at close: %s", self.dir, exc)
        with self._lock:
            self._con.close()
        self._lockfile.close()

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob(DB_NAME + "*"))


class SQLiteMemories:
    """The memories under one directory, one subdirectory each (a server token's key): the same
    calls as ``PostgresMemories``."""

    def __init__(self, root: str | Path) -> None:
        self.root = private_dir(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def where(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return (self.root / name).is_dir()

    def create(self, name: str) -> None:
        (self.root / name).mkdir(mode=0o700)  # 0700 & ~umask: never wider

    def count(self) -> int:
        return sum(1 for p in self.root.iterdir() if p.is_dir())

    @contextmanager
    def reader(self, name: str) -> Iterator[SQLiteMemoryDB | None]:
        """Memory ``name`` to read while another connection may write it; None before its first write."""
        if not (self.root / name / DB_NAME).exists():
            yield None
            return
        db = SQLiteMemoryDB.reader(self.root / name)
        try:
            yield db
        finally:
            db.close()

    def touch(self, name: str) -> None:
        """Memory ``name`` is in use now (token expiry counts from its last use)."""
        os.utime(self.root / name)

    def unused_since(self, t: float) -> list[str]:
        """The memories not used since time ``t`` (Unix seconds)."""
        return [p.name for p in self.root.iterdir() if p.is_dir() and p.stat().st_mtime < t]

    def drop(self, name: str) -> None:
        """Delete memory ``name`` and every file in it."""
        shutil.rmtree(self.root / name, ignore_errors=True)

    def close(self) -> None:
        """Nothing is held open between memories."""
