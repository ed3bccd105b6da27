"""Secrets stay secret: tokens, passwords and API keys never reach a log line (from any logger,
through any handler) or an error text; a user never sees the address of a model server; and a
memory on disk is readable by its owner only."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import os
import stat
from pathlib import Path

import pytest
from helpers import free_port, live, llm_phrases

from omnilive.backends.base import ModelUnavailable
from omnilive.backends.llm import LLMError, OpenAICompatLLM
from omnilive.redaction import install_log_redaction, redact

SECRET = "s3cr3tXYZ"


@pytest.fixture
def root_log():
    """Everything logged at INFO and up, as a real StreamHandler on the root logger writes it."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buf
    root.removeHandler(handler)
    root.setLevel(level)


# ---- 1: every logger, every handler ----------------------------------------------------------


def test_records_of_child_and_foreign_loggers_are_redacted_through_real_handlers(root_log):
    install_log_redaction()
    logging.getLogger("omnilive.server.app").info("socket /ws?token=%s opened", SECRET)
    logging.getLogger("omnilive.memory.pg").warning("memory at postgresql://me:%s@db:5432/x" % SECRET)
    logging.getLogger("httpx").info("HTTP Request: POST %s", f"http://u:{SECRET}@llm:8000/v1?api_key={SECRET}")
    try:
        raise ConnectionError(f"refused: Authorization: Bearer {SECRET}")
    except ConnectionError:
        logging.getLogger("omnilive.runtime.speaking").exception("answer failed")
    text = root_log.getvalue()
    assert "socket /ws?token=*** opened" in text and "postgresql://me:***@db:5432/x" in text
    assert "Traceback" in text and "ConnectionError" in text and SECRET not in text

    # uvicorn's access log: its own handler and formatter, which unpacks the record's args
    from uvicorn.logging import AccessFormatter

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    access = logging.getLogger("uvicorn.access")
    level, access.level = access.level, logging.INFO
    access.addHandler(handler)
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/api/memory?token={SECRET}", "1.1", 200)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert buf.getvalue().strip() == '127.0.0.1:5000 - "GET /api/memory?token=*** HTTP/1.1" 200 OK'


def test_an_api_key_never_reaches_a_log_line_or_an_error(settings, root_log):
    install_log_redaction()
    key = "sk-live-" + SECRET
    cfg = settings.model_copy(update={"llm": settings.llm.model_copy(update={
        "backend": "openai", "url": f"http://me:pw-{SECRET}@127.0.0.1:{free_port()}/v1", "api_key": key})})
    assert key not in repr(cfg) and key not in str(cfg.llm)
    with pytest.raises(ModelUnavailable) as at_start:  # the operator's console at start-up
        OpenAICompatLLM.load(cfg)
    llm = OpenAICompatLLM(cfg)
    llm.retries = 0
    with pytest.raises(LLMError) as failed:
        list(llm.stream([], max_tokens=1))
    for text in (str(at_start.value), str(failed.value), repr(llm._server), OpenAICompatLLM.source(cfg)):
        assert "127.0.0.1" in text and SECRET not in text, text
    log = logging.getLogger("omnilive.backends.llm")
    log.info("settings %s", cfg)
    log.info("the server echoed %r", {"headers": {"authorization": key}})  # a key in no known pattern
    assert key not in root_log.getvalue() and SECRET not in root_log.getvalue()


# ---- 2: what counts as a secret ----------------------------------------------------------------


@pytest.mark.parametrize("line, kept", [
    (f"GET /api/memory?token={SECRET}&x=1", "&x=1"),
    (f"GET /login?user=bob&password={SECRET}&next=/", "user=bob"),
    (f"GET /x?passwd={SECRET}", "/x?passwd="),
    (f"GET /x?api_key={SECRET}", "/x?api_key="),
    (f"GET /x?apikey={SECRET}", "/x?apikey="),
    (f"GET /x?access_token={SECRET}", "/x?access_token="),
    (f"connect host=db port=5432 user=me password={SECRET} dbname=omnilive", "dbname=omnilive"),
    (f"connect host=db password='{SECRET} with spaces' dbname=omnilive", "dbname=omnilive"),
    (f"Authorization: Bearer {SECRET}.{SECRET}/{SECRET}+y=", "Authorization: Bearer ***"),
    (f"Authorization: Basic {SECRET}==", "Authorization: Basic ***"),
    (f'{{"api_key": "{SECRET}", "model": "m"}}', '"model": "m"'),
    (f"http://u:{SECRET}@llm.example:8000/v1", "http://u:***@llm.example:8000/v1"),
    (f"redis://:{SECRET}@cache:6379/0", "@cache:6379/0"),
    (f"postgresql://me:{SECRET}@db/x", "postgresql://me:***@db/x"),
    (f"token.{SECRET}", "token.***"),
])
def test_passwords_keys_and_tokens_are_redacted(line, kept):
    out = redact(line)
    assert SECRET not in out and kept in out, out


def test_what_is_not_a_secret_is_kept():
    for line in ("http://127.0.0.1:8000/v1/chat/completions", "rtmp://media:1935/live/cam1?x=1",
                 "first token after 0.3 s", "answered HTTP 401: set llm.api_key"):
        assert redact(line) == line


# ---- 3: a model server's failure, as the user sees it ------------------------------------------


@pytest.mark.parametrize("question, plain", [
    ("What is the capital of France?", "language model"),
    ("法国的首都是哪里？", "语言模型"),
])
def test_a_down_llm_tells_the_user_plainly_and_the_log_in_full(models, settings, caplog, question, plain):
    install_log_redaction()
    port = free_port()  # nothing listens there
    url = f"http://me:{SECRET}@127.0.0.1:{port}/v1"
    cfg = llm_phrases(settings)
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"backend": "openai", "url": url, "model": "m",
                                                                   "api_key": "sk-" + SECRET})})
    llm = OpenAICompatLLM(cfg)

    async def run():
        session, rec = await live(dataclasses.replace(models, llm=llm), cfg, "t-llm-down")
        turn = await session.ask(question, speak=False)
        answer = await rec.wait_for("answer", turn_id=turn, timeout=60)
        await session.close()
        return answer, rec

    with caplog.at_level(logging.INFO):
        answer, rec = asyncio.run(run())
    shown = [answer.text] + [e.text for e in rec.of("answer_delta")] + [e.message for e in rec.of("error", "notice")]
    assert plain in answer.text
    for text in shown:
        for leak in ("127.0.0.1", str(port), "http", SECRET, "Error(", "ConnectError", "server at"):
            assert leak not in text, (leak, text)
    assert rec.of("error")  # the client still learns which stage failed
    logged = caplog.text
    assert f"127.0.0.1:{port}" in logged and "not reachable" in logged  # the operator gets the detail ...
    assert SECRET not in logged  # ... without the password or key


# ---- 4: private files ----------------------------------------------------------------------


def _modes(root: Path) -> dict[str, str]:
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = oct(stat.S_IMODE(p.stat().st_mode))
    return out


def _private(modes: dict[str, str], root: Path) -> list[str]:
    return [f"{p} {m}" for p, m in modes.items() if m != ("0o700" if (root / p).is_dir() else "0o600")]


def test_a_memory_on_disk_is_readable_by_its_owner_only(tmp_path):
    from omnilive.cli.recall_cmd import clip_row
    from omnilive.events import GroundedClip, HeardItem
    from omnilive.memory.db import memories, open_db

    old = os.umask(0o022)
    try:
        root = tmp_path / "data" / "sessions"  # a server's token memories (POST /api/sessions)
        mems = memories(root)
        mems.create("k" * 32)
        db = open_db(mems.where("k" * 32), "enc", 4)
        db.add_heard(HeardItem(item_id=1, start=0.0, end=1.0, kind="note", text="my PIN is 1234", speaker="user"), None)
        db.set_meta(wall_end=1.0)
        clip_row(GroundedClip(clip_id=1, start=0, end=1, score=1, labels=("cat",), keyframe_jpeg=b"\xff\xd8jpeg"),
                 mems.where("k" * 32))  # `omnilive recall` writes key frames beside the memory
        open_while_writing = _modes(tmp_path / "data")
        db.close()
        closed = _modes(tmp_path / "data")
        assert any(p.endswith("-wal") for p in open_while_writing), open_while_writing  # SQLite's own files too
        assert any(p.endswith(".jpg") for p in closed)
        assert not _private(open_while_writing, tmp_path / "data"), open_while_writing
        assert not _private(closed, tmp_path / "data"), closed

        # a memory written before this (0755 / 0644) is made private when it is opened again
        old_mem = tmp_path / "old"
        open_db(old_mem, "enc", 4).close()
        for p in [old_mem, *old_mem.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        db = open_db(old_mem, "enc", 4)
        db.set_meta(x=1)
        assert not _private(_modes(old_mem), old_mem), _modes(old_mem)
        db.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize("message", [
    "speech server http://10.0.0.7:5002/v1/audio/speech failed: ConnectError",
    "HTTPConnectionPool(host='asr.internal.example', port=9000): connect to asr.internal.example:9000 refused",
    "[Errno 111] Connection refused: [fd00::7]:8080", "localhost:11434 timed out"])
def test_an_error_the_page_sees_names_no_server_behind_this_one(message):
    """TTS, ASR and stage failures reach the page as ``error`` events: what failed, not where."""
    from omnilive.events import ErrorEvent
    from omnilive.server.app import event_json

    shown = event_json(ErrorEvent(stage="tts", message=message))["message"]
    assert not any(s in shown for s in ("10.0.0.7", "internal.example", "fd00", "localhost", "5002", "11434", "http")), shown
