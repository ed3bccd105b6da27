"""omnilive's memory as an MCP server: any MCP client (a desktop assistant, an agent) can ask it,
recall moments with their key frames, read a day's timeline, set and cancel watches, and forget.

One set of tools (``build``) reaches the memory through a small adapter (``Memory``), so it serves
two transports alike:

* stdio, ``omnilive mcp --memory DIR`` (cli/mcp_cmd.py): one memory, opened once, models loaded once.
* streamable HTTP at ``/mcp`` on ``omnilive serve`` (``mount``): each request names its memory by
  its session token (``Authorization: Bearer T``; 401 without a known one). While the token has a
  live session, forgets and watches go through that session, so its page sees them at once;
  otherwise the memory is opened as the REST API opens it (server/sessions.py ``Tokens.reading``).

``ask`` is the same path as ``omnilive ask`` (runtime/asking.py: a real session turn) and only reads:
requests that would change the memory (forget, notes, watches, pausing) are refused there and
have tools of their own, so a destructive act is always the explicit, confirmed ``forget``.
Everything blocking (models, SQLite, PostgreSQL) runs on threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import math
import re
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..backends.llm import LLMError
from ..backends.registry import Models
from ..config import Settings
from ..events import GroundedClip, HeardItem
from ..memory.errors import MemoryLocked
from ..memory.store import MemoryStore, recall as recall_clips
from ..reasoning.heard import heard_row, note_of, recall_heard
from ..reasoning.privacy import forget_request, pause_request
from ..reasoning.sight import names_of
from ..reasoning.understand import english_name
from ..reasoning.watch import WatchRequest, cancel_request, renamed, watch_request
from ..redaction import public
from ..runtime.asking import ask_memory
from ..runtime.watching import MAX_WATCHES, Watcher
from ..text import has_cjk
from .guard import TooManyCalls, origin_allowed
from .sessions import TokenError, Tokens

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..runtime.session import Session

T = TypeVar("T")
RECENT = 10  # moments (and heard items) in the recent-moments resource
DAY_ROWS = 500  # moments (and heard items) a timeline returns at most, the latest of the day
SCOPE_TOKEN = "omnilive.token"  # where the HTTP guard leaves the checked token for the tools
INSTRUCTIONS = ("omnilive remembers what its camera saw and its microphone heard. Times are memory seconds "
                "(clock times too where the memory was live). `recall` shows moments with their key frames, "
                "`ask` answers from them; `forget` deletes for good and needs confirm=true, so ask the user first.")

Question = Annotated[str, Field(min_length=1, max_length=500, description="a question about what was seen or heard")]
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)


# ---- the memory, wherever it lives ---------------------------------------------------------------


class Memory(Protocol):
    """What the tools need: a read (``whole``: loaded, for a search by meaning) and the writes."""

    models: Models
    settings: Settings

    async def read(self, fn: Callable[[Any], T], whole: bool = False) -> T: ...
    async def forget(self, start: float, end: float, about: str) -> dict[str, int]: ...
    async def watch(self, req: WatchRequest) -> dict | None: ...
    async def unwatch(self, watch_id: int) -> bool: ...


class LocalMemory:
    """One memory opened for the process's life (stdio): one call at a time on it, on a thread."""

    def __init__(self, models: Models, settings: Settings, store: MemoryStore) -> None:
        self.models, self.settings, self.store = models, settings, store
        self._turn = asyncio.Lock()

    async def read(self, fn: Callable[[Any], T], whole: bool = False) -> T:
        async with self._turn:
            return await asyncio.to_thread(fn, self.store)

    async def forget(self, start: float, end: float, about: str) -> dict[str, int]:
        return await self.read(lambda store: _forget(store, start, end, about))

    async def watch(self, req: WatchRequest) -> dict | None:
        return await self.read(lambda store: _add_watch(store, self.models, req))

    async def unwatch(self, watch_id: int) -> bool:
        return await self.read(lambda store: _end_watch(store, watch_id))


class TokenMemory:
    """A session token's memory on the server: through its live session when it has one."""

    def __init__(self, app: FastAPI, settings: Settings, token: str) -> None:
        self.app, self.settings, self.token = app, settings, token
        self.models: Models = app.state.models

    @property
    def session(self) -> Session | None:
        return self.app.state.live.get(Tokens.key(self.token))

    async def read(self, fn: Callable[[Any], T], whole: bool = False) -> T:
        """As the REST API reads (server/app.py ``read``): the live store or one opened for this
        call, on the REST API's own threads, so models and frames never wait behind it."""
        def run() -> T:
            with self.app.state.tokens.reading(self.token, whole) as memory:
                return fn(memory)

        try:
            async with self.app.state.rest_calls.turn(Tokens.key(self.token)):
                return await asyncio.get_running_loop().run_in_executor(self.app.state.rest, run)
        except TooManyCalls as exc:
            raise ToolError(str(exc)) from exc
        except TokenError as exc:
            raise ToolError(str(exc)) from exc
        except MemoryLocked as exc:
            raise ToolError("this memory is in use by another process") from exc

    async def forget(self, start: float, end: float, about: str) -> dict[str, int]:
        session = self.session
        if session is not None:  # it forgets what it holds too (clips not stored yet, the conversation)
            return await session.forget(start, end, about)
        return await self.read(lambda store: _forget(store, start, end, about), whole=True)

    async def watch(self, req: WatchRequest) -> dict | None:
        session = self.session
        if session is None:
            return await self.read(lambda store: _add_watch(store, self.models, req), whole=True)

        def add() -> dict | None:  # on its memory thread, as a spoken watch is added (runtime/dispatch.py)
            before = {w["watch_id"] for w in session.watches().items}
            session.watch(req)
            return next((w for w in session.watches().items if w["watch_id"] not in before), None)

        return await session.ctx.run("memory", add)

    async def unwatch(self, watch_id: int) -> bool:
        session = self.session
        if session is not None:
            return await session.unwatch(watch_id)
        return await self.read(lambda store: _end_watch(store, watch_id), whole=True)


def _forget(store: MemoryStore, start: float, end: float, about: str) -> dict[str, int]:
    return store.forget_about(about) if about else store.forget(start, end)


def _add_watch(store: MemoryStore, models: Models, req: WatchRequest) -> dict | None:
    """Stored as a live session stores it (runtime/watching.py), from the memory's end; the next
    live session on this memory watches for it. None: ``MAX_WATCHES`` are active already."""
    w = Watcher(store, models.visual, lambda alert, watch: None).add(req, store.end)
    return None if w is None else {"watch_id": w.watch_id, "kind": w.kind, "thing": w.thing, "said": w.said,
                                   "expires": w.expires}


def _end_watch(store: MemoryStore, watch_id: int) -> bool:
    if not any(row[0] == watch_id for row in store.watches()):
        return False
    store.db.end_watch(watch_id)
    return True


# ---- rows as the tools return them --------------------------------------------------------------


def _origin(memory: Any) -> float | None:
    """Wall-clock time of memory time 0 (set by live sessions; None for a recorded memory)."""
    return memory.meta().get("clock_origin")


def _clock(origin: float | None, start: float, end: float) -> dict[str, str]:
    if origin is None:
        return {}
    return {"clock_start": _local(origin + start), "clock_end": _local(origin + end)}


def _local(wall: float) -> str:
    return datetime.fromtimestamp(wall).isoformat(timespec="seconds")


def _moment(c: GroundedClip, origin: float | None) -> dict[str, Any]:
    return {"start": round(c.start, 3), "end": round(c.end, 3), **_clock(origin, c.start, c.end),
            "score": round(c.score, 4), "labels": list(c.labels), "names": names_of(c), "text": c.text,
            "n_clips": c.n_clips}


def _heard(item: HeardItem, origin: float | None, score: float | None = None) -> dict[str, Any]:
    return {**heard_row(item, score), **_clock(origin, item.start, item.end)}


def _text(value: Any) -> TextContent:
    return TextContent(type="text", text=value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _image(jpeg: bytes) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(jpeg).decode(), mime_type="image/jpeg")


def _said(row: dict[str, Any]) -> str:
    when = f'{row["clock_start"][11:]}-{row["clock_end"][11:]}' if "clock_start" in row else \
        f'{row["start"]:.1f}-{row["end"]:.1f} s'
    what = ", ".join(row["names"]) if "names" in row else f'{row["kind"]}: {row["text"]}'
    return f'{when}  {"seen" if "names" in row else "heard"} {what}'.rstrip()


# ---- what each tool does --------------------------------------------------------------------------


def _question(text: str) -> str:
    """A question, or a clear error: empty, or a request that would change the memory."""
    text = text.strip()
    if not text:
        raise ToolError("the question is empty")
    if forget_request(text) is not None:
        raise ToolError("`ask` only reads the memory; to delete, use the `forget` tool (it asks for confirm=true)")
    if pause_request(text) is not None:
        raise ToolError("`ask` only reads the memory; pausing and resuming memory is the live page's switch")
    if watch_request(text) is not None or cancel_request(text) is not None:
        raise ToolError("`ask` only reads the memory; use the `add_watch` and `cancel_watch` tools for watches")
    if note_of(text) is not None:
        raise ToolError("`ask` only reads the memory; notes are taken by the live assistant, not over MCP")
    return text


async def _ask(memory: Memory, question: str) -> CallToolResult:
    question = _question(question)

    def run(store: MemoryStore) -> tuple[Any, float | None]:
        return ask_memory(memory.models, memory.settings, store, question), _origin(store)

    try:
        asked, origin = await memory.read(run, whole=True)
    except LLMError as exc:
        raise ToolError(f"the language model failed: {public(str(exc))}") from exc
    except TimeoutError as exc:
        raise ToolError("the answer took too long; try a narrower question") from exc
    moments = [_moment(c, origin) for c in (asked.query.clips if asked.query else ())]
    text = asked.answer if asked.respond and not asked.command else \
        "(a stop command: nothing to answer)" if asked.command else "(not a question for the assistant: no answer)"
    return CallToolResult(content=[_text(text)], structured_content={
        "answer": asked.answer, "respond": asked.respond, "command": asked.command, "moments": moments})


async def _recall(memory: Memory, question: str, k: int) -> CallToolResult:
    question = question.strip()
    if not question:
        raise ToolError("the question is empty")
    visual = memory.models.visual

    def run(store: MemoryStore) -> tuple[list[GroundedClip], list[dict], float | None]:
        origin = _origin(store)
        return (recall_clips(store, visual, question, k),
                [_heard(i, origin, s) for i, s in recall_heard(store, question, k)], origin)

    clips, heard, origin = await memory.read(run, whole=True)
    rows = [_moment(c, origin) for c in clips]
    content: list[ContentBlock] = [_text(f"{len(rows)} moment(s) seen and {len(heard)} heard about {question!r}, "
                                         "best first; each seen moment is followed by its key frame")]
    for c, row in zip(clips, rows):
        content.append(_text(row))
        if c.keyframe_jpeg:
            content.append(_image(c.keyframe_jpeg))
    if heard:
        content.append(_text({"heard": heard}))
    return CallToolResult(content=content, structured_content={"moments": rows, "heard": heard})


def _watch_rows(memory: Any) -> list[dict[str, Any]]:
    return [{"watch_id": i, "kind": k, "thing": th, "said": sd, "created": cr, "expires": ex}
            for i, k, th, sd, cr, ex in memory.watches()]


async def _add_watch_tool(memory: Memory, what: str) -> CallToolResult:
    what = what.strip()
    req = (watch_request(what) or watch_request(f"tell me when {what}")) if what else None
    if req is None or not re.search(r"\w", req.thing):  # ("!!!" would watch for "!")
        raise ToolError(f"cannot watch for {what!r}: say what to see or hear, e.g. 'a cat', 'the doorbell rings', "
                        "'someone mentions the dentist', 'the word EXIT'")
    if req.kind == "seen" and has_cjk(req.thing):  # the frames' text side is English (as runtime/dispatch.py)
        english = await asyncio.to_thread(english_name, what, memory.models.llm, memory.models.visual, req.thing)
        req = renamed(req, english) if english else req
    row = await memory.watch(req)
    if row is None:
        raise ToolError(f"already watching for {MAX_WATCHES} things; cancel one first (list_watches)")
    return CallToolResult(content=[_text(f"Watching for {row['thing']} ({row['kind']}), id {row['watch_id']}; "
                                         "the live assistant says so when it happens.")], structured_content=row)


async def _cancel_watch(memory: Memory, watch_id: int) -> CallToolResult:
    if not await memory.unwatch(watch_id):
        raise ToolError(f"no active watch has id {watch_id} (list_watches shows them)")
    return CallToolResult(content=[_text(f"Cancelled watch {watch_id}.")], structured_content={"cancelled": watch_id})


def _forget_what(start: float | None, end: float | None, about: str | None) -> tuple[float, float, str, str]:
    """(start, end, about, what it deletes, in words), or a clear error for a request that names
    nothing, both a range and a topic, or a range that is not one."""
    about = (about or "").strip()
    if about and (start is not None or end is not None):
        raise ToolError("give either a range (start, end) or a topic (about), not both")
    if about:
        return 0.0, 0.0, about, f"what was said or noted about {about!r}"
    if start is None and end is None:
        raise ToolError("say what to forget: start and/or end (memory seconds, as recall and timeline show them), "
                        "or about")
    lo, hi = float("-inf") if start is None else start, float("inf") if end is None else end
    if math.isnan(lo) or math.isnan(hi) or hi < lo:
        raise ToolError("start and end must be numbers, end not before start")
    return lo, hi, "", f"every moment, heard item and conversation turn from {lo:g} s to {hi:g} s"


async def _forget_tool(memory: Memory, start: float | None, end: float | None, about: str | None,
                       confirm: bool) -> CallToolResult:
    lo, hi, about, what = _forget_what(start, end, about)
    if not confirm:
        raise ToolError(f"Nothing was deleted. forget would delete {what}, for good. Ask the user; if they agree, "
                        "call forget again with confirm=true.")
    deleted = await memory.forget(lo, hi, about)
    said = ", ".join(f"{n} {kind}" for kind, n in deleted.items())
    return CallToolResult(content=[_text(f"Deleted {what}: {said}.")], structured_content={"deleted": deleted})


def _day_range(day: str | None) -> tuple[date, float, float]:
    """The local day asked for ("YYYY-MM-DD", "today", "yesterday"; default today) as wall-clock times."""
    today = date.today()
    try:
        d = {None: today, "": today, "today": today, "yesterday": today - timedelta(days=1)}.get(day) or \
            date.fromisoformat(day)
    except ValueError as exc:
        raise ToolError(f"day must be YYYY-MM-DD, 'today' or 'yesterday', not {day!r}") from exc
    start = datetime.combine(d, datetime.min.time()).timestamp()
    return d, start, datetime.combine(d + timedelta(days=1), datetime.min.time()).timestamp()


async def _timeline(memory: Memory, day: str | None) -> CallToolResult:
    d, wall_start, wall_end = _day_range(day)

    def run(store: Any) -> tuple[list[GroundedClip], list[HeardItem], float | None]:
        origin = _origin(store)
        if origin is None:  # a recorded memory: no clock, so no days; all of it (its latest)
            if day:
                raise ToolError("this memory has no wall clock (it was recorded, not live): call timeline without a day")
            return store.items(DAY_ROWS), store.heard_latest(DAY_ROWS), None
        lo, hi = wall_start - origin, wall_end - origin  # the day in memory seconds
        return ([c for c in store.items(DAY_ROWS, before=hi) if c.end >= lo],
                [i for i in store.heard_latest(DAY_ROWS, before=hi) if i.end >= lo], origin)

    clips, heard, origin = await memory.read(run)
    seen = [_moment(c, origin) | {"kind": "seen"} for c in clips]
    rows = sorted(seen + [_heard(i, origin) for i in heard], key=lambda r: (r["start"], r["end"]))
    head = f"{d.isoformat()}: " if origin is not None else "(no wall clock: the whole memory) "
    text = head + f"{len(seen)} moment(s) seen, {len(heard)} heard" + "".join("\n" + _said(r) for r in rows)
    return CallToolResult(content=[_text(text)], structured_content={
        "day": d.isoformat() if origin is not None else None, "clock_origin": origin, "rows": rows})


def _recent(memory: Any) -> dict[str, Any]:
    origin = _origin(memory)
    return {"clips": [_moment(c, origin) for c in memory.items(RECENT)],
            "heard": [_heard(i, origin) for i in memory.heard_latest(RECENT)],
            "memory": memory.stats(), "clock_origin": origin}


# ---- the server -----------------------------------------------------------------------------------


def build(memory_of: Callable[[], Memory | None]) -> MCPServer:
    """The MCP server: its tools and resources, on whatever memory ``memory_of`` gives per call."""
    server = MCPServer("omnilive", instructions=INSTRUCTIONS, log_level="WARNING")  # (no INFO root logging)

    def memory() -> Memory:
        m = memory_of()
        if m is None:
            raise ToolError("no memory: this request carried no session token")
        return m

    @server.tool(annotations=READS)
    async def ask(question: Question) -> CallToolResult:
        """The assistant's answer from its memory (exactly as `omnilive ask` and the live page answer a
        typed question), with the moments it was grounded on. Only reads: no forgets, notes or watches."""
        return await _ask(memory(), question)

    @server.tool(annotations=READS)
    async def recall(question: Question, k: Annotated[int, Field(ge=1, le=20)] = 3) -> CallToolResult:
        """The k moments seen that a question is about, best first, each as JSON (times, labels, names,
        text read in view) followed by its key frame (JPEG), and what was heard that it is about."""
        return await _recall(memory(), question, k)

    @server.tool(annotations=READS)
    async def list_watches() -> CallToolResult:
        """The active watches ("tell me when you see a cat"): id, kind, thing, expiry (memory seconds)."""
        rows = await memory().read(_watch_rows)
        return CallToolResult(content=[_text({"watches": rows})], structured_content={"watches": rows})

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def add_watch(what: Annotated[str, Field(min_length=1, max_length=200)]) -> CallToolResult:
        """Watch for something: 'a cat', 'the doorbell rings', 'someone mentions the dentist', 'the word
        EXIT', '... in the next 10 minutes'. The live assistant tells the user when it happens."""
        return await _add_watch_tool(memory(), what)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=False))
    async def cancel_watch(watch_id: int) -> CallToolResult:
        """Stop one watch, by the id list_watches or add_watch gave."""
        return await _cancel_watch(memory(), watch_id)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                                             open_world_hint=False))
    async def forget(start: float | None = None, end: float | None = None, about: str | None = None,
                     confirm: bool = False) -> CallToolResult:
        """Delete for good every moment, heard item and conversation turn from start to end (memory
        seconds; either may be left out: from the beginning / to the end), or what was said about a
        topic. Refused unless confirm is true: ask the user first."""
        return await _forget_tool(memory(), start, end, about, confirm)

    @server.tool(annotations=READS)
    async def timeline(day: str | None = None) -> CallToolResult:
        """What was seen and heard on a day ('YYYY-MM-DD', 'today' (default), 'yesterday'), in order,
        with clock times (local); a recorded memory without a clock gives all of it."""
        return await _timeline(memory(), day)

    @server.resource("omnilive://moments/recent", name="recent_moments", mime_type="application/json",
                     description=f"the latest {RECENT} moments seen and things heard, with the memory's size")
    async def recent() -> str:
        return json.dumps(await memory().read(_recent), ensure_ascii=False)

    return server


def serve_stdio(models: Models, settings: Settings, store: MemoryStore) -> None:
    """``omnilive mcp``: serve one opened memory over stdin/stdout until the client leaves."""
    local = LocalMemory(models, settings, store)
    build(lambda: local).run("stdio")


# ---- streamable HTTP on `omnilive serve` ----------------------------------------------------------

_request_memory: contextvars.ContextVar[Memory | None] = contextvars.ContextVar("omnilive_mcp_memory", default=None)


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the tools at ``/mcp`` on ``app``, each request on its bearer token's memory.

    Stateless (a fresh MCP transport per request, JSON replies): every request is authenticated on
    its own, nothing is held between them, and any server process the token is routed to serves it."""
    server = build(_request_memory.get)
    server.middleware.append(_bind(app, settings))

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await server.session_manager.handle_request(scope, receive, send)

    app.router.routes.append(Route("/mcp", endpoint=_Guard(app, settings, endpoint)))
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any):
        # a manager runs once: each start of the app (a test may start one twice) makes its own. DNS-
        # rebinding checks on Host would refuse a proxied name; a bearer token (never a cookie) cannot
        # be sent by another site's page, and Origin is checked as /api/sessions checks it (_Guard)
        server.streamable_http_app(stateless_http=True, json_response=True,
                                   transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with outer(a) as state, server.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan


def _bind(app: FastAPI, settings: Settings):
    """MCP middleware: the tools of this request see its token's memory (set by ``_Guard``)."""
    async def bind(ctx: Any, call_next: Any) -> Any:
        token = getattr(ctx.request, "scope", {}).get(SCOPE_TOKEN)
        reset = _request_memory.set(TokenMemory(app, settings, token) if token else None)
        try:
            return await call_next(ctx)
        finally:
            _request_memory.reset(reset)

    return bind


class _Guard:
    """In front of ``/mcp``: a page of another origin gets 403 (as ``POST /api/sessions``), a request
    without a known session token 401; the token goes on to the tools in the ASGI scope only."""

    def __init__(self, app: FastAPI, settings: Settings, inner: ASGIApp) -> None:
        self.app, self.settings, self.inner = app, settings, inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if not origin_allowed(headers.get("origin"), headers.get("host"), self.settings.server.allowed_origins):
            return await _refusal(403, "this origin may not use the memory (server.allowed_origins)")(scope, receive, send)
        token = _bearer(headers.get("authorization"))
        if token is None or not await self._known(token):
            return await _refusal(401, "a valid session token is required: Authorization: Bearer <token from "
                                       "POST /api/sessions>")(scope, receive, send)
        await self.inner({**scope, SCOPE_TOKEN: token}, receive, send)

    async def _known(self, token: str) -> bool:
        try:  # (a directory or a database row: off the loop)
            await asyncio.get_running_loop().run_in_executor(self.app.state.rest, self.app.state.tokens.check, token)
        except TokenError:
            return False
        return True


def _refusal(status: int, why: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_token" if status == 401 else "forbidden", "error_description": why},
                        status_code=status, headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
