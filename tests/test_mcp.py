"""The memory as an MCP server (server/mcp_server.py), through the official `mcp` client: `omnilive mcp
--memory DIR` over stdio (a real subprocess), and streamable HTTP at /mcp on the real server (uvicorn on
a port) with a session token, while that token's page is live over its WebSocket. The memories are
real: evaldata photos through the real encoder into live sessions. The README's example is run as
written, so it cannot rot."""

import asyncio
import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image
from websockets.sync.client import connect as ws_connect

from helpers import app_on_port, live
from test_reasoning import frames, show
from test_server import jpeg, media, with_memory_dir
from omnilive.memory.store import MemoryStore
from omnilive.server import protocol

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"ask", "recall", "timeline", "list_watches", "add_watch", "cancel_watch", "forget"}
READ_ONLY = {"ask", "recall", "timeline", "list_watches"}
CAT, BUS = "img_skimage_chelsea.png", "img_ultralytics_bus.jpg"


@pytest.fixture(scope="module")
def memory_dir(models, settings, evaldata, tmp_path_factory) -> Path:
    """4 s of a cat, then 4 s of a bus, seen by a live session (so the memory has a wall clock)."""
    where = tmp_path_factory.mktemp("mcp") / "memory"

    async def run() -> None:
        store = MemoryStore.open(where, models.visual, settings.memory, models.text_embedding)
        session, _ = await live(models, settings, "mcp", memory=store)
        await show(session, [(frames(evaldata, CAT), 4), (frames(evaldata, BUS), 4)])
        await session.finish()
        await session.close()
        store.close()

    asyncio.run(run())
    return where


@pytest.fixture
def server(settings, models, tmp_path):
    """The real app on a port, as tests/test_browser.py runs it (uvicorn in a thread)."""
    with app_on_port(with_memory_dir(settings, tmp_path / "server"), models) as url:
        yield url


async def call(mcp: Client, tool: str, **args):
    return await mcp.call_tool(tool, args)


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if c.type == "text")


def jpeg_of(item) -> Image.Image:
    """An image content item, decoded: base64 of a JPEG."""
    assert item.type == "image" and item.mime_type == "image/jpeg"
    image = Image.open(io.BytesIO(base64.b64decode(item.data)))
    image.load()
    assert image.format == "JPEG" and min(image.size) > 16, (image.format, image.size)
    return image


def assert_a_cat_with_its_key_frame(result) -> None:
    """recall's answer: the best moment is the cat, as JSON, followed by its key frame."""
    assert not result.is_error, text_of(result)
    best = result.structured_content["moments"][0]
    assert "a cat" in best["names"] and any("cat" in label for label in best["labels"]), best
    assert json.loads(result.content[1].text) == best  # the moment's JSON, then its key frame
    jpeg_of(result.content[2])


async def tools_and_annotations(mcp: Client) -> None:
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert set(tools) == TOOLS, set(tools)
    forget = tools["forget"].annotations
    assert forget.destructive_hint is True and forget.read_only_hint is False
    assert all(tools[name].annotations.read_only_hint is True for name in READ_ONLY)


# ---- stdio --------------------------------------------------------------------------------------


def test_stdio_server_on_a_memory_directory(memory_dir, models, settings, tmp_path):
    log = tmp_path / "mcp-stdio.log"
    params = StdioServerParameters(command=sys.executable, args=["-m", "omnilive", "mcp", "--memory", str(memory_dir)],
                                   env=dict(os.environ), cwd=str(ROOT))

    async def run() -> None:
        with open(log, "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as mcp:
                await session(mcp)

    async def session(mcp: Client) -> None:
        await tools_and_annotations(mcp)
        assert_a_cat_with_its_key_frame(await call(mcp, "recall", question="Did you see a cat?"))

        asked = await call(mcp, "ask", question="Did you see a cat?")
        assert not asked.is_error and "cat" in text_of(asked).lower(), text_of(asked)
        assert any("a cat" in m["names"] for m in asked.structured_content["moments"]), asked.structured_content
        for bad in ("Forget everything.", "   "):  # ask only reads; an empty question is an error, not a crash
            refused = await call(mcp, "ask", question=bad)
            assert refused.is_error, text_of(refused)
        assert "forget" in text_of(await call(mcp, "ask", question="Forget everything.")).lower()

        timeline = (await call(mcp, "timeline")).structured_content
        assert [r["kind"] for r in timeline["rows"]] == ["seen", "seen"], timeline
        assert "a cat" in timeline["rows"][0]["names"] and "a bus" in timeline["rows"][1]["names"], timeline
        assert timeline["rows"][0]["clock_start"].startswith(timeline["day"]), timeline  # the wall clock: today
        assert (await call(mcp, "timeline", day="last Tuesday-ish")).is_error

        added = await call(mcp, "add_watch", what="a dog")
        assert not added.is_error and added.structured_content["thing"] == "dog", text_of(added)
        watch_id = added.structured_content["watch_id"]
        listed = (await call(mcp, "list_watches")).structured_content["watches"]
        assert [(w["watch_id"], w["kind"], w["thing"]) for w in listed] == [(watch_id, "seen", "dog")], listed
        assert not (await call(mcp, "cancel_watch", watch_id=watch_id)).is_error
        assert (await call(mcp, "list_watches")).structured_content["watches"] == []
        gone = await call(mcp, "cancel_watch", watch_id=watch_id)
        assert gone.is_error and "no active watch" in text_of(gone), text_of(gone)
        assert (await call(mcp, "add_watch", what="!!!")).is_error

        refused = await call(mcp, "forget", start=0.0)
        assert refused.is_error and "Nothing was deleted" in text_of(refused) and "confirm" in text_of(refused)
        for bad in ({"start": 5.0, "end": 1.0, "confirm": True}, {"confirm": True},
                    {"start": 0.0, "about": "cats", "confirm": True}):
            assert (await call(mcp, "forget", **bad)).is_error, bad
        recent = json.loads((await mcp.read_resource("omnilive://moments/recent")).contents[0].text)
        assert len(recent["clips"]) == 2, recent  # nothing was deleted

        deleted = await call(mcp, "forget", start=0.0, confirm=True)
        assert not deleted.is_error and deleted.structured_content["deleted"]["clips"] == 2, text_of(deleted)
        assert (await call(mcp, "recall", question="Did you see a cat?")).structured_content["moments"] == []
        recent = json.loads((await mcp.read_resource("omnilive://moments/recent")).contents[0].text)
        assert recent["clips"] == [] and recent["memory"]["clips"] == 0, recent

    try:
        asyncio.run(run())
    finally:
        sys.stderr.write(log.read_text()[-4000:])  # (shown by pytest when the test fails)
    store = MemoryStore.open(memory_dir, models.visual, settings.memory)  # gone for good, on disk
    try:
        assert store.stats()["clips"] == 0 and store.items() == []
    finally:
        store.close()


# ---- streamable HTTP on `omnilive serve` --------------------------------------------------------


def next_event(ws, type_: str, timeout: float = 60.0, **match) -> dict:
    """The next event of this type (and fields) on the page's socket, waiting at most ``timeout``."""
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        try:
            msg = ws.recv(timeout=max(0.0, end - time.monotonic()))
        except TimeoutError:
            break
        if isinstance(msg, bytes):
            continue
        ev = json.loads(msg)
        seen.append(ev["type"])
        if ev["type"] == type_ and all(ev.get(k) == v for k, v in match.items()):
            return ev
    raise AssertionError(f"no {type_} {match} on the socket; saw {seen}")


def mcp_http(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(url, http_client=http))


def readme_example() -> str:
    """The fenced Python block under the README's MCP heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use the memory from an MCP client", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_http_on_the_server_scoped_by_session_token_while_the_page_is_live(server, evaldata, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"{server}/mcp"
    token = httpx.post(f"{server}/api/sessions").json()["token"]
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer not-a-session-token"}, {"Authorization": token}):
        refused = httpx.post(url, json=initialize, headers={**accept, **auth})
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer"), refused.text
    assert httpx.post(url, json=initialize, headers={**accept, "Authorization": f"Bearer {token}"}).status_code == 200

    async def refused_client() -> None:
        async with mcp_http(url, "not-a-session-token") as mcp:
            await mcp.list_tools()

    with pytest.raises(Exception) as refused_by:  # (the official client: the 401 as an error, in task groups)
        asyncio.run(refused_client())
    assert "Server returned an error response" in repr(refused_by.value), repr(refused_by.value)

    with ws_connect(f"ws{server[4:]}/ws", subprotocols=["omnilive", f"token.{token}"]) as ws:
        next_event(ws, "ready")
        for t in range(4):  # the page's camera: a cat for 4 s, then a bus (which seals the cat's clip)
            ws.send(media(protocol.FRAME_IN, float(t), jpeg(evaldata / "images" / CAT)))
        ws.send(media(protocol.FRAME_IN, 4.0, jpeg(evaldata / "images" / BUS)))
        clip = next_event(ws, "clip")
        assert any("cat" in label for label in clip["labels"]), clip

        async def run() -> int:
            async with mcp_http(url, token) as mcp:
                await tools_and_annotations(mcp)
                assert_a_cat_with_its_key_frame(await call(mcp, "recall", question="a cat", k=2))
                asked = await call(mcp, "ask", question="Did you see a cat?")
                assert not asked.is_error and "cat" in text_of(asked).lower(), text_of(asked)
                added = await call(mcp, "add_watch", what="tell me when you see a dog")
                assert not added.is_error, text_of(added)
                listed = (await call(mcp, "list_watches")).structured_content["watches"]
                assert [w["thing"] for w in listed] == ["dog"], listed
                return added.structured_content["watch_id"]

        watch_id = asyncio.run(run())
        shown = next_event(ws, "watches")  # the live page heard of the watch at once
        assert [(w["watch_id"], w["thing"]) for w in shown["items"]] == [(watch_id, "dog")], shown

        example = tmp_path / "readme_example.py"
        example.write_text(readme_example())
        out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMNILIVE_MCP_URL": url, "OMNILIVE_TOKEN": token})
        assert out.returncode == 0, out.stderr[-3000:]
        assert set(re.search(r"^tools: (.*)$", out.stdout, re.M).group(1).split(", ")) == TOOLS, out.stdout
        assert re.search(r"^seen [\d.]+-[\d.]+ s: .*\bcat\b", out.stdout, re.M), out.stdout
        assert re.search(r"^key frames \(JPEG bytes\): \[[1-9]\d+\]$", out.stdout, re.M), out.stdout
        assert re.search(r"^answer: .*\bcat\b", out.stdout, re.M | re.I), out.stdout

        async def forget() -> None:
            async with mcp_http(url, token) as mcp:
                assert (await call(mcp, "forget", start=0.0, end=4.0)).is_error  # not confirmed
                deleted = await call(mcp, "forget", start=0.0, end=4.0, confirm=True)
                assert not deleted.is_error and deleted.structured_content["deleted"]["clips"] == 1, text_of(deleted)
                assert not (await call(mcp, "cancel_watch", watch_id=watch_id)).is_error

        asyncio.run(forget())
        forgotten = next_event(ws, "memory_forgotten")  # through the live session: the page saw it go
        assert forgotten["counts"]["clips"] == 1 and (forgotten["start"], forgotten["end"]) == (0.0, 4.0), forgotten
        assert next_event(ws, "watches")["items"] == []
    assert token not in caplog.text  # the token never reached a log line
