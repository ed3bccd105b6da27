"""HTTP + WebSocket server: the page at /, one live Session per WebSocket connection.

Models load once at start-up and are shared; each connection gets its own session (VAD state,
memory, conversation). Outgoing events pass through a bounded per-client queue so a slow client
cannot grow server memory: when it is full, answer audio is dropped first.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..backends.registry import Models, load_models
from ..config import Settings, load_settings
from ..dsp import AudioFormatError
from ..events import AnswerAudio, AudioChunk, ClipMemory, Event, Frame
from ..runtime.session import Session
from . import protocol

log = logging.getLogger(__name__)
OUT_QUEUE = 256
HIDDEN = {"memory_snapshot", "query"}  # internal events the page does not need


def _static(name: str) -> str:
    return resources.files("omnilive.server").joinpath("static", name).read_text()


def event_json(ev: Event) -> dict:
    d = ev.to_dict()
    if isinstance(ev, ClipMemory):  # the page's timeline shows key frames as thumbnails
        d.pop("keyframe_jpeg_bytes", None)
        d["keyframe"] = "data:image/jpeg;base64," + base64.b64encode(ev.keyframe_jpeg).decode()
    return d


def create_app(settings: Settings | None = None, models: Models | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.models = models or await asyncio.to_thread(load_models, settings)
        app.state.sessions = 0
        log.info("omnilive ready")
        yield

    app = FastAPI(title="omnilive", lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return _static("index.html")

    @app.get("/app.js")
    async def app_js() -> Response:
        return Response(_static("app.js"), media_type="text/javascript")

    @app.get("/capture-worklet.js")
    async def worklet_js() -> Response:
        return Response(_static("capture-worklet.js"), media_type="text/javascript")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True, "sessions": app.state.sessions})

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        app.state.sessions += 1
        try:
            await _serve(socket, app.state.models, settings)
        finally:
            app.state.sessions -= 1

    return app


async def _serve(socket: WebSocket, models: Models, settings: Settings) -> None:
    session = await Session(models, settings, name=f"ws{id(socket) & 0xffff:04x}").start()
    out: asyncio.Queue[Event] = asyncio.Queue(OUT_QUEUE)

    def enqueue(ev: Event) -> None:
        if isinstance(ev, (AudioChunk, Frame)) or ev.type in HIDDEN:
            return
        try:
            out.put_nowait(ev)
        except asyncio.QueueFull:
            log.warning("%s: client is slow, dropping %s", session.name, ev.type)

    session.subscribe(enqueue)
    sender = asyncio.create_task(_send(socket, out))
    try:
        await _receive(socket, session)
    except WebSocketDisconnect:
        log.info("%s: client disconnected", session.name)
    finally:
        sender.cancel()
        await session.close()


async def _send(socket: WebSocket, out: asyncio.Queue[Event]) -> None:
    while True:
        ev = await out.get()
        if isinstance(ev, AnswerAudio):
            await socket.send_bytes(protocol.encode_audio(ev))
        else:
            await socket.send_json(event_json(ev))


async def _receive(socket: WebSocket, session: Session) -> None:
    while True:
        msg = await socket.receive()
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        try:
            if msg.get("bytes") is not None:
                media = protocol.parse_binary(msg["bytes"])
                if media.kind == protocol.AUDIO_IN:
                    session.offer_audio(media.t, protocol.decode_audio(media))
                else:
                    session.offer_frame(media.t, await asyncio.to_thread(protocol.decode_jpeg, media))
            elif msg.get("text") is not None:
                cmd = protocol.parse_text(msg["text"])
                if cmd["type"] == "ask":
                    await session.ask(cmd["text"], speak=bool(cmd.get("speak", True)))
                else:
                    session.stop()
        except (protocol.ProtocolError, AudioFormatError) as exc:
            log.warning("%s: bad message: %s", session.name, exc)
            await socket.send_json({"type": "error", "stage": "protocol", "message": str(exc)})
