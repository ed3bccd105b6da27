"""``/v1/realtime``: the OpenAI Realtime protocol in front of a live Session.

Clients built for OpenAI's Realtime API (the ``openai`` SDK's ``client.realtime.connect``, pipecat's
and LiveKit's realtime services, anything that takes a ``base_url``) can use omnilive as their
model. The socket is a translation layer only: audio and images go into the same Session the page
uses (memory, watches, barge-in, the instruction filter), and the Session's events come back as
Realtime server events. What maps to what (docs/PROTOCOL.md, "OpenAI Realtime"):

    input_audio_buffer.append   PCM16 at the session's input rate -> Session.offer_audio (resampled)
    input_audio_buffer.commit   the turn ends now (the silence the VAD waits for is added)
    conversation.item.create    input_text: held for response.create; input_image: a camera frame
    response.create             the held text asked as a typed question; or a heard utterance the
                                filter took for background talk, answered because the client asks
    response.cancel             Session.stop()
    SpeechStarted / Utterance   input_audio_buffer.speech_started / speech_stopped, committed,
                                conversation.item.input_audio_transcription.completed
    Query .. Answer             response.created ... response.output_audio(_transcript).delta ... response.done
    Alert, grounding, pauses    omnilive.alert, omnilive.grounding, omnilive.answer_paused / _resumed

Turn detection is always the server's (Silero VAD + Smart Turn) and answers to speech come without
a ``response.create``, as with OpenAI's ``server_vad`` and ``create_response: true``. A client that
sends ``OpenAI-Beta: realtime=v1`` gets the beta event names (``response.audio.delta``, ...).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from ..dsp import AudioFormatError, float_to_pcm16, pcm16_to_float, resample
from ..events import (
    Alert, Answer, AnswerAudio, AnswerDelta, AnswerPaused, AnswerResumed, AudioChunk, ErrorEvent, Event, Frame,
    Query, SpeechStarted, Utterance,
)
from ..reasoning.heard import heard_row
from ..reasoning.sight import names_of
from ..redaction import public
from ..runtime.session import Session
from . import protocol
from .guard import FramePace
from .outbox import Outbox

log = logging.getLogger(__name__)
RATE = 24000  # the Realtime API's PCM rate, in and out
MAX_APPEND_S = 15.0  # audio in one append message (OpenAI allows 15 MiB of base64)
OUT_QUEUE = 512  # audio deltas are smaller than the native protocol's sentences: more of them queue
SEEN_WAIT_S = 5.0  # an image item is acknowledged once encoded, or after this long
MODEL = "omnilive"
VOICE = "default"  # one voice per language is configured on the server (tts.voice)


class RealtimeError(ValueError):
    """A client event this server cannot carry out: answered with an ``error`` event, session kept."""

    def __init__(self, message: str, code: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


@dataclass
class Config:
    """What ``session.update`` set: the answer's modalities and the audio rates."""

    audio_out: bool = True
    input_rate: int = RATE
    output_rate: int = RATE
    voice: str = VOICE
    instructions: str = ""
    turn_detection: dict | None = field(default_factory=lambda: {"type": "server_vad", "create_response": True})


@dataclass
class Response:
    """One answer as a Realtime response: its ids and what it has said so far."""

    turn_id: int
    audio: bool
    transcript: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def id(self) -> str:
        return f"resp_{self.turn_id}"

    @property
    def item_id(self) -> str:
        return f"item_a{self.turn_id}"


class StreamClock:
    """Stream time for one connection: the audio received so far (the Realtime API has no
    timestamps); before any audio, seconds since the connection opened, so frames from a
    client without a microphone are still sampled one per second."""

    def __init__(self) -> None:
        self.audio_s, self._heard, self._t0 = 0.0, False, time.monotonic()

    def audio(self, n: int, rate: int) -> float:
        t, self._heard = self.audio_s, True
        self.audio_s += n / rate
        return t

    def now(self) -> float:
        return self.audio_s if self._heard else time.monotonic() - self._t0


class RealtimeLink:
    """One ``/v1/realtime`` connection on one Session."""

    def __init__(self, socket: WebSocket, session: Session, beta: bool = False) -> None:
        self.socket, self.session, self.beta = socket, session, beta
        self.config = Config(audio_out=session.speak_answers)
        self.clock = StreamClock()
        self.out = Outbox(OUT_QUEUE, f"{session.name}-realtime")
        self._ids = itertools.count(1)
        self._text: list[str] = []  # input_text items waiting for response.create
        self._items: list[str] = []  # ids of the conversation's items, in order
        self._responses: dict[int, Response] = {}  # turn id -> its response, while it is open
        self._requested: set[int] = set()  # turns the client asked a response for (response.create)
        self._unanswered: Utterance | None = None  # the last utterance taken for background talk
        self._appended = 0  # samples appended since the last commit or clear
        self._pace = FramePace(session.ctx.settings.runtime.video_fps)

    # ---- the connection ------------------------------------------------------------------------

    def session_object(self) -> dict:
        """The session as ``session.created`` / ``session.updated`` describe it."""
        c = self.config
        modalities = ["audio"] if c.audio_out else ["text"]
        if self.beta:
            return {"id": f"sess_{self.session.name}", "object": "realtime.session", "model": MODEL,
                    "modalities": ["text", "audio"] if c.audio_out else ["text"], "voice": c.voice,
                    "instructions": c.instructions, "input_audio_format": "pcm16", "output_audio_format": "pcm16",
                    "input_audio_transcription": {"model": "whisper"}, "turn_detection": c.turn_detection,
                    "tools": [], "tool_choice": "auto"}
        pcm = lambda rate: {"type": "audio/pcm", "rate": rate}  # noqa: E731
        return {"type": "realtime", "object": "realtime.session", "id": f"sess_{self.session.name}", "model": MODEL,
                "output_modalities": modalities, "instructions": c.instructions,
                "audio": {"input": {"format": pcm(c.input_rate), "turn_detection": c.turn_detection,
                                    "transcription": {"model": "whisper"}},
                          "output": {"format": pcm(c.output_rate), "voice": c.voice, "speed": 1.0}},
                "tools": [], "tool_choice": "auto", "max_output_tokens": "inf"}

    async def serve(self, idle_s: float | None = None) -> None:
        """``session.created``, then the client's events until it leaves or sends nothing for
        ``idle_s`` (closed with 4408, as the native socket); the Session's events go out in order
        through an outbox (an interrupt drops the cut answer's queued audio)."""
        self.session.subscribe(self._enqueue)
        await self._send({"type": "session.created", "session": self.session_object()})
        sender = asyncio.create_task(self._sender())
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(self.socket.receive(), idle_s)
                except TimeoutError:
                    await self._error(f"nothing was received for {idle_s:.0f} s (server.idle_timeout_s)", "idle_timeout")
                    await self.socket.close(code=4408)
                    return
                if msg["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(msg.get("code", 1000))
                await self._on_message(msg.get("text") if msg.get("text") is not None else msg.get("bytes"))
        except WebSocketDisconnect:
            log.info("%s: realtime client disconnected", self.session.name)
        finally:
            sender.cancel()

    async def _on_message(self, raw: str | bytes | None) -> None:
        event_id = None
        try:
            if not isinstance(raw, str):
                raise RealtimeError("messages must be JSON text")
            try:
                msg = json.loads(raw)
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                raise RealtimeError(f"not JSON: {type(exc).__name__}") from exc
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise RealtimeError("an event must be a JSON object with a string `type`")
            event_id = msg.get("event_id") if isinstance(msg.get("event_id"), str) else None
            handler = HANDLERS.get(msg["type"])
            if handler is None:
                raise RealtimeError(f"unsupported event type {msg['type']!r}", "unsupported_event", "type")
            await handler(self, msg)
        except (RealtimeError, AudioFormatError, protocol.ProtocolError) as exc:
            log.warning("%s: realtime: %s", self.session.name, exc)
            await self._error(str(exc), getattr(exc, "code", "invalid_request_error"), getattr(exc, "param", None),
                              event_id)

    async def _error(self, message: str, code: str, param: str | None = None, event_id: str | None = None,
                     kind: str = "invalid_request_error") -> None:
        await self._send({"type": "error", "error": {"type": kind, "code": code, "message": message,
                                                     "param": param, "event_id": event_id}})

    async def _send(self, event: dict) -> None:
        await self.socket.send_text(json.dumps({"event_id": f"event_{next(self._ids)}", **event},
                                               ensure_ascii=False))

    # ---- client events -------------------------------------------------------------------------

    async def session_update(self, msg: dict) -> None:
        s = _obj(msg, "session")
        c = self.config
        audio = s.get("audio") if isinstance(s.get("audio"), dict) else {}
        inp = audio.get("input") if isinstance(audio.get("input"), dict) else {}
        out = audio.get("output") if isinstance(audio.get("output"), dict) else {}
        modalities = s.get("output_modalities", s.get("modalities"))
        if modalities is not None:
            if not isinstance(modalities, list) or not modalities or not set(modalities) <= {"audio", "text"}:
                raise RealtimeError("modalities must be a list of 'audio' and/or 'text'", param="session.output_modalities")
            c.audio_out = "audio" in modalities
            self.session.speak_answers = c.audio_out
        if "format" in inp or "input_audio_format" in s:
            c.input_rate = _rate(inp.get("format", s.get("input_audio_format")), "session.audio.input.format")
        if "format" in out or "output_audio_format" in s:
            c.output_rate = _rate(out.get("format", s.get("output_audio_format")), "session.audio.output.format")
        voice = out.get("voice", s.get("voice"))
        if isinstance(voice, str) and voice:
            c.voice = voice  # accepted and echoed: the server's voice per language is its configuration
        if "turn_detection" in inp or "turn_detection" in s:
            td = inp.get("turn_detection", s.get("turn_detection"))
            if td is not None and not isinstance(td, dict):
                raise RealtimeError("turn_detection must be an object or null", param="session.turn_detection")
            c.turn_detection = td
        if isinstance(s.get("instructions"), str):
            c.instructions = s["instructions"][:protocol.MAX_TEXT_CHARS]
        await self._send({"type": "session.updated", "session": self.session_object()})

    async def audio_append(self, msg: dict) -> None:
        data = msg.get("audio")
        if not isinstance(data, str):
            raise RealtimeError("`audio` must be base64 PCM16", param="audio")
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RealtimeError("`audio` is not valid base64", param="audio") from exc
        rate = self.config.input_rate
        if len(pcm) > MAX_APPEND_S * rate * 2:
            raise RealtimeError(f"at most {MAX_APPEND_S:.0f} s of audio per append", param="audio")
        samples = pcm16_to_float(pcm)
        self._appended += len(samples)
        step = rate // 2  # half a second per queue entry: a long append is not one huge VAD step
        for i in range(0, len(samples), step):
            part = samples[i : i + step]
            self.session.offer_audio(self.clock.audio(len(part), rate), part, rate)

    async def audio_commit(self, msg: dict) -> None:
        """End the user's turn now: the silence the VAD and the end-of-turn model wait for is added,
        so the turn ends by the same code as a pause would end it."""
        if not self._appended:
            raise RealtimeError("no audio was appended since the last commit", "input_audio_buffer_commit_empty")
        cfg = self.session.ctx.settings
        silence_s = (max(cfg.vad.min_silence_ms, cfg.turn.incomplete_ms) + 300) / 1000
        n = int(silence_s * self.config.input_rate)
        await self.audio_append({"audio": base64.b64encode(bytes(2 * n)).decode()})
        self._appended = 0

    async def audio_clear(self, msg: dict) -> None:
        """Audio already appended has been heard (the VAD reads it as it comes); nothing is held back."""
        self._appended = 0
        await self._send({"type": "input_audio_buffer.cleared"})

    async def item_create(self, msg: dict) -> None:
        item = _obj(msg, "item")
        if item.get("type", "message") != "message" or item.get("role", "user") != "user":
            raise RealtimeError("only user messages can be added (no assistant, system or function items)",
                                "unsupported_item", "item")
        content = item.get("content")
        if not isinstance(content, list) or not content:
            raise RealtimeError("a message needs a `content` list", param="item.content")
        texts, images = [], []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("input_text", "text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "input_image" and isinstance(part.get("image_url"), str):
                images.append(_image(part["image_url"]))
            else:
                raise RealtimeError(f"unsupported content part {kind!r} (input_text and input_image are)",
                                    "unsupported_content", "item.content")
        text = " ".join(t.strip() for t in texts if t.strip())
        if len(text) > protocol.MAX_TEXT_CHARS:
            raise RealtimeError(f"text of at most {protocol.MAX_TEXT_CHARS} characters", param="item.content")
        for image in images:  # a camera frame, sampled (and its decoding paced) like any other
            t = self.clock.now()
            if self.session.wants_frame(t) and self._pace.allow():
                self.session.offer_frame(t, await asyncio.to_thread(protocol.decode_jpeg, image))
                await self.session.seeing.caught_up(t, SEEN_WAIT_S)  # the item is done once it is seen
            else:
                self.session.skip_frame(t)
        if text:
            self._text.append(text)
        item_id = item.get("id") if isinstance(item.get("id"), str) else f"item_c{next(self._ids)}"
        parts = ([{"type": "input_text", "text": text}] if text else []) + [{"type": "input_image"}] * len(images)
        await self._item_added({"id": item_id, "type": "message", "role": "user", "status": "completed",
                                "content": parts})

    async def response_create(self, msg: dict) -> None:
        if any(not r.cancelled for r in self._responses.values()):
            raise RealtimeError("a response is already in progress", "conversation_already_has_active_response")
        options = msg.get("response") if isinstance(msg.get("response"), dict) else {}
        modalities = options.get("output_modalities", options.get("modalities"))
        speak = self.config.audio_out if not isinstance(modalities, list) else "audio" in modalities
        if self._text:
            text, self._text = " ".join(self._text), []
        elif self._unanswered is not None:  # asked for: it was for the assistant after all
            text, self._unanswered = self._unanswered.text, None
        else:
            raise RealtimeError("nothing to respond to: add a user message or speak first", "no_input")
        self._requested.add(await self.session.ask(text, speak=speak))

    async def response_cancel(self, msg: dict) -> None:
        if not self._responses:
            raise RealtimeError("no response is in progress", "response_cancel_not_active")
        self.session.stop()

    async def item_truncate(self, msg: dict) -> None:
        """The client played only part of an answer. The server already counts what it sent as
        heard up to the interruption (runtime/control.py); this is acknowledged."""
        await self._send({"type": "conversation.item.truncated", "item_id": msg.get("item_id"),
                          "content_index": msg.get("content_index", 0), "audio_end_ms": msg.get("audio_end_ms", 0)})

    # ---- session events -> Realtime events -------------------------------------------------------

    def _enqueue(self, ev: Event) -> None:
        if not isinstance(ev, (AudioChunk, Frame)) and ev.type in FORWARDED:
            self.out.put(ev)

    async def _sender(self) -> None:
        while True:
            ev = await self.out.get()
            try:
                await self._forward(ev)
            except (WebSocketDisconnect, RuntimeError):
                return  # the socket is gone; the receiver ends the session
            except Exception:  # noqa: BLE001 - one event that cannot be sent must not end the session
                log.exception("%s: realtime: could not send %s", self.session.name, ev.type)

    async def _forward(self, ev: Event) -> None:
        if isinstance(ev, SpeechStarted):
            await self._send({"type": "input_audio_buffer.speech_started", "audio_start_ms": _ms(ev.t),
                              "item_id": f"item_u{ev.turn_id}"})
        elif isinstance(ev, Utterance):
            await self._utterance(ev)
        elif isinstance(ev, Query):
            await self._open(ev.turn_id)
            await self._send({"type": "omnilive.grounding", "response_id": f"resp_{ev.turn_id}", "kind": ev.kind,
                              "clips": [{"start": c.start, "end": c.end, "labels": list(c.labels),
                                         "names": names_of(c)} for c in ev.clips[:3]],
                              "heard": [heard_row(i) for i in ev.heard[:3]]})
        elif isinstance(ev, AnswerDelta):
            r = await self._open(ev.turn_id)
            r.transcript.append(ev.text)
            await self._send({"type": self._name("transcript_delta" if r.audio else "text_delta"),
                              "response_id": r.id, "item_id": r.item_id, "output_index": 0, "content_index": 0,
                              "delta": ev.text})
        elif isinstance(ev, AnswerAudio):
            r = await self._open(ev.turn_id)
            pcm = ev.pcm16 if ev.sample_rate == self.config.output_rate else float_to_pcm16(
                resample(pcm16_to_float(ev.pcm16), ev.sample_rate, self.config.output_rate))
            await self._send({"type": self._name("audio_delta"), "response_id": r.id, "item_id": r.item_id,
                              "output_index": 0, "content_index": 0, "delta": base64.b64encode(pcm).decode()})
        elif isinstance(ev, Answer):
            await self._close(ev)
        elif isinstance(ev, Alert):
            await self._send({"type": "omnilive.alert", "watch_id": ev.watch_id, "watch": ev.watch, "kind": ev.kind,
                              "start": ev.start, "end": ev.end, "text": ev.text, "labels": list(ev.labels)})
        elif isinstance(ev, (AnswerPaused, AnswerResumed)):
            await self._send({"type": f"omnilive.{ev.type}", "response_id": f"resp_{ev.turn_id}"})
        elif isinstance(ev, ErrorEvent):
            await self._error(public(ev.message), ev.stage, kind="server_error")

    async def _utterance(self, utt: Utterance) -> None:
        """A heard utterance is a user item with its transcript (typed ones were added already);
        one not for the assistant ends a response the client asked for, unanswered."""
        if utt.source == "speech":
            item_id = f"item_u{utt.turn_id}"
            await self._send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": _ms(utt.end),
                              "item_id": item_id})
            await self._send({"type": "input_audio_buffer.committed", "item_id": item_id,
                              "previous_item_id": self._items[-1] if self._items else None})
            await self._item_added({"id": item_id, "type": "message", "role": "user", "status": "completed",
                                    "content": [{"type": "input_audio", "transcript": utt.text}]})
            await self._send({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                              "content_index": 0, "transcript": utt.text, "language": utt.language,
                              "omnilive": {"for_assistant": utt.for_assistant, "command": utt.command}})
            self._unanswered = None if utt.for_assistant or utt.command else utt
        if utt.turn_id in self._requested and (utt.command or not utt.for_assistant):
            await self._close(Answer(turn_id=utt.turn_id, text="", interrupted=True))

    async def _item_added(self, item: dict, done: bool = True) -> None:
        """A conversation item exists (``conversation.item.added``; beta: ``.created``) and, unless
        an answer is still being given, is complete (``conversation.item.done``)."""
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        if self.beta:
            await self._send({"type": "conversation.item.created", "previous_item_id": previous, "item": item})
            return
        await self._send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        if done:
            await self._send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def _open(self, turn_id: int) -> Response:
        """The turn's response, announced on its first event (an answer to speech starts without a
        response.create, as with OpenAI's server VAD)."""
        r = self._responses.get(turn_id)
        if r is not None:
            return r
        r = self._responses[turn_id] = Response(turn_id, audio=self.config.audio_out)
        part = {"type": ("audio" if self.beta else "output_audio") if r.audio else ("text" if self.beta else "output_text"),
                "transcript" if r.audio else "text": ""}
        await self._send({"type": "response.created", "response": self._response_object(r, "in_progress")})
        item = self._assistant_item(r, "in_progress", [])
        await self._send({"type": "response.output_item.added", "response_id": r.id, "output_index": 0, "item": item})
        await self._item_added(item, done=False)
        await self._send({"type": "response.content_part.added", "response_id": r.id, "item_id": r.item_id,
                          "output_index": 0, "content_index": 0, "part": part})
        return r

    async def _close(self, answer: Answer) -> None:
        if answer.turn_id not in self._responses:
            if answer.turn_id not in self._requested:
                return  # a turn that was never answered, and nobody asked for a response
            await self._open(answer.turn_id)  # asked for, and cut before it began: it ends cancelled
        r = self._responses.pop(answer.turn_id)
        self._requested.discard(answer.turn_id)
        text = answer.text or "".join(r.transcript).strip()
        where = {"response_id": r.id, "item_id": r.item_id, "output_index": 0, "content_index": 0}
        if r.audio:
            await self._send({"type": self._name("audio_done"), **where})
            await self._send({"type": self._name("transcript_done"), **where, "transcript": text})
            part = {"type": "audio" if self.beta else "output_audio", "transcript": text}
        else:
            await self._send({"type": self._name("text_done"), **where, "text": text})
            part = {"type": "text" if self.beta else "output_text", "text": text}
        status = "cancelled" if answer.interrupted else "completed"
        item = self._assistant_item(r, "incomplete" if answer.interrupted else "completed", [part])
        await self._send({"type": "response.content_part.done", **where, "part": part})
        await self._send({"type": "response.output_item.done", "response_id": r.id, "output_index": 0, "item": item})
        if not self.beta:
            at = self._items.index(r.item_id)
            previous = self._items[at - 1] if at else None
            await self._send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        await self._send({"type": "response.done", "response": self._response_object(r, status, [item])})

    def _response_object(self, r: Response, status: str, output: list | None = None) -> dict:
        details = {"type": "cancelled", "reason": "turn_detected"} if status == "cancelled" else None
        return {"id": r.id, "object": "realtime.response", "status": status, "status_details": details,
                "output": output or [], "conversation_id": f"conv_{self.session.name}",
                ("modalities" if self.beta else "output_modalities"): ["audio"] if r.audio else ["text"],
                "usage": None}

    def _assistant_item(self, r: Response, status: str, content: list) -> dict:
        return {"id": r.item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": status, "content": content}

    def _name(self, what: str) -> str:
        """The answer's event names: GA (``response.output_audio.delta``) or beta (``response.audio.delta``)."""
        ga = {"audio_delta": "response.output_audio.delta", "audio_done": "response.output_audio.done",
              "transcript_delta": "response.output_audio_transcript.delta",
              "transcript_done": "response.output_audio_transcript.done",
              "text_delta": "response.output_text.delta", "text_done": "response.output_text.done"}[what]
        return ga.replace("output_", "") if self.beta else ga


HANDLERS = {
    "session.update": RealtimeLink.session_update,
    "input_audio_buffer.append": RealtimeLink.audio_append,
    "input_audio_buffer.commit": RealtimeLink.audio_commit,
    "input_audio_buffer.clear": RealtimeLink.audio_clear,
    "conversation.item.create": RealtimeLink.item_create,
    "conversation.item.truncate": RealtimeLink.item_truncate,
    "response.create": RealtimeLink.response_create,
    "response.cancel": RealtimeLink.response_cancel,
}
FORWARDED = {"speech_started", "utterance", "query", "answer_delta", "answer_audio", "answer", "alert",
             "answer_paused", "answer_resumed", "error"}


def bearer_token(authorization: str | None, subprotocols: str | None) -> str | None:
    """The API key is the session token: ``Authorization: Bearer T`` (SDKs), or the subprotocol
    ``openai-insecure-api-key.T`` that browsers send, where no header can be set."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    for p in (subprotocols or "").split(","):
        if p.strip().startswith("openai-insecure-api-key."):
            return p.strip().removeprefix("openai-insecure-api-key.") or None
    return None


def is_beta(headers: Any) -> bool:
    return "realtime=v1" in (headers.get("openai-beta") or "")


def refusal(message: str) -> dict:
    """A refused connection, said as a Realtime ``error`` before the close."""
    return {"type": "error", "event_id": "event_0",
            "error": {"type": "invalid_request_error", "code": "session_refused", "message": message,
                      "param": None, "event_id": None}}


def _obj(msg: dict, key: str) -> dict:
    value = msg.get(key)
    if not isinstance(value, dict):
        raise RealtimeError(f"`{key}` must be an object", param=key)
    return value


def _rate(fmt: Any, param: str) -> int:
    """PCM16 mono at the given rate (beta: "pcm16" at 24 kHz); G.711 is not supported."""
    if fmt == "pcm16":
        return RATE
    if isinstance(fmt, dict) and fmt.get("type") in ("audio/pcm", None):
        rate = fmt.get("rate", RATE)
        if isinstance(rate, int) and not isinstance(rate, bool) and 8000 <= rate <= 48000:
            return rate
        raise RealtimeError("rate must be an integer from 8000 to 48000", param=param)
    raise RealtimeError("only PCM16 audio is supported (audio/pcm or pcm16), not G.711", "unsupported_audio_format",
                        param)


def _image(url: str) -> protocol.MediaIn:
    """A ``data:image/jpeg;base64,...`` (or PNG) URL as the native protocol's frame payload; remote
    URLs are not fetched (the server would fetch what a client names)."""
    head, _, data = url.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        raise RealtimeError("input_image needs a base64 data URL (data:image/jpeg;base64,...)",
                            "unsupported_image_url", "item.content")
    if len(data) > protocol.MAX_FRAME_BYTES * 4 // 3 + 4:
        raise RealtimeError(f"an image of at most {protocol.MAX_FRAME_BYTES} bytes", param="item.content")
    try:
        payload = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RealtimeError("input_image is not valid base64", param="item.content") from exc
    return protocol.MediaIn(protocol.FRAME_IN, 0.0, payload)


def _ms(t: float) -> int:
    return int(round(t * 1000))

