"""HTTP + WebSocket server: the page at /, one live Session per WebSocket connection.

Models load once at start-up and are shared; each connection gets its own session (VAD state,
conversation) on the memory of its session token (server/sessions.py), which persists across
restarts. Outgoing events pass through a per-client outbox (server/outbox.py): system events are never
dropped, data is bounded so a slow client cannot grow server memory, and an interrupt purges the
cut answer's queued audio.

Media travels over the WebSocket (PCM16 16 kHz + 1 fps JPEG) rather than WebRTC: measured on this
kind of machine (../shared/MEDIA.md) it reaches the server in 12-33 ms against 40-82 ms through
aiortc, at a third of the server CPU, and needs no ICE/STUN set-up; nothing is gained from WebRTC's
congestion control at 1 frame per second.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import os
import platform
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Awaitable, Callable
from importlib import resources

from pathlib import Path

from fastapi import FastAPI, Header, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ..backends.registry import Models, load_models
from ..config import Settings, load_settings
from ..dsp import AudioFormatError
from ..events import Alert, AnswerAudio, AudioChunk, ClipMemory, ErrorEvent, Event, Frame, GroundedClip, HeardItem
from ..events import Query as QueryEvent
from ..memory.store import recall
from ..perception.media import MediaError
from ..reasoning.heard import heard_row, recall_heard, voice_names
from ..reasoning.sight import names_of
from ..runtime.replay import pull
from ..runtime.session import Session
from ..runtime.warmup import warm_up
from . import protocol, realtime
from ..memory.errors import MemoryLocked
from ..perception.sources import source_allowed
from ..redaction import install_log_redaction, public
from .guard import CallTurns, FramePace, RateLimit, TooManyCalls, live_capacity, from_subprotocols, origin_allowed
from .metrics import Metrics, TurnClock, watch_loop_lag
from .outbox import Outbox
from .sessions import CLOSE_WAIT_S, SessionBusy, TokenError, Tokens, TokensFull

log = logging.getLogger(__name__)
OUT_QUEUE = 256  # data events queued for one client before the newest are dropped
# The page loads only its own scripts and styles, shows key frames from data: and blob: URLs, talks
# to its own origin (and its WebSocket), and may not be framed: "Forget everything -> Yes" cannot be
# clicked through another site's page.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HIDDEN = {"memory_snapshot", "turn_ended"}  # internal events the page does not need (it has `answer` and `interrupt`)


def _static(name: str) -> str:
    return resources.files("omnilive.server").joinpath("static", name).read_text()


def event_json(ev: Event, names: dict[int, str] | None = None) -> dict:
    """An event as the page reads it; ``names``: what the memory's voices are called (voice_names)."""
    if isinstance(ev, QueryEvent):  # the page shows what an answer was grounded on, not the query itself
        return {"type": "grounding", "turn_id": ev.turn_id, "clips": [event_json(c) for c in ev.clips[:3]],
                "heard": [heard_row(i, None, names) for i in ev.heard[:3]]}
    if isinstance(ev, HeardItem):
        return {"type": "heard", **heard_row(ev, None, names)}
    d = ev.to_dict()
    if isinstance(ev, ErrorEvent):  # what failed, without the address of a server behind this one (the log has it)
        d["message"] = public(ev.message)
    if isinstance(ev, (ClipMemory, GroundedClip, Alert)):  # the page shows key frames as thumbnails
        d.pop("keyframe_jpeg_bytes", None)
        d["names"] = names_of(ev)  # as a person says them, as sure as the evidence (reasoning/sight.py)
        d["keyframe"] = "data:image/jpeg;base64," + base64.b64encode(ev.keyframe_jpeg).decode() if ev.keyframe_jpeg else ""
    return d


def memory_root(settings: Settings) -> Path:
    return Path(settings.memory.dir) if settings.memory.dir else Path.home() / ".local" / "share" / "omnilive"


def create_app(settings: Settings | None = None, models: Models | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if models is None:
            app.state.models = await asyncio.to_thread(load_models, settings)
            await asyncio.to_thread(warm_up, app.state.models)  # (tests hand their models in: warm already)
        else:
            app.state.models = models
        app.state.sessions = 0
        app.state.metrics = Metrics()
        app.state.tokens = Tokens(memory_root(settings) / "sessions", app.state.models.visual, settings.memory,
                                  app.state.models.text_embedding)
        app.state.capacity = live_capacity(settings.server.max_live_sessions)
        app.state.new_sessions = RateLimit(settings.server.new_sessions_per_minute)
        app.state.live = {}  # token key -> its live Session (a forget from the page goes through it)
        app.state.metrics.live_stages.sessions = app.state.live.values
        app.state.closing = {}  # token key -> the end of its last session, while that is closing
        app.state.per_address = Counter()  # client address -> live sockets
        app.state.rest = ThreadPoolExecutor(settings.server.rest_threads, thread_name_prefix="rest")
        app.state.rest_calls = CallTurns(settings.server.rest_per_token, settings.server.rest_waiting_per_token)
        log.info("omnilive ready; session memory in %s", app.state.tokens.location)
        tasks = [asyncio.create_task(watch_loop_lag(app.state.metrics)), asyncio.create_task(_expire_tokens())]
        yield
        for task in tasks:
            task.cancel()
        for _ in range(100):  # let closing sessions put their last clips into memory first
            if app.state.sessions == 0:
                break
            await asyncio.sleep(0.05)
        app.state.tokens.close()
        app.state.rest.shutdown(wait=False, cancel_futures=True)

    async def _expire_tokens() -> None:
        """Hourly: tokens (and memories) unused for ``server.token_days`` are deleted."""
        while True:
            try:
                gone = await asyncio.get_running_loop().run_in_executor(
                    app.state.rest, app.state.tokens.expire, settings.server.token_days * 86400)
                if gone:
                    log.info("deleted %d session(s) unused for %g days", gone, settings.server.token_days)
            except Exception:  # noqa: BLE001 - tried again next hour
                log.exception("could not expire old sessions")
            await asyncio.sleep(3600)

    app = FastAPI(title="omnilive", lifespan=lifespan)
    install_log_redaction()
    process = f"{platform.node()}:{os.getpid()}"

    @app.middleware("http")
    async def which_process(request, call_next):
        """Every response names the process that served it (several behind one proxy: docs/SCALING.md)
        and carries the browser-side defences (``SECURITY_HEADERS``)."""
        response = await call_next(request)
        response.headers["X-Omnilive-Process"] = process
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return _static("index.html")

    app.mount("/static", StaticFiles(directory=str(resources.files("omnilive.server").joinpath("static"))),
              name="static")
    from .mcp_server import mount as mount_mcp  # (imported here: it is only this app's /mcp)
    mount_mcp(app, settings)  # /mcp: the memory's tools for MCP clients, scoped by session token

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True, "sessions": app.state.sessions})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(app.state.metrics.text(), media_type="text/plain; version=0.0.4")

    @app.post("/api/sessions")
    async def new_session(request: Request) -> JSONResponse:
        cfg = settings.server
        if not origin_allowed(request.headers.get("origin"), request.headers.get("host"), cfg.allowed_origins):
            raise HTTPException(status_code=403, detail="this origin may not open sessions (server.allowed_origins)")
        if not app.state.new_sessions.allow(request.client.host if request.client else "?"):
            raise HTTPException(status_code=429, detail="too many new sessions from this address; wait a minute")
        try:  # (disk work: off the event loop)
            token = await asyncio.to_thread(app.state.tokens.create, cfg.max_tokens)
        except TokensFull as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return JSONResponse({"token": token}, status_code=201)

    async def read(token: str | None, fn, whole: bool = False):
        """Run ``fn(memory)`` on the token's memory (``whole``: loaded, for a search by meaning;
        else read in place) on the REST API's own threads, at most ``server.rest_per_token`` at
        once per token (``rest_waiting_per_token`` more wait their turn, past that 429): one user's
        reads cannot stall frames, models or other users. HTTP errors a page can act on."""
        def run():
            with app.state.tokens.reading(token, whole) as memory:
                return fn(memory)

        try:
            async with app.state.rest_calls.turn(Tokens.key(token or "")):  # waiting here holds no thread
                return await asyncio.get_running_loop().run_in_executor(app.state.rest, run)
        except TooManyCalls as exc:
            raise HTTPException(status_code=429, detail=str(exc)) from exc
        except TokenError as exc:
            raise HTTPException(status_code=401, detail=str(exc)) from exc
        except MemoryLocked as exc:
            raise HTTPException(status_code=409, detail="this memory is in use by another process") from exc

    @app.get("/api/session")
    async def session_info(token: str | None = None, authorization: str | None = Header(None)) -> JSONResponse:
        """Is this token known (401 if not), is it live now, what its memory holds: a page checks
        its stored token with this before it connects."""
        token = _bearer(authorization) or token
        stats, origin = await read(token, lambda memory: (memory.stats(), _clock_origin(memory)))
        return JSONResponse({"live": app.state.tokens.live(token), "memory": stats, "clock_origin": origin})

    @app.delete("/api/session")
    async def delete_session(token: str | None = None, authorization: str | None = Header(None)) -> JSONResponse:
        """Delete this token and its whole memory for good (the page's "New memory"); a live
        connection on it is ended first (close code 4404)."""
        token = _bearer(authorization) or token
        try:
            await asyncio.get_running_loop().run_in_executor(app.state.rest, app.state.tokens.delete, token)
        except TokenError as exc:
            raise HTTPException(status_code=401, detail=str(exc)) from exc
        except SessionBusy as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return JSONResponse({"deleted": True})

    @app.get("/api/history")
    async def history(limit: int = Query(50, ge=1, le=500), before: int | None = None, token: str | None = None,
                      authorization: str | None = Header(None)) -> JSONResponse:
        """The conversation's latest turns, oldest first (runtime/history.py writes them)."""
        turns = await read(_bearer(authorization) or token, lambda memory: memory.turns(limit, before))
        return JSONResponse({"turns": turns})

    @app.get("/api/memory")
    async def read_memory(q: str | None = Query(None, max_length=500), k: int = Query(3, ge=1, le=200),
                          before: float | None = None, images: bool = True,
                          token: str | None = None, authorization: str | None = Header(None)) -> JSONResponse:
        """The session's memory: the moments a question ``q`` is about, or the latest ``k`` clips and
        episodes (those starting before ``before``, for paging back), oldest first."""
        visual = app.state.models.visual

        def get(memory):  # (a question needs the memory loaded, to rank it; the latest moments do not)
            names = voice_names(memory)
            if q:
                clips, heard = recall(memory, visual, q, k), [heard_row(i, s, names) for i, s in recall_heard(memory, q, k)]
            else:
                clips, heard = memory.items(k, before), [heard_row(i, None, names) for i in memory.heard_latest(k, before)]
            return [memory_item(c, images) for c in clips], heard, memory.stats(), _clock_origin(memory)

        clips, heard, stats, origin = await read(_bearer(authorization) or token, get, whole=bool(q))
        return JSONResponse({"clips": clips, "heard": heard, "memory": stats, "clock_origin": origin})

    @app.delete("/api/memory")
    async def forget(start: float = Query(...), end: float = Query(...), token: str | None = None,
                     authorization: str | None = Header(None)) -> JSONResponse:
        """Delete every clip, episode and conversation turn overlapping [start, end] (memory seconds)."""
        if math.isnan(start) or math.isnan(end) or end < start:  # (NaN compares false with every time)
            raise HTTPException(status_code=422, detail="start and end must be numbers, end not before start")
        token = _bearer(authorization) or token
        session = app.state.live.get(Tokens.key(token or ""))
        if session is not None:  # its session forgets: what it holds, clips not stored yet, the conversation
            return JSONResponse({"deleted": await session.forget(start, end)})
        deleted = await read(token, lambda store: store.forget(start, end), whole=True)
        return JSONResponse({"deleted": deleted})

    @app.get("/api/watches")
    async def watches(token: str | None = None, authorization: str | None = Header(None)) -> JSONResponse:
        """The memory's active watches ("tell me when you see a dog"), for a page not connected yet."""
        rows = await read(_bearer(authorization) or token, lambda memory: memory.watches())
        return JSONResponse({"items": [{"watch_id": i, "kind": k, "thing": th, "said": sd, "expires": ex}
                                       for i, k, th, sd, _, ex in rows]})

    @app.delete("/api/watches/{watch_id}")
    async def unwatch(watch_id: int, token: str | None = None, authorization: str | None = Header(None)) -> JSONResponse:
        """Cancel a watch while no session is live (a live one is told over its socket: ``unwatch``)."""
        await read(_bearer(authorization) or token, lambda store: store.db.end_watch(watch_id), whole=True)
        return JSONResponse({"cancelled": watch_id})

    @app.get("/api/keyframe")
    async def keyframe(t: float, token: str | None = None, authorization: str | None = Header(None)) -> Response:
        """The key frame of the moment at memory time ``t`` (the page's grounding thumbnails)."""
        jpeg = await read(_bearer(authorization) or token, lambda memory: memory.keyframe_at(t))
        if not jpeg:
            raise HTTPException(status_code=404, detail="no key frame at that time (forgotten?)")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @app.websocket("/ws")
    async def ws(socket: WebSocket, token: str | None = None, source: str | None = None,
                 takeover: bool = False) -> None:
        """The token comes as a subprotocol (``["omnilive", "token.<T>"]``; it stays out of URLs and
        logs) or, for simple clients, as ``?token=``. Refusals are sent as an ``error`` event and a
        close code the page acts on: 4401 token, 4403 origin or source, 4409 busy (``?takeover=1``
        ends the other connection, which gets 4410), 4429 full."""
        subprotocol, offered_token = from_subprotocols(socket.headers.get("sec-websocket-protocol"))
        await socket.accept(subprotocol=subprotocol)

        async def serve(session: Session) -> None:
            store = session.memory
            await socket.send_json({"type": "ready", "t_offset": session.t_offset,
                                    "clock_origin": _clock_origin(store), "memory": store.stats(), "process": process,
                                    "watches": list(session.watches().items)})
            await _serve(socket, session, app.state.metrics, source)

        await connection(Wire(socket, serve, _native_error), offered_token or token, takeover, source)

    @app.websocket("/v1/realtime")
    async def realtime_ws(socket: WebSocket, token: str | None = None) -> None:
        """The OpenAI Realtime protocol on a live session (server/realtime.py). The session token
        is the API key: ``Authorization: Bearer T`` (the ``openai`` SDK's ``api_key``), the
        subprotocol ``openai-insecure-api-key.T`` (browsers), or ``?token=T``. Refusals as for ``/ws``."""
        offered = socket.headers.get("sec-websocket-protocol")
        await socket.accept(subprotocol="realtime" if "realtime" in [p.strip() for p in (offered or "").split(",")]
                            else None)
        beta = realtime.is_beta(socket.headers)

        async def serve(session: Session) -> None:
            await realtime.RealtimeLink(socket, session, beta).serve(settings.server.idle_timeout_s)

        token = realtime.bearer_token(socket.headers.get("authorization"), offered) or token
        await connection(Wire(socket, serve, realtime.refusal), token, False, None)

    async def connection(wire: "Wire", token: str | None, takeover: bool, source: str | None) -> None:
        """Admit an accepted socket (origin, source, slots), then serve it on its token's session."""
        socket = wire.socket
        refuse = wire.refuse

        cfg = settings.server
        if not origin_allowed(socket.headers.get("origin"), socket.headers.get("host"), cfg.allowed_origins):
            return await refuse(4403, "this origin may not open sessions (server.allowed_origins)")
        if source is not None and not source_allowed(source, cfg.pull_prefixes):
            return await refuse(4403, "this source URL is not allowed (server.pull_prefixes)")
        if app.state.sessions >= app.state.capacity:
            n = app.state.capacity
            return await refuse(4429, f"the server is full: it answers {n} live session{'s' * (n != 1)} in time "
                                      "(server.max_live_sessions); try again later")
        address = socket.client.host if socket.client else "?"
        if app.state.per_address[address] >= cfg.max_live_per_address:
            return await refuse(4429, "too many live sessions from this address (server.max_live_per_address)")
        app.state.sessions += 1  # (with the checks: no await between them, so no two take the last slot)
        app.state.per_address[address] += 1
        m = app.state.metrics
        m.sessions_active.inc()

        def release() -> None:  # the slot is free once the session has kept its last clips
            app.state.sessions -= 1
            app.state.per_address[address] -= 1
            if not app.state.per_address[address]:
                del app.state.per_address[address]
            m.sessions_active.dec()

        ending: list[asyncio.Future] = []  # the session's end, once it owns the slot
        try:
            await _live(wire, token, takeover, m, ending)
        finally:
            if ending:
                ending[0].add_done_callback(lambda _: release())
            else:
                release()

    async def _live(wire: "Wire", token: str | None, takeover: bool, m: Metrics,
                    ending: list[asyncio.Future]) -> None:
        """One live connection, from taking its token's memory to giving it back: whatever fails on
        the way (the memory, the session's start, the client), the token is free again after."""
        loop = asyncio.get_running_loop()
        serving: asyncio.Future = loop.create_future()  # the task serving this socket, once it runs

        def kick(code: int, why: str) -> None:  # another tab took over, or the token was deleted (from a thread)
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_ended_elsewhere(wire, serving, code, why)))

        key = Tokens.key(token or "")
        if key in app.state.closing:  # its last session is closing (a page reloading): wait for it, on the loop
            await asyncio.wait([app.state.closing[key]], timeout=CLOSE_WAIT_S)
        try:  # loads the memory from disk
            store = await asyncio.to_thread(app.state.tokens.connect, token, kick, takeover)
        except (TokenError, SessionBusy, MemoryLocked) as exc:
            return await wire.refuse(4401 if isinstance(exc, TokenError) else 4409,
                                 str(exc) if not isinstance(exc, MemoryLocked) else "this memory is in use elsewhere")
        except Exception as exc:  # e.g. a full disk: said, and the token is free again (connect undoes itself)
            log.exception("a session's memory could not be opened")
            return await wire.refuse(1011, f"the memory could not be opened: {type(exc).__name__}")
        m.sessions.inc()
        session: Session | None = None

        async def end() -> None:  # its own task: a cancelled handler must not cut it short
            try:
                if session is not None:
                    app.state.live.pop(key, None)
                    m.frames_dropped.inc(session.frames_dropped)
                    await session.close()  # keeps the clip being built: the memory must still be open
                    for stage, sm in session.stage_metrics.items():  # added up when a session ends
                        m.stage_busy.labels(stage).inc(sm.busy_s)
                        m.stage_calls.labels(stage).inc(sm.calls)
            finally:  # (it waits for reads of the memory in flight: off the loop)
                await asyncio.to_thread(app.state.tokens.disconnect, token)

        try:
            try:  # (its construction reads the memory: the conversation, the watches to embed; off the loop)
                session = await (await asyncio.to_thread(Session, app.state.models, settings,
                                                         f"ws{id(wire.socket) & 0xffff:04x}", store)).start()
            except Exception as exc:
                log.exception("a session could not start")
                return await wire.refuse(1011, f"the session could not start: {type(exc).__name__}")
            app.state.live[key] = session
            task = asyncio.ensure_future(wire.serve(session))
            serving.set_result(task)
            await task
        except asyncio.CancelledError:
            if not (serving.done() and serving.result().cancelled()):
                raise  # a takeover cancels the serving task only; anything else goes on up
        finally:
            ending.append(asyncio.ensure_future(end()))
            app.state.closing[key] = ending[0]  # (a reconnect waits for it instead of being refused as busy)
            ending[0].add_done_callback(lambda done: app.state.closing.pop(key, None) if
                                        app.state.closing.get(key) is done else None)
            await asyncio.shield(ending[0])

    return app


@dataclass(frozen=True)
class Wire:
    """What differs between the native socket and ``/v1/realtime``: how a session is served on it,
    and how a refusal is said."""

    socket: WebSocket
    serve: Callable[[Session], Awaitable[None]]
    error: Callable[[str], dict]

    async def refuse(self, code: int, message: str) -> None:
        await _refuse(self.socket, code, message, self.error)


def _native_error(message: str) -> dict:
    return {"type": "error", "stage": "session", "message": message}


async def _refuse(socket: WebSocket, code: int, message: str, error: Callable[[str], dict] = _native_error) -> None:
    """Say why in an ``error`` event, then close with a code the client acts on."""
    try:
        await socket.send_json(error(message))
        await socket.close(code=code)
    except Exception:  # noqa: BLE001 - the client is gone already
        pass


def _bearer(authorization: str | None) -> str | None:
    return authorization.removeprefix("Bearer ").strip() if authorization else None


def _clock_origin(store) -> float | None:
    """Wall-clock time of memory time 0 (set by live sessions), for clock-time captions."""
    return store.meta().get("clock_origin")


def memory_item(c, images: bool = True) -> dict:
    """A clip or episode as the page's timeline shows it."""
    d = event_json(c) if images else {**c.to_dict(), "names": names_of(c)}
    d.pop("keyframe_jpeg_bytes", None)
    return {**d, "kind": "seen"}


async def _ended_elsewhere(wire: Wire, serving: asyncio.Future, code: int, why: str) -> None:
    """Another tab took this session over (4410), or its token was deleted (4404)."""
    await wire.refuse(code, why)
    if serving.done():
        serving.result().cancel()


async def _serve(socket: WebSocket, session: Session, metrics: Metrics, source: str | None = None) -> None:
    out = Outbox(OUT_QUEUE, session.name)
    clock = TurnClock(metrics, session.name)

    def enqueue(ev: Event) -> None:
        if not isinstance(ev, (AudioChunk, Frame)) and ev.type not in HIDDEN:
            out.put(ev)

    session.subscribe(enqueue)
    sender = asyncio.create_task(_send(socket, out, clock, metrics, session.ctx.memory))
    puller = asyncio.create_task(_pull(session, source)) if source else None
    try:
        await _receive(socket, session, clock, metrics, None if source else session.ctx.settings.server.idle_timeout_s)
    except WebSocketDisconnect:
        log.info("%s: client disconnected", session.name)
    finally:
        sender.cancel()
        if puller is not None:
            puller.cancel()


async def _pull(session: Session, url: str) -> None:
    """The session's camera and mic come from a media server; the socket carries events only."""
    try:
        await pull(session, url)
        session.report_error("source", f"the stream {url} ended")
    except MediaError as exc:
        session.report_error("source", str(exc))


def _observe(ev: Event, clock: TurnClock, metrics: Metrics) -> None:
    if ev.type == "utterance" and ev.for_assistant:
        clock.heard(ev.turn_id, ev.asr_latency_s)
    elif ev.type == "answer":
        clock.answered(ev.turn_id, ev.first_token_s, ev.interrupted)
    elif ev.type == "interrupt" and ev.cancelled_turn is not None:
        metrics.interrupts.inc()
    elif ev.type == "error":
        metrics.errors.labels(ev.stage).inc()


async def _send(socket: WebSocket, out: Outbox, clock: TurnClock, metrics: Metrics, memory) -> None:
    """Events go out in order; turns are timed as they go (first audio *sent*, not produced)."""
    while True:
        ev = await out.get()
        if isinstance(ev, AnswerAudio):
            await socket.send_bytes(protocol.encode_audio(ev))
            clock.audio_sent(ev.turn_id)
        else:
            names = voice_names(memory) if isinstance(ev, (HeardItem, QueryEvent)) else None
            await socket.send_json(event_json(ev, names))
            _observe(ev, clock, metrics)


async def _receive(socket: WebSocket, session: Session, clock: TurnClock, metrics: Metrics,
                   idle_s: float | None) -> None:
    """The client's messages until it leaves, or sends nothing for ``idle_s`` (4408: a socket
    left open holds a slot another user could have; the page pings while it is open)."""
    pace = FramePace(session.ctx.settings.runtime.video_fps)
    while True:
        try:
            msg = await asyncio.wait_for(socket.receive(), idle_s)
        except TimeoutError:
            log.info("%s: idle for %.0f s: closing", session.name, idle_s)
            await _refuse(socket, 4408, f"nothing was received for {idle_s:.0f} s (server.idle_timeout_s)")
            return
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        try:
            if msg.get("bytes") is not None:
                media = protocol.parse_binary(msg["bytes"])
                if media.kind == protocol.AUDIO_IN:
                    session.offer_audio(media.t, protocol.decode_audio(media))
                elif session.wants_frame(media.t) and pace.allow():  # only sampled frames are decoded
                    session.offer_frame(media.t, await asyncio.to_thread(protocol.decode_jpeg, media))
                else:
                    session.skip_frame(media.t)
            elif msg.get("text") is not None:
                cmd = protocol.parse_text(msg["text"])
                if cmd["type"] == "ask":
                    clock.asked(await session.ask(cmd["text"], speak=bool(cmd.get("speak", True))))
                elif cmd["type"] == "config":
                    if "speak" in cmd:
                        session.speak_answers = cmd["speak"]
                    if "language" in cmd:
                        session.answer_language = None if cmd["language"] == "auto" else cmd["language"]
                    if "remember" in cmd and cmd["remember"] != session.remembering:
                        session.set_remembering(cmd["remember"])
                elif cmd["type"] == "unwatch":
                    await session.unwatch(cmd["watch_id"])
                elif cmd["type"] == "stop":
                    session.stop()
                elif cmd["type"] == "enrol":
                    session.dispatch.enrol_next()
        except (protocol.ProtocolError, AudioFormatError) as exc:
            metrics.bad_messages.inc()
            log.warning("%s: bad message: %s", session.name, exc)
            await socket.send_json({"type": "error", "stage": "protocol", "message": str(exc)})
