"""Forgetting on request and pausing memory (issue 13, part): real speech through the real VAD and
ASR into a persistent memory; a spoken "delete what I said about the dentist" and `omnilive forget`
remove what they name from recall, from answers and from the bytes on disk, and leave the rest."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import psycopg

from helpers import live, load, mix, say_until_heard, utterance_after
from omnilive.memory.store import MemoryStore
from omnilive.reasoning.heard import note_of, recall_heard
from omnilive.reasoning.privacy import confirmation, forget_request
from omnilive.runtime.asking import ask_memory


def disk(mem, postgres) -> bytes:
    """The bytes the memory is kept in: its SQLite files, or the files of its PostgreSQL partitions
    (tables, their indexes and TOAST; other tests' memories share the server)."""
    if mem.kind == "sqlite":
        return b"".join(p.read_bytes() for p in mem.where.iterdir() if p.is_file()).lower()
    with psycopg.connect(mem.url, autocommit=True) as con:
        con.execute("CHECKPOINT")  # the table files on disk catch up with the buffers
        mid = con.execute("SELECT id FROM memories WHERE name = %s", (mem.where,)).fetchone()[0]
        own = "SELECT oid FROM pg_class WHERE relname ~ %s"
        rels = con.execute(f"""WITH t AS ({own}), toast AS (SELECT reltoastrelid AS oid FROM pg_class
                                   WHERE oid IN (SELECT oid FROM t) AND reltoastrelid <> 0)
                               SELECT pg_relation_filepath(oid) FROM (SELECT oid FROM t UNION SELECT oid FROM toast
                                   UNION SELECT indexrelid FROM pg_index WHERE indrelid IN
                                   (SELECT oid FROM t UNION SELECT oid FROM toast)) r""", (f"_{mid}$",)).fetchall()
    files = [p for (rel,) in rels for p in postgres.data.glob(rel + "*")]
    assert len(files) >= 10, files  # five tables at least, with their indexes
    return b"".join(p.read_bytes() for p in files).lower()


async def speak(session, audio, t0: float) -> float:
    for i in range(0, len(audio), 1600):
        await session.put_audio(t0 + i / 16000, audio[i:i + 1600])
    return t0 + len(audio) / 16000


def test_spoken_forget_and_pause_and_the_cli_forget(models, settings, evaldata, mem, request):
    printing = load(evaldata, "speech/en/wav16k/en_ljspeech_LJ001-0001.wav")
    cotton = load(evaldata, "speech/en/wav16k/en_librispeech_1995-1837-0001.wav")
    harvard = load(evaldata, "speech/en/wav16k/en_harvard_spk1_snt1.wav")
    async def run():
        store = MemoryStore.open(mem.where, models.visual, mem.cfg, models.text_embedding)
        session, rec = await live(models, settings, "forget", memory=store)
        t = await speak(session, mix(26.0, [(0.5, printing), (12.0, cotton)]), 0.0)
        await utterance_after(rec, 11.0)  # the cotton talk is in (ASR runs behind the audio)
        t, note = await say_until_heard(session, rec, models.tts, "Remember that my dentist appointment is on Tuesday "
                                        "at three.", lambda x: "dentist" in (note_of(x) or "").lower(), t)
        await rec.wait_for("answer", turn_id=note.turn_id, timeout=120)  # the note is confirmed
        assert any(h.kind == "note" for h in rec.of("heard"))
        paused = await session.ask("Stop remembering.", speak=False)
        await rec.wait_for("answer", turn_id=paused, timeout=60)
        start = t
        t = await speak(session, mix(len(harvard) / 16000 + 2, [(0.3, harvard)]), t)  # heard, not kept
        await utterance_after(rec, start)
        resumed = await session.ask("Start remembering again.", speak=False)
        await rec.wait_for("answer", turn_id=resumed, timeout=60)
        t, forget = await say_until_heard(session, rec, models.tts, "Delete what I said about the dentist.",
                                          lambda x: "dentist" in getattr(forget_request(x), "about", ""), t)
        asked = await rec.wait_for("answer", turn_id=forget.turn_id, timeout=120)  # a voice in the room: asked back
        assert "yes" in asked.text.lower() and not rec.of("memory_forgotten"), asked.text
        t, yes = await say_until_heard(session, rec, models.tts, "Yes, do it.", lambda x: confirmation(x) is True, t)
        await rec.wait_for("answer", turn_id=yes.turn_id, timeout=120)  # done, and said
        await session.close()
        store.close()
        return rec

    rec = asyncio.run(run())
    said = [a.text for a in rec.of("answer")]
    assert any("not remembering" in a for a in said) and any("remembering again" in a for a in said), said
    assert "forgotten" in said[-1].lower() and "dentist" in said[-1].lower(), said
    assert [e.remembering for e in rec.of("memory_state")] == [False, True]
    forgotten = rec.of("memory_forgotten")
    assert forgotten and forgotten[-1].about.endswith("dentist") and forgotten[-1].counts["heard"] >= 2

    store = MemoryStore.open(mem.where, models.visual, mem.cfg, models.text_embedding)
    try:
        texts = [i.text.lower() for i in store.heard.items]
        assert not any("dentist" in x for x in texts), texts  # the note and what was said about it
        assert not any("birch" in x or "canoe" in x for x in texts), texts  # said while paused: never kept
        assert any("printing" in x for x in texts) and any("cotton" in x for x in texts), texts  # the rest stays
        assert "tuesday" not in ask_memory(models, settings, store, "When is my dentist appointment?").answer.lower()
    finally:
        store.close()
    postgres = request.getfixturevalue("postgres") if mem.kind == "postgresql" else None
    kept = disk(mem, postgres)
    assert b"dentist" not in kept  # nor its bytes on disk (FTS index and WAL included) ...
    assert b"cotton" in kept  # ... where what was not forgotten still is

    # `omnilive forget` a range (stream seconds): the printing talk goes, the cotton talk stays
    env = {**os.environ, **({"OMNILIVE_MEMORY__URL": mem.url} if mem.url else {})}
    proc = subprocess.run([sys.executable, "-m", "omnilive", "forget", "--memory", str(mem.where), "--start", "0",
                           "--end", "11", "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["deleted"]["heard"] >= 1
    store = MemoryStore.open(mem.where, models.visual, mem.cfg, models.text_embedding)
    try:
        assert not [i for i, _ in recall_heard(store, "What did someone say about printing?", 3)
                    if "printing" in i.text.lower()]
        assert any("cotton" in i.text.lower() for i, _ in recall_heard(store, "What did he say about cotton?", 3))
    finally:
        store.close()
    assert b"printing, in the only sense" not in disk(mem, postgres)
