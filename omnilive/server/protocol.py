"""The WebSocket wire format (documented in docs/PROTOCOL.md).

Binary messages carry media, JSON text messages carry everything else:
    client -> server  binary  [kind u8][t f64 LE][payload]   kind 1: PCM16 mono 16 kHz, 2: JPEG
    client -> server  text    {"type": "ask", "text": "...", "speak": true} | {"type": "stop"}
                              | {"type": "config", "speak": false, "language": "auto"|"en"|"zh", "remember": true}
                              | {"type": "unwatch", "watch_id": 3} | {"type": "ping"} (keeps an idle socket open)
                              | {"type": "enrol"} (the next thing said is in the owner's voice)
    server -> client  binary  [kind u8 = 17][turn u32 LE][seq u32 LE][PCM16 mono @ rate]
    server -> client  text    an event's to_dict(), e.g. {"type": "interrupt", ...}
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dsp import pcm16_to_float
from ..events import AnswerAudio

AUDIO_IN, FRAME_IN, AUDIO_OUT = 1, 2, 17
_HEAD = struct.Struct("<Bd")
_AUDIO_OUT = struct.Struct("<BII")
MAX_AUDIO_BYTES = 16000 * 2 * 2  # 2 s of PCM16 per message
MAX_FRAME_BYTES = 2 << 20  # 2 MiB JPEG
MAX_TEXT_CHARS = 2000
MAX_STREAM_T = 1e8  # seconds (three years): past this, adding a clip's length to a time no longer changes it
ANSWER_LANGUAGES = ("auto", "en", "zh")
MAX_FRAME_PIXELS = 4096 * 4096  # checked from the image header, before anything is decoded
DECODE_SIDE = 640  # frames are kept at most this large (runtime/seeing.py): a JPEG is decoded no larger


class ProtocolError(ValueError):
    """A malformed client message; the server logs it, tells the client and keeps the session."""


@dataclass(frozen=True, slots=True)
class MediaIn:
    kind: int
    t: float
    payload: bytes


def parse_binary(data: bytes) -> MediaIn:
    if len(data) < _HEAD.size + 2:
        raise ProtocolError(f"binary message too short ({len(data)} bytes)")
    kind, t = _HEAD.unpack_from(data)
    payload = data[_HEAD.size :]
    if not np.isfinite(t) or t < 0 or t > MAX_STREAM_T:
        raise ProtocolError(f"bad stream time {t}")
    if kind == AUDIO_IN:
        if len(payload) > MAX_AUDIO_BYTES or len(payload) % 2:
            raise ProtocolError(f"audio message must be PCM16 mono 16 kHz, at most 2 s (got {len(payload)} bytes)")
    elif kind == FRAME_IN:
        if len(payload) > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    else:
        raise ProtocolError(f"unknown binary kind {kind}")
    return MediaIn(kind, t, payload)


def decode_audio(msg: MediaIn) -> np.ndarray:
    return pcm16_to_float(msg.payload)


def decode_jpeg(msg: MediaIn) -> np.ndarray:
    """JPEG or PNG bytes -> RGB. The size is read from the header first: a small file that
    decodes to gigapixels (a decompression bomb) is refused before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(msg.payload)) as img:
            w, h = img.size
            if w * h > MAX_FRAME_PIXELS:
                raise ProtocolError(f"frame of {w}x{h} pixels exceeds {MAX_FRAME_PIXELS} pixels")
            if img.format not in ("JPEG", "PNG"):
                raise ProtocolError(f"frame must be JPEG or PNG, not {img.format}")
            img.draft("RGB", (DECODE_SIDE, DECODE_SIDE))  # a big JPEG decodes at 1/2 .. 1/8 scale: less RAM and CPU
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(f"frame is not a decodable image: {exc}") from exc


def parse_text(text: str) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg}") from exc
    except (RecursionError, ValueError) as exc:  # nested too deep; an integer of thousands of digits
        raise ProtocolError(f"not a message this server reads: {type(exc).__name__}") from exc
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("a text message must be a JSON object with a string `type`")
    if msg["type"] == "ask":
        q = msg.get("text")
        if not isinstance(q, str) or not q.strip() or len(q) > MAX_TEXT_CHARS:
            raise ProtocolError(f"`ask` needs a non-empty `text` of at most {MAX_TEXT_CHARS} characters")
    elif msg["type"] == "config":
        if not {"speak", "language", "remember"} & set(msg):
            raise ProtocolError("`config` needs `speak` (boolean), `remember` (boolean) or `language`")
        for key in ("speak", "remember"):
            if key in msg and not isinstance(msg[key], bool):
                raise ProtocolError(f"`config` needs a boolean `{key}`")
        if "language" in msg and msg["language"] not in ANSWER_LANGUAGES:
            raise ProtocolError(f"`language` must be one of {', '.join(ANSWER_LANGUAGES)}")
    elif msg["type"] == "unwatch":
        if not isinstance(msg.get("watch_id"), int) or isinstance(msg.get("watch_id"), bool):
            raise ProtocolError("`unwatch` needs an integer `watch_id`")
    elif msg["type"] not in ("stop", "ping", "enrol"):
        raise ProtocolError(f"unknown message type {msg['type']!r}")
    return msg


def encode_audio(ev: AnswerAudio) -> bytes:
    return _AUDIO_OUT.pack(AUDIO_OUT, ev.turn_id, ev.seq) + ev.pcm16
