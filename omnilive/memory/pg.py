"""Memory in PostgreSQL (``memory.url = "postgresql://..."``): many memories in one database, so
any server process can reach any user's memory, and front ends keep nothing on their own disk.

The same ``MemoryDB`` protocol as the SQLite store (memory/db.py, memory/sqlite.py), row for row the
same encoding (memory/rows.py), every table keyed by the memory's id. What differs, and why:

* **One writer per memory, across processes**: a session-level advisory lock on the memory's name,
  held by the store's connection for as long as it is open (released by PostgreSQL when the
  connection or process dies, so a crash never leaves a stale lock). A second open, in any process,
  gets ``MemoryLocked``, as a second SQLite open gets it from ``flock``.
* **Vectors are ``bytea``, ranked in numpy**: the store loads one user's clips, episodes and heard
  vectors into RAM when it opens their memory (as with SQLite), and a brute-force dot product over
  a day of them takes about a millisecond (bench/memory_bench.py). pgvector would only pay off for
  a search across users or a memory larger than RAM; Debian's PostgreSQL 15 does not ship it.
* **Search of what was heard**: a ``tsvector`` of the words ('simple' configuration: no stemming
  or stop words, as SQLite's trigram index) with prefix matching, ranked by ``ts_rank``; loose
  matches of long words by their trigrams with ``LIKE`` (a ``pg_trgm`` GIN index speeds it up
  where the extension is installed).
* **Each memory has its own partition** of the five tables a forget deletes from (``PARTITION BY
  LIST (memory_id)``, made when the memory is first opened), so a query touches one user's rows
  and erasing them rewrites one user's partition.
* **Forgetting**: deleted in one transaction, then the partitions it touched are rewritten
  (``VACUUM FULL``): a plain VACUUM frees a dead row's space but leaves its bytes in the page, and a
  GIN index keeps a deleted word's key. tests/test_forget.py greps the database's files for what
  was forgotten. PostgreSQL's write-ahead log and any backups keep them until
  they are recycled: a deployment that must prove erasure sets its WAL retention and backup policy
  accordingly (docs/SCALING.md).
* **Schema migrations** are versioned in ``omnilive_schema`` and applied in order, under a
  transaction-level advisory lock so two processes starting at once do not race.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from contextlib import ExitStack, contextmanager
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..events import ClipMemory, GroundedClip, HeardItem
from .longterm import Episode
from .errors import MemoryLocked
from .rows import (
    HEARD_COLUMNS, TURN_COLUMNS, check_identity, clip_of, clip_row, episode_of, episode_row, heard_of, heard_row,
    stats_of, timeline, turn_of, turn_row,
)
from ..redaction import redact
from .textmatch import MENTIONED, add_fuzzy, like_share, mentioning, word_grams

log = logging.getLogger(__name__)
LOCK_SPACE = "omnilive:"  # advisory lock keys: hashtextextended(LOCK_SPACE || name, 0)
MIGRATE_LOCK = 0x6F6D6E69  # "omni": held while migrations run

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE memories (id BIGSERIAL PRIMARY KEY, name TEXT UNIQUE NOT NULL, created DOUBLE PRECISION NOT NULL);
CREATE TABLE meta (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, key TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (memory_id, key));
CREATE TABLE clips (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, id BIGINT NOT NULL,
    start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, n_frames INTEGER NOT NULL, labels TEXT NOT NULL,
    text TEXT NOT NULL, vector BYTEA NOT NULL, tokens BYTEA NOT NULL, tokens_shape TEXT NOT NULL,
    keyframe BYTEA NOT NULL, concepts TEXT NOT NULL, PRIMARY KEY (memory_id, id)) PARTITION BY LIST (memory_id);
CREATE TABLE episodes (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, id BIGINT NOT NULL,
    start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, n_clips INTEGER NOT NULL,
    n_frames INTEGER NOT NULL, labels TEXT NOT NULL, concepts TEXT NOT NULL, text TEXT NOT NULL,
    vectors BYTEA NOT NULL, n_vectors INTEGER NOT NULL, tokens BYTEA NOT NULL, tokens_shape TEXT NOT NULL,
    keyframe BYTEA NOT NULL, first_clip BIGINT NOT NULL, last_clip BIGINT NOT NULL, PRIMARY KEY (memory_id, id))
    PARTITION BY LIST (memory_id);
CREATE TABLE turns (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, id BIGSERIAL,
    start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, wall DOUBLE PRECISION NOT NULL,
    heard TEXT NOT NULL, language TEXT NOT NULL, source TEXT NOT NULL, for_assistant INTEGER NOT NULL,
    answer TEXT NOT NULL, state TEXT NOT NULL, grounding TEXT NOT NULL, PRIMARY KEY (memory_id, id))
    PARTITION BY LIST (memory_id);
CREATE TABLE heard (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, id BIGINT NOT NULL,
    start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    labels TEXT NOT NULL, speaker TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, language TEXT NOT NULL,
    vector BYTEA, words TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    PRIMARY KEY (memory_id, id)) PARTITION BY LIST (memory_id);
CREATE INDEX heard_words ON heard USING GIN (words);
CREATE TABLE heard_episodes (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE,
    id BIGSERIAL, start DOUBLE PRECISION NOT NULL, "end" DOUBLE PRECISION NOT NULL,
    n_items INTEGER NOT NULL, summary TEXT NOT NULL, PRIMARY KEY (memory_id, id)) PARTITION BY LIST (memory_id);
CREATE TABLE watches (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL, thing TEXT NOT NULL, said TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
    active INTEGER NOT NULL);
CREATE TABLE sources (memory_id BIGINT NOT NULL REFERENCES memories ON DELETE CASCADE, path TEXT NOT NULL,
    fingerprint TEXT NOT NULL, "offset" DOUBLE PRECISION NOT NULL, done_t DOUBLE PRECISION NOT NULL,
    finished INTEGER NOT NULL, PRIMARY KEY (memory_id, path));
"""),
    (2, "ALTER TABLE watches ADD COLUMN expires DOUBLE PRECISION"),  # "... in the next ten minutes"
    (3, "ALTER TABLE memories ADD COLUMN used DOUBLE PRECISION"),  # token expiry (server/sessions.py)
    (4, "ALTER TABLE heard ADD COLUMN voice INTEGER NOT NULL DEFAULT 0"),  # who spoke (memory/speakers.py)
]
_TRGM = "CREATE INDEX IF NOT EXISTS heard_trgm ON heard USING GIN (lower(text) gin_trgm_ops)"
# what a forget deletes from; each is partitioned by memory, so erasing one user's rows rewrites
# only that user's partition
_TABLES = ("clips", "episodes", "turns", "heard", "heard_episodes")
_STATS = """SELECT (SELECT count(*) FROM clips WHERE memory_id = %(m)s), (SELECT count(*) FROM episodes WHERE memory_id = %(m)s),
    (SELECT count(*) FROM heard WHERE memory_id = %(m)s),
    greatest((SELECT max("end") FROM clips WHERE memory_id = %(m)s), (SELECT max("end") FROM episodes WHERE memory_id = %(m)s),
             (SELECT max("end") FROM heard WHERE memory_id = %(m)s), 0),
    greatest((SELECT max(id) + 1 FROM clips WHERE memory_id = %(m)s),
             (SELECT max(last_clip) + 1 FROM episodes WHERE memory_id = %(m)s), 0)"""
_KEYFRAME_AT = """SELECT keyframe FROM (
    SELECT keyframe, 0 AS k FROM clips WHERE memory_id = %(m)s AND start - 0.5 <= %(t)s AND "end" + 0.5 >= %(t)s
        AND length(keyframe) > 0
    UNION ALL SELECT keyframe, 1 FROM episodes WHERE memory_id = %(m)s AND start - 0.5 <= %(t)s AND "end" + 0.5 >= %(t)s
        AND length(keyframe) > 0) AS f ORDER BY k LIMIT 1"""


# clips are deleted as they are consolidated into episodes: their space (key frames and tokens, in
# TOAST) is vacuumed for reuse every couple of hundred clips, not at PostgreSQL's default 20 % of the table
_CHURN = ("WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 200, "
          "toast.autovacuum_vacuum_scale_factor = 0, toast.autovacuum_vacuum_threshold = 200)")


def _partitions(con, memory_id: int) -> None:
    """This memory's own partition of each table (made when it is first opened)."""
    for table in _TABLES:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table}_{int(memory_id)} PARTITION OF {table} "
                    f"FOR VALUES IN ({int(memory_id)}) {_CHURN if table == 'clips' else ''}")


def _connect(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="omnilive")
    except psycopg.OperationalError as exc:
        raise ConnectionError(f"PostgreSQL at {redact(url)} is not reachable ({_first_line(exc)}); start it or "
                              "fix memory.url") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def migrate(con) -> int:
    """Bring the database's schema up to date; returns its version."""
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        con.execute("CREATE TABLE IF NOT EXISTS omnilive_schema (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ "
                    "NOT NULL DEFAULT now())")
        have = before = con.execute("SELECT coalesce(max(version), 0) FROM omnilive_schema").fetchone()[0]
        for version, sql in MIGRATIONS:
            if version > have:
                con.execute(sql)
                con.execute("INSERT INTO omnilive_schema (version) VALUES (%s)", (version,))
                log.info("memory database migrated to schema %d", version)
                have = version
    if have == before:
        return have
    try:  # optional, tried once per upgrade: loose matching of names stays correct without it, only slower
        with con.transaction():
            con.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            con.execute(_TRGM)
    except Exception as exc:  # noqa: BLE001 - any failure here leaves a working (slower) store
        log.info("pg_trgm not available (%s): loose matches of heard words scan the memory's rows", _first_line(exc))
    return have


class PostgresMemories:
    """The memories in one PostgreSQL database, by name (a CLI ``--memory NAME``, a server token's
    key), on a small pool of connections checked before each use (a connection the server dropped
    is replaced), shared by the server's token checks and its reads of memories not live."""

    def __init__(self, url: str, size: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self._pool = ConnectionPool(url, min_size=1, max_size=size, open=False, check=ConnectionPool.check_connection,
                                    kwargs={"autocommit": True, "connect_timeout": 10, "application_name": "omnilive"})
        con = _connect(url)  # a clear error when the database is down
        try:
            migrate(con)
        finally:
            con.close()
        self._pool.open(wait=True, timeout=15)

    def _query(self, sql: str, params: tuple = ()):
        with self._pool.connection(timeout=30) as con:
            cur = con.execute(sql, params)
            return cur.fetchall() if cur.description else []

    @contextmanager
    def reader(self, name: str) -> Iterator["PostgresMemoryDB"]:
        """Memory ``name`` to read on a pooled connection while its writer may be live elsewhere:
        no lock, no migration, nothing loaded into RAM."""
        with self._pool.connection(timeout=30) as con:
            yield PostgresMemoryDB.reading(con, name)

    def touch(self, name: str) -> None:
        self._query("UPDATE memories SET used = %s WHERE name = %s", (time.time(), name))

    def unused_since(self, t: float) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM memories WHERE coalesce(used, created) < %s", (t,))]

    @property
    def location(self) -> str:
        """Where the memories are, for a log line (the URL without its password)."""
        return redact(self.url)

    def where(self, name: str) -> str:
        """What ``MemoryStore.open`` takes for memory ``name`` (with ``memory.url`` set)."""
        return name

    def exists(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM memories WHERE name = %s", (name,)))

    def create(self, name: str) -> None:
        self._query("INSERT INTO memories (name, created) VALUES (%s, %s)", (name, time.time()))

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM memories")[0][0])

    def drop(self, name: str) -> None:
        """Delete a memory and everything in it: its partitions, then its rows elsewhere."""
        for (memory_id,) in self._query("SELECT id FROM memories WHERE name = %s", (name,)):
            for table in _TABLES:
                self._query(f"DROP TABLE IF EXISTS {table}_{int(memory_id)}")
        self._query("DELETE FROM memories WHERE name = %s", (name,))

    def close(self) -> None:
        self._pool.close()


class PostgresMemoryDB:
    """One memory in PostgreSQL, open for writing by this process alone (see the module docstring)."""

    persistent = True

    def __init__(self, url: str, name: str, encoder_id: str, dim: int) -> None:
        self.name, self.url = name, url
        self._deleted: set[str] = set()  # tables rows were deleted from since the last scrub
        self._con = _connect(url)
        self._lock = threading.Lock()  # one connection, used from the encoder thread and readers
        try:
            migrate(self._con)
            locked = self._con.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                       (LOCK_SPACE + name,)).fetchone()[0]
            if not locked:
                raise MemoryLocked(f"memory {name!r} is in use by another process (a live session or an ingest); "
                                   "stop it first, or use another --memory name")
            self._con.execute("INSERT INTO memories (name, created) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                              (name, time.time()))
            self.memory_id = self._con.execute("SELECT id FROM memories WHERE name = %s", (name,)).fetchone()[0]
            _partitions(self._con, self.memory_id)
            check_identity(self, f"memory {name!r}", encoder_id, dim)
        except BaseException:
            self._con.close()  # also releases the advisory lock
            raise

    @classmethod
    def reading(cls, con, name: str) -> "PostgresMemoryDB":
        """Memory ``name`` read on ``con`` (a pooled connection the caller gives back)."""
        db = cls.__new__(cls)
        db.name, db.url, db._con, db._lock, db._deleted = name, None, con, threading.Lock(), set()
        row = con.execute("SELECT id FROM memories WHERE name = %s", (name,)).fetchone()
        db.memory_id = row[0] if row else -1
        return db

    def _connected(self, use):
        """``use(connection)``; when the server dropped the writer's connection (a restart, a
        failover, an idle timeout: it shows at the next statement), once more on a new one that
        takes this memory's lock again before anything is written."""
        import psycopg

        try:
            return use(self._con)
        except psycopg.OperationalError:
            if self.url is None or not (self._con.broken or self._con.closed):
                raise
        log.warning("memory %r: the PostgreSQL connection was lost; reconnecting", self.name)
        self._con.close()
        self._con = _connect(self.url)
        if not self._con.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                 (LOCK_SPACE + self.name,)).fetchone()[0]:
            raise MemoryLocked(f"memory {self.name!r} was taken by another process while its connection was down")
        return use(self._con)

    def _run(self, sql: str, params: tuple | list = ()):
        """``sql`` whose first parameter is this memory's id."""
        with self._lock:
            return self._connected(lambda con: con.execute(sql, (self.memory_id, *params)))

    def _run_raw(self, sql: str, params: tuple):
        with self._lock:
            return self._connected(lambda con: con.execute(sql, params))

    @contextmanager
    def _transaction(self):
        with self._lock, ExitStack() as stack:  # (BEGIN is where a dropped connection shows)
            yield self._connected(lambda con: (stack.enter_context(con.transaction()), con)[1])

    def stats(self) -> dict[str, float]:
        """What ``MemoryStore.stats`` says, counted in SQL (nothing loaded)."""
        row = self._run_raw(_STATS, {"m": self.memory_id}).fetchone()
        return stats_of(row, self.size_bytes())

    def keyframe_at(self, t: float) -> bytes | None:
        row = self._run_raw(_KEYFRAME_AT, {"m": self.memory_id, "t": t}).fetchone()
        return bytes(row[0]) if row else None

    def items(self, limit: int = 60, before: float | None = None) -> list[GroundedClip]:
        """As ``MemoryStore.items`` (the page's timeline), read in place."""
        b, dim = float("inf") if before is None else before, int(self.meta()["dim"])
        clips = [clip_of(r[1:]) for r in self._run("SELECT * FROM clips WHERE memory_id = %s AND start < %s "
                                                   "ORDER BY start DESC LIMIT %s", (b, limit)).fetchall()]
        eps = [episode_of(r[1:], dim) for r in self._run("SELECT * FROM episodes WHERE memory_id = %s AND start < %s "
                                                         "ORDER BY start DESC LIMIT %s", (b, limit)).fetchall()]
        return timeline(clips, eps, limit)

    def heard_latest(self, limit: int, before: float | None = None) -> list[HeardItem]:
        """As ``MemoryStore.heard_latest``, read in place."""
        rows = self._run(f"SELECT {HEARD_COLUMNS} FROM heard WHERE memory_id = %s AND kind IN ('speech', 'sound', "
                         "'note') AND start <= %s ORDER BY start DESC, id DESC LIMIT %s",
                         (float("inf") if before is None else before, limit)).fetchall()
        return [heard_of(r)[0] for r in rows[::-1]]

    # ---- meta ---------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._run("SELECT key, value FROM meta WHERE memory_id = %s").fetchall()}

    def set_meta(self, **values: Any) -> None:
        with self._transaction() as con:
            self._put_meta(con, values)

    def _put_meta(self, con, values: dict[str, Any]) -> None:
        con.cursor().executemany("INSERT INTO meta VALUES (%s, %s, %s) ON CONFLICT (memory_id, key) DO UPDATE SET value = "
                        "EXCLUDED.value", [(self.memory_id, k, json.dumps(v)) for k, v in values.items()])

    # ---- clips and episodes -------------------------------------------------------------------

    def add_clip(self, c: ClipMemory, wall_end: float, source: tuple[str, str, float, float] | None = None) -> None:
        with self._transaction() as con:
            self._put_meta(con, {"wall_end": wall_end})
            if source is not None:
                self._put_source(con, (*source, False))
            con.execute("INSERT INTO clips VALUES (%s" + ",%s" * 11 + ")", (self.memory_id, *clip_row(c)))

    def add_episode(self, e: Episode, clip_ids: list[int]) -> None:
        with self._transaction() as con:
            con.execute("INSERT INTO episodes VALUES (%s" + ",%s" * 15 + ")", (self.memory_id, *episode_row(e)))
            con.execute("DELETE FROM clips WHERE memory_id = %s AND id = ANY(%s)", (self.memory_id, clip_ids))

    def load(self, dim: int) -> tuple[list[ClipMemory], list[Episode]]:
        clip_rows = self._run("SELECT * FROM clips WHERE memory_id = %s ORDER BY id").fetchall()
        ep_rows = self._run("SELECT * FROM episodes WHERE memory_id = %s ORDER BY id").fetchall()
        return [clip_of(r[1:]) for r in clip_rows], [episode_of(r[1:], dim) for r in ep_rows]

    def delete_between(self, start: float, end: float) -> dict[str, int]:
        counts = {}
        with self._transaction() as con:
            for table in _TABLES:
                cur = con.execute(f'DELETE FROM {table} WHERE memory_id = %s AND "end" >= %s AND start <= %s',
                                  (self.memory_id, start, end))
                counts[table] = cur.rowcount
                if cur.rowcount:
                    self._deleted.add(table)
            counts["watches"] = con.execute("DELETE FROM watches WHERE memory_id = %s AND active = 0 AND created "
                                            "BETWEEN %s AND %s", (self.memory_id, start, end)).rowcount
        return counts

    def scrub(self) -> None:
        """After a forget: this memory's partitions rows were deleted from are rewritten (``VACUUM
        FULL``), since PostgreSQL leaves a deleted row's bytes in its page, and its text in a GIN
        index, until the space is reused. Only this user's rows are rewritten, and only this user
        waits (bench/scale_bench.py); the write-ahead log is the deployment's to manage."""
        self.compact(sorted(self._deleted))
        self._deleted.clear()

    def compact(self, tables: "list[str] | tuple[str, ...]" = _TABLES) -> None:
        """Rewrite this memory's partitions of ``tables`` to hold only their live rows."""
        with self._lock:
            for table in tables:
                self._connected(lambda con, t=table: con.execute(f"VACUUM FULL {t}_{int(self.memory_id)}"))

    def delete_heard_items(self, ids: list[int], words: list[str]) -> dict[str, int]:
        """As SQLite's: ILIKE finds candidates, ``mentions`` keeps those that say the word."""
        counts = {}
        with self._transaction() as con:
            con.execute("DELETE FROM heard WHERE memory_id = %s AND id = ANY(%s)", (self.memory_id, ids))
            self._deleted.add("heard")
            for table, cols, where in MENTIONED:
                like = " OR ".join(f"{c} ILIKE ANY(%s)" for c in cols) if words else "false"
                rows = con.execute(f"SELECT id, {', '.join(cols)} FROM {table} WHERE memory_id = %s AND ({like}){where}",
                                   (self.memory_id, *[[f"%{w}%" for w in words]] * (len(cols) if words else 0))).fetchall()
                gone = mentioning(rows, words)
                con.execute(f"DELETE FROM {table} WHERE memory_id = %s AND id = ANY(%s)", (self.memory_id, gone))
                counts[table] = len(gone)
                if gone and table in _TABLES:
                    self._deleted.add(table)
        return counts

    # ---- heard memory -------------------------------------------------------------------------

    def add_heard(self, item: HeardItem, vector: np.ndarray | None) -> None:
        self._run(f"INSERT INTO heard (memory_id, {HEARD_COLUMNS}) VALUES (%s" + ",%s" * 11 + ")",
                  heard_row(item, vector))

    def update_heard(self, item: HeardItem) -> None:
        self._run_raw('UPDATE heard SET "end" = %s, score = %s WHERE memory_id = %s AND id = %s',
                      (item.end, item.score, self.memory_id, item.item_id))

    def add_heard_episode(self, start: float, end: float, n_items: int, summary: str) -> None:
        self._run('INSERT INTO heard_episodes (memory_id, start, "end", n_items, summary) VALUES (%s,%s,%s,%s,%s)',
                  (start, end, n_items, summary))

    def heard_episodes(self) -> list[tuple[float, float, int, str]]:
        return [tuple(r) for r in self._run('SELECT start, "end", n_items, summary FROM heard_episodes '
                                            "WHERE memory_id = %s ORDER BY start").fetchall()]

    def delete_heard_between(self, start: float, end: float) -> None:
        self._deleted.add("heard")
        self._run('DELETE FROM heard WHERE memory_id = %s AND "end" >= %s AND start <= %s', (start, end))

    def delete_heard(self, item_id: int) -> None:
        self._deleted.add("heard")
        self._run("DELETE FROM heard WHERE memory_id = %s AND id = %s", (item_id,))

    def heard_items(self) -> list[tuple[HeardItem, np.ndarray | None]]:
        rows = self._run(f"SELECT {HEARD_COLUMNS} FROM heard WHERE memory_id = %s ORDER BY start, id").fetchall()
        return [heard_of(r) for r in rows]

    def heard_match(self, words: list[str], limit: int = 50) -> list[tuple[int, float]]:
        """The words (each also as a prefix: "print" finds "printing"), ranked by ``ts_rank``, then
        loose matches of long words by their trigrams at half weight (textmatch.add_fuzzy)."""
        terms = [t for t in (re.sub(r"[^\w]", "", w.lower()) for w in words) if t]
        scores: dict[int, float] = {}
        if terms:
            rows = self._run_raw(
                "SELECT id, ts_rank(words, q) AS r FROM heard, to_tsquery('simple', %s) q "
                "WHERE memory_id = %s AND words @@ q ORDER BY r DESC LIMIT %s",
                (" | ".join(f"{t}:*" for t in terms), self.memory_id, limit)).fetchall()
            best = max((r[1] for r in rows), default=0.0)
            scores = {r[0]: (r[1] / best) if best > 0 else 1.0 for r in rows}
        grams = word_grams(terms)
        if grams:
            patterns = sorted({f"%{g}%" for gs in grams.values() for g in gs})
            rows = self._run_raw("SELECT id, text FROM heard WHERE memory_id = %s AND lower(text) LIKE ANY(%s) LIMIT %s",
                                 (self.memory_id, patterns, 4 * limit)).fetchall()
            add_fuzzy(scores, grams, rows)
        return sorted(scores.items(), key=lambda p: -p[1])[:limit]

    def heard_like(self, grams: list[str], limit: int = 50) -> list[tuple[int, float]]:
        grams = grams[:12]
        rows = self._run_raw("SELECT id, text FROM heard WHERE memory_id = %s AND text LIKE ANY(%s) LIMIT %s",
                             (self.memory_id, [f"%{g}%" for g in grams], limit)).fetchall()
        return like_share(grams, rows)

    # ---- watches ------------------------------------------------------------------------------

    def add_watch(self, kind: str, thing: str, said: str, created: float, expires: float | None = None) -> int:
        return int(self._run("INSERT INTO watches (memory_id, kind, thing, said, created, active, expires) "
                             "VALUES (%s,%s,%s,%s,%s,1,%s) RETURNING id", (kind, thing, said, created, expires)).fetchone()[0])

    def end_watch(self, watch_id: int) -> None:
        self._run("UPDATE watches SET active = 0 WHERE memory_id = %s AND id = %s", (watch_id,))

    def watches(self) -> list[tuple[int, str, str, str, float, float | None]]:
        return [tuple(r) for r in self._run("SELECT id, kind, thing, said, created, expires FROM watches "
                                            "WHERE memory_id = %s AND active = 1 ORDER BY id").fetchall()]

    # ---- the conversation log -----------------------------------------------------------------

    def add_turn(self, turn: dict[str, Any]) -> int:
        return int(self._run(f"INSERT INTO turns (memory_id, {TURN_COLUMNS}) VALUES (%s" + ",%s" * 10 + ") RETURNING id",
                             turn_row(turn)).fetchone()[0])

    def set_turn_state(self, turn_id: int, state: str) -> None:
        self._run_raw("UPDATE turns SET state = %s WHERE memory_id = %s AND id = %s", (state, self.memory_id, turn_id))

    def delete_turn(self, turn_id: int) -> None:
        self._deleted.add("turns")
        self._run("DELETE FROM turns WHERE memory_id = %s AND id = %s", (turn_id,))

    def turns(self, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        rows = self._run(f"SELECT id, {TURN_COLUMNS} FROM turns WHERE memory_id = %s AND id < %s "
                         "ORDER BY id DESC LIMIT %s", (before or 2**62, limit)).fetchall()
        return [turn_of(r) for r in rows[::-1]]

    # ---- ingested files -----------------------------------------------------------------------

    def source(self, path: str) -> dict[str, Any] | None:
        row = self._run('SELECT fingerprint, "offset", done_t, finished FROM sources WHERE memory_id = %s AND path = %s',
                        (path,)).fetchone()
        return None if row is None else {"fingerprint": row[0], "offset": row[1], "done_t": row[2],
                                         "finished": bool(row[3])}

    def set_source(self, path: str, fingerprint: str, offset: float, done_t: float, finished: bool) -> None:
        with self._transaction() as con:
            self._put_source(con, (path, fingerprint, offset, done_t, finished))

    def _put_source(self, con, row: tuple) -> None:
        path, fingerprint, offset, done_t, finished = row
        con.execute('INSERT INTO sources VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (memory_id, path) DO UPDATE SET '
                    'fingerprint = EXCLUDED.fingerprint, "offset" = EXCLUDED."offset", done_t = EXCLUDED.done_t, '
                    "finished = EXCLUDED.finished", (self.memory_id, path, fingerprint, offset, done_t, int(finished)))

    def checkpoint(self) -> None:
        """(SQLite folds its write-ahead log here; PostgreSQL manages its own.)"""

    def close(self) -> None:
        if self.url is None:  # a reader: its pooled connection goes back to the pool
            return
        with self._lock:
            try:  # released here, not when the server's backend has exited after the close: a
                # reopen right after (a restart, the next page) would find it still held
                self._con.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (LOCK_SPACE + self.name,))
            except Exception:  # noqa: BLE001 - a dropped connection: the lock went with it
                pass
            self._con.close()  # ends the session: the advisory lock goes with it

    def size_bytes(self) -> int:
        """This memory's partitions on disk (indexes and TOAST included), plus its rows elsewhere."""
        parts = " + ".join(f"coalesce(pg_total_relation_size(to_regclass('{t}_{int(self.memory_id)}')), 0)"
                           for t in _TABLES)
        rest = " + ".join(f"(SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {t} t WHERE memory_id = %(m)s)"
                          for t in ("watches", "meta", "sources"))
        with self._lock:
            return int(self._connected(lambda con: con.execute(f"SELECT {parts} + {rest}", {"m": self.memory_id}))
                       .fetchone()[0])
