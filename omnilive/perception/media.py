"""Reading recorded media with PyAV: audio resampled to 16 kHz mono, video frames as RGB arrays,
both with their stream timestamps, interleaved in presentation order as a live feed would be."""

from __future__ import annotations

import errno
import logging
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np

from ..events import SAMPLE_RATE
from .video import FrameSampler

log = logging.getLogger(__name__)


# A live URL (rtmp://, http://...flv, rtsp://): give up after 5 s without data instead of hanging, and
# probe 2 s of stream instead of FFmpeg's default, which took 12 s to open an RTMP stream
LIVE_OPTIONS = {"rw_timeout": "5000000", "analyzeduration": "2000000"}
# FFmpeg protocols a live URL of each scheme may use: nothing else (no file:, no concat:, no
# subfile:), so a playlist or redirect cannot make the server read its own disk
PROTOCOLS = {"rtmp": "rtmp,tcp", "rtmps": "rtmps,rtmp,tcp,tls", "rtsp": "rtsp,rtp,udp,tcp",
             "http": "http,tcp,hls,crypto", "https": "https,http,tcp,tls,hls,crypto", "srt": "srt,udp"}


class MediaError(ValueError):
    """The file cannot be read as audio/video; the message says why."""


def live_options(url: str) -> dict[str, str]:
    scheme = url.split("://", 1)[0].lower()
    if scheme not in PROTOCOLS:
        raise MediaError(f"{url}: scheme {scheme!r} is not one of {sorted(PROTOCOLS)}")
    return {**LIVE_OPTIONS, "protocol_whitelist": PROTOCOLS[scheme]}


class ConfinedHTTP:
    """``io_open`` for an http(s) source: FFmpeg's HLS demuxer opens whatever variant, segment and
    key URLs a playlist names, and its HTTP client follows redirects anywhere (no FFmpeg option
    confines hosts; ``max_redirects`` does not reach segment requests). Here every URL FFmpeg opens,
    and every redirect, is fetched in Python only if ``allow(url)`` (the server's pull prefixes);
    after one refusal every later open fails too, and ``check`` ends the source with a MediaError.
    AES-128 HLS (FFmpeg's ``crypto+`` URLs) is refused: its decryption lives in FFmpeg's own I/O."""

    def __init__(self, allow: Callable[[str], bool], timeout: float) -> None:
        self.allow, self.timeout, self.refused = allow, timeout, None
        self.opener = urllib.request.build_opener(_Redirects(self))

    def admit(self, url: str) -> None:
        if self.refused is None and not self.allow(url):
            why = "encrypted HLS is not supported" if url.startswith("crypto") else "not under server.pull_prefixes"
            self.refused = f"refused {url}: {why}"
        if self.refused is not None:
            raise MediaError(self.refused)

    def check(self) -> None:
        if self.refused is not None:
            raise MediaError(self.refused)

    def __call__(self, url: str, flags: int, options: dict) -> "_Body":
        self.admit(url)
        start, end = int(options.get("offset") or 0), int(options.get("end_offset") or 0)
        ranged = {"Range": f"bytes={start}-{end - 1 if end > 0 else ''}"} if start or end > 0 else {}
        resp = self.opener.open(urllib.request.Request(url, headers=ranged), timeout=self.timeout)
        if ranged and resp.status != 206:
            resp.close()
            raise MediaError(f"{url}: the server ignored a byte range (EXT-X-BYTERANGE)")
        return _Body(resp)


class _Redirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, io: ConfinedHTTP) -> None:
        self.io = io

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            self.io.admit(newurl)
        except MediaError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Body:
    """A response as PyAV reads it: no seek (a live stream), and ``read1`` so a live HTTP-FLV
    stream is handed on as it arrives instead of once 32 KiB have come."""

    def __init__(self, resp) -> None:
        self.resp = resp

    def read(self, n: int) -> bytes:
        return self.resp.read1(n)

    def close(self) -> None:
        self.resp.close()


def _same_origin(url: str) -> Callable[[str], bool]:
    def allow(u: str) -> bool:
        try:
            return urlsplit(u)[:2] == urlsplit(url)[:2]
        except ValueError:
            return False
    return allow


@dataclass(frozen=True, slots=True)
class MediaInfo:
    duration: float | None
    has_audio: bool
    has_video: bool


def probe(path: str | Path) -> MediaInfo:
    try:
        with av.open(str(path)) as c:
            dur = float(c.duration / av.time_base) if c.duration else None
            return MediaInfo(dur, bool(c.streams.audio), bool(c.streams.video))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open {path}: {exc}") from exc


def _resampler() -> av.AudioResampler:
    return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)


def _audio_samples(frames: list[av.AudioFrame]) -> np.ndarray:
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]) if frames else np.zeros(0, np.float32)


def read_audio(path: str | Path) -> np.ndarray:
    """Whole audio track as 16 kHz mono float32 (wav, flac, mp3, mp4, ...)."""
    parts = [s for kind, _, s in iter_media(path, video=False) if kind == "audio"]
    if not parts:
        raise MediaError(f"{path} has no audio stream")
    return np.concatenate(parts)


def write_video(path: str | Path, images, fps: float, audio: np.ndarray | None = None) -> Path:
    """An mp4 of RGB ``images`` (PIL images or arrays, all one size) at ``fps``, with 16 kHz mono
    ``audio`` as its AAC track when given: composed streams for tests and benchmarks."""
    from PIL import Image

    frames = [im if isinstance(im, Image.Image) else Image.fromarray(im) for im in images]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        streams = [vs]
        if audio is not None:  # (every stream is added before the first packet is written)
            aus = out.add_stream("aac", rate=SAMPLE_RATE)
            aus.layout = "mono"
            streams.append(aus)
        for im in frames:
            for packet in vs.encode(av.VideoFrame.from_image(im)):
                out.mux(packet)
        if audio is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for i in range(0, len(pcm), 1024):
                frame = av.AudioFrame.from_ndarray(pcm[None, i: i + 1024], format="s16", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                for packet in aus.encode(frame):
                    out.mux(packet)
        for stream in streams:
            for packet in stream.encode(None):
                out.mux(packet)
    return Path(path)


def iter_media(path: str | Path, *, audio: bool = True, video: bool = True, max_side: int = 640,
               video_fps: float | None = None, start: float = 0.0,
               allow: Callable[[str], bool] | None = None) -> Iterator[tuple[str, float, np.ndarray]]:
    """Yield ("audio", t, samples) and ("video", t, rgb) in demux order.

    Audio ``t`` counts samples delivered (robust to odd container timestamps); video ``t`` is the
    frame's presentation time relative to the first frame. Frames larger than ``max_side`` are
    scaled down, since every encoder downstream works at a few hundred pixels. With ``video_fps``
    only sampled frames are converted to RGB (conversion costs more than decoding); frames before
    ``start`` seconds are skipped (resuming an ingest). An http(s) URL and everything it leads to
    (HLS segments, keys, redirects) is fetched only where ``allow`` admits (default: its own
    scheme, host and port; ``ConfinedHTTP``).
    """
    sampler = FrameSampler(video_fps) if video_fps else None
    live = "://" in str(path)
    options = live_options(str(path)) if live else None
    io = None
    if live and str(path).split("://", 1)[0].lower() in ("http", "https"):
        io = ConfinedHTTP(allow or _same_origin(str(path)), int(LIVE_OPTIONS["rw_timeout"]) / 1e6)
        options["http_persistent"] = "0"  # HLS keep-alive reuses FFmpeg's own HTTP context: abort() on ours
    try:
        container = av.open(str(path), options=options, io_open=io)
    except (av.FFmpegError, OSError) as exc:
        if io is not None:
            io.check()  # the refusal, not what FFmpeg made of it
        raise MediaError(f"cannot open {path}: {exc}") from exc
    with container:
        if io is not None:
            io.check()  # a refused key or variant FFmpeg chose to skip
        streams = []
        if audio and container.streams.audio:
            streams.append(container.streams.audio[0])
        if video and container.streams.video:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"
            streams.append(vs)
        if not streams:
            raise MediaError(f"{path} has no {'audio' if audio and not video else 'audio or video'} stream")
        resampler = _resampler()
        audio_t = 0.0
        video_t0: float | None = None
        try:
            for packet in container.demux(*streams):
                for frame in _decode(packet):
                    if isinstance(frame, av.AudioFrame):
                        samples = _audio_samples(resampler.resample(frame))
                        if len(samples):
                            yield "audio", audio_t, samples
                            audio_t += len(samples) / SAMPLE_RATE
                    elif isinstance(frame, av.VideoFrame) and frame.time is not None:
                        video_t0 = frame.time if video_t0 is None else video_t0
                        t = frame.time - video_t0
                        if t >= start and (sampler is None or sampler.keep(t)):
                            yield "video", t, _rgb(frame, max_side)
        except (av.FFmpegError, OSError) as exc:
            if io is not None:
                io.check()
            if live and getattr(exc, "errno", None) == errno.EIO:  # how a media server ends a live stream
                log.info("%s: stream ended", path)
            else:
                raise MediaError(f"{path}: decoding failed: {exc}") from exc
        if io is not None:
            io.check()  # FFmpeg skips a segment it could not open: the stream "ends" early
        if audio and container.streams.audio:
            tail = _audio_samples(resampler.resample(None))
            if len(tail):
                yield "audio", audio_t, tail


def _decode(packet: av.Packet):
    try:
        return packet.decode()
    except av.InvalidDataError as exc:  # one corrupt packet must not end the stream
        log.warning("dropping corrupt %s packet at %s: %s", packet.stream.type, packet.pts, exc)
        return []


def _rgb(frame: av.VideoFrame, max_side: int) -> np.ndarray:
    w, h = frame.width, frame.height
    scale = min(1.0, max_side / max(w, h))
    if scale < 1.0:
        return frame.to_ndarray(format="rgb24", width=int(w * scale) // 2 * 2, height=int(h * scale) // 2 * 2)
    return frame.to_ndarray(format="rgb24")
