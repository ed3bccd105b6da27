"""Pull sources (`/ws?source=URL`): which URLs ``server.pull_prefixes`` admits, and that an admitted
HLS stream cannot lead the server anywhere else (segments, keys, variants, redirects), served by
real HTTP servers here and read by the real pull path (PyAV/FFmpeg)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from omnilive.perception.media import MediaError
from omnilive.runtime.replay import pull
from omnilive.perception.sources import source_allowed

PREFIXES = ["rtmp://127.0.0.1:1935/live", "http://media.example:8080/hls/", "https://cdn.example/streams",
            "rtsp://[::1]:8554/cam", "srt://10.0.0.5:9000"]

ADMITTED = [
    "rtmp://127.0.0.1:1935/live/cam1",
    "rtmp://127.0.0.1:1935/live",  # the prefix itself
    "rtmp://127.0.0.1:1935/live/",
    "rtmp://127.0.0.1:1935/live/cam.1_a~b-c",
    "rtmp://127.0.0.1:1935/live/cam1?token=abc123&user=cam-1",  # a media server's auth token
    "RTMP://127.0.0.1:1935/live/cam1",  # scheme and host are case-insensitive
    "http://MEDIA.example:8080/hls/cam1/index.m3u8",
    "http://media.example:8080/hls/cam1/seg-12.m4s?_HLS_msn=3&_HLS_part=1",  # LL-HLS
    "https://cdn.example:443/streams/a.m3u8",  # the default port, written out
    "rtsp://[0:0::1]:8554/cam/1",  # one IPv6 address, written another way
    "srt://10.0.0.5:9000?streamid=cam1",
]

REFUSED = [
    # dot segments, plain and escaped, and other ways to climb out of /live
    "rtmp://127.0.0.1:1935/live/../../evil", "rtmp://127.0.0.1:1935/live/..", "rtmp://127.0.0.1:1935/live/./x",
    "rtmp://127.0.0.1:1935/live/.../x", "rtmp://127.0.0.1:1935/live/%2e%2e/evil", "rtmp://127.0.0.1:1935/live/%2E%2E/evil",
    "rtmp://127.0.0.1:1935/live/.%2e/evil", "rtmp://127.0.0.1:1935/live/..\\evil", "rtmp://127.0.0.1:1935/live\\..\\evil",
    "rtmp://127.0.0.1:1935/live//evil", "rtmp://127.0.0.1:1935/live/x%2f..%2f..%2fevil", "rtmp://127.0.0.1:1935/live/x%5cevil",
    "rtmp://127.0.0.1:1935/live/x%40evil.example", "rtmp://127.0.0.1:1935/live/x%2Fevil", "rtmp://127.0.0.1:1935/live/%252e%252e/x",
    "rtmp://127.0.0.1:1935/lively", "rtmp://127.0.0.1:1935/", "rtmp://127.0.0.1:1935",
    "http://media.example:8080/hls/../secret", "http://media.example:8080/hlsx/a",
    # userinfo and "@" anywhere: another host to a lenient parser
    "rtmp://127.0.0.1:1935/live/x?@evil.example/", "rtmp://user:pw@127.0.0.1:1935/live/x", "rtmp://@127.0.0.1:1935/live/x",
    "rtmp://127.0.0.1:1935@evil.example/live/x", "rtmp://evil.example#@127.0.0.1:1935/live/x",
    "rtmp://evil.example\\@127.0.0.1:1935/live/x", "rtmp://127.0.0.1:1935/live/x@evil.example",
    # queries that are not plain name=value, fragments, ";" params
    "rtmp://127.0.0.1:1935/live/x?next=http://evil.example/", "rtmp://127.0.0.1:1935/live/x?", "rtmp://127.0.0.1:1935/live/x?a",
    "rtmp://127.0.0.1:1935/live/x?a=%2f", "rtmp://127.0.0.1:1935/live/x#frag", "rtmp://127.0.0.1:1935/live/x?a=b#c",
    "rtmp://127.0.0.1:1935/live/x;evil", "rtmp://127.0.0.1:1935/live;x/y",
    # whitespace (FFmpeg's RTMP reads "url key=value" options), control characters, non-ASCII
    "rtmp://127.0.0.1:1935/live/x live=1", "rtmp://127.0.0.1:1935/live/x\tplaypath=evil", "rtmp://127.0.0.1:1935/live/x\n",
    "rtmp://127.0.0.1:1935/live/x\r\nHost: evil", "rtmp://127.0.0.1:1935/live/x\x00evil", " rtmp://127.0.0.1:1935/live/x",
    "rtmp://127.0.0.1:1935/live/x\uff0f..\uff0fevil", "rtmp://127.0.0.1:1935/live/\u212a", "rtmp://127.0.0.1:1935/l\u0131ve/x",
    "http://med\u0456a.example:8080/hls/x", "http://media.example\u3002:8080/hls/x",
    # the same host in other spellings (trailing dot, short/decimal IPv4, mapped IPv6, zone), other hosts
    "rtmp://127.0.0.1.:1935/live/x", "http://media.example.:8080/hls/x", "rtmp://127.1:1935/live/x",
    "rtmp://2130706433:1935/live/x", "rtmp://0x7f.0.0.1:1935/live/x", "rtmp://[::ffff:127.0.0.1]:1935/live/x",
    "rtsp://[::1%25eth0]:8554/cam/1", "rtsp://[::2]:8554/cam/1", "rtsp://[::1]]:8554/cam/1", "rtsp://::1:8554/cam/1",
    "rtmp://127.0.0.1.evil.example:1935/live/x", "rtmp://evil.example/127.0.0.1:1935/live/x",
    # ports: another, none, zero, out of range, empty, default vs. non-default
    "rtmp://127.0.0.1:1936/live/x", "rtmp://127.0.0.1:0/live/x", "rtmp://127.0.0.1:99999/live/x", "rtmp://127.0.0.1:/live/x",
    "rtmp://127.0.0.1:+1935/live/x", "https://cdn.example:8443/streams/a", "http://media.example/hls/x", "srt://10.0.0.5/x",
    # schemes: another, FFmpeg protocol chains, none, scheme-relative
    "rtmps://127.0.0.1:1935/live/x", "rtmpt://127.0.0.1:1935/live/x", "crypto+http://media.example:8080/hls/x.ts",
    "hls+http://media.example:8080/hls/x.m3u8", "file:///etc/passwd", "file://127.0.0.1/etc/passwd", "//127.0.0.1:1935/live/x",
    "rtmp:/127.0.0.1:1935/live/x", "127.0.0.1:1935/live/x", "", "subfile,,start,0,end,0,,:rtmp://127.0.0.1:1935/live/x",
]


def test_pull_prefixes_refuse_every_hostile_url():
    assert [u for u in REFUSED if source_allowed(u, PREFIXES)] == []


def test_pull_prefixes_admit_plain_urls_under_them():
    assert [u for u in ADMITTED if not source_allowed(u, PREFIXES)] == []
    assert not source_allowed("rtmp://127.0.0.1:1935/live/cam1", [])
    # a prefix that is not a plain URL admits nothing (it cannot be matched soundly)
    assert not source_allowed("rtmp://127.0.0.1:1935/live/cam1", ["rtmp://127.0.0.1:1935/live?x=1", "rtmp://u@127.0.0.1:1935/"])


# --- HLS: a real playlist, served over HTTP, pulled by the session's pull path ---------------------

class Site:
    """A local HTTP server: files from ``root``, 302s from ``redirects``, and every path it was asked for."""

    def __init__(self, root: Path) -> None:
        self.root, self.redirects, self.hits = root, {}, []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                if self.path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def write(self, rel: str, text: str) -> str:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_text(text)
        return f"{self.url}/{rel}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def segment(evaldata, tmp_path_factory) -> bytes:
    """Two seconds of a real clip as one MPEG-TS segment (small: 64x48, 10 fps)."""
    path = tmp_path_factory.mktemp("hls") / "seg0.ts"
    with av.open(str(evaldata / "video/vid_imageio_cockatoo.mp4")) as src, av.open(str(path), "w", format="mpegts") as out:
        vs = out.add_stream("mpeg2video", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i, frame in zip(range(20), src.decode(video=0)):
            f = frame.reformat(width=64, height=48, format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 10)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path.read_bytes()


@pytest.fixture
def sites(tmp_path, segment):
    """The media server (its /live/ is the pull prefix; /private/ is not) and another one that
    must never be contacted."""
    media, other = Site(tmp_path / "media"), Site(tmp_path / "other")
    for site in (media, other):
        for rel in ("live/seg0.ts", "private/seg0.ts"):
            (site.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (site.root / rel).write_bytes(segment)
        site.write("live/key.bin", "0123456789abcdef")
        site.write("live/index.m3u8", playlist("seg0.ts"))
    yield media, other
    media.close()
    other.close()


def playlist(*segments: str, head: str = "") -> str:
    body = "".join(f"#EXTINF:2.0,\n{s}\n" for s in segments)
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n{head}{body}#EXT-X-ENDLIST\n"


def pull_frames(settings, prefix: str, url: str) -> list:
    """What `/ws?source=url` runs (runtime.replay.pull) with ``prefix`` as server.pull_prefixes,
    into a stand-in session that keeps the frames it is offered."""
    frames = []

    async def put_audio(t, samples):
        pass

    session = SimpleNamespace(
        name="pull", offer_frame=lambda t, rgb: frames.append(rgb), put_audio=put_audio,
        settings=settings.model_copy(update={"server": settings.server.model_copy(update={"pull_prefixes": [prefix]})}))
    asyncio.run(asyncio.wait_for(pull(session, url), 60))
    return frames


def test_a_clean_playlist_under_the_prefix_plays(settings, sites):
    media, other = sites
    media.redirects["/live/old.m3u8"] = "/live/index.m3u8"  # a redirect within the prefix is followed
    frames = pull_frames(settings, media.url + "/live/", media.url + "/live/old.m3u8")
    assert frames and frames[0].shape == (48, 64, 3)
    assert media.hits == ["/live/old.m3u8", "/live/index.m3u8", "/live/seg0.ts"] and other.hits == []


@pytest.mark.parametrize("case", ["segment", "later_segment", "key", "variant", "escape", "redirect", "segment_redirect"])
def test_a_playlist_cannot_lead_elsewhere(settings, sites, case):
    """Each playlist is admitted by the prefix, then names (or redirects to) something outside it:
    the pull fails with a MediaError and nothing outside the prefix is ever requested."""
    media, other = sites
    elsewhere = other.url + "/live/seg0.ts"
    key = f'#EXT-X-KEY:METHOD=AES-128,URI="{other.url}/live/key.bin",IV=0x{"0" * 32}\n'
    master = f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\n{other.url}/live/index.m3u8\n"
    url = media.url + "/live/t.m3u8"
    if case == "segment":
        media.write("live/t.m3u8", playlist(elsewhere))
    elif case == "later_segment":
        media.write("live/t.m3u8", playlist("seg0.ts", elsewhere))
    elif case == "key":
        media.write("live/t.m3u8", playlist("seg0.ts", head=key))
    elif case == "variant":
        media.write("live/t.m3u8", master)
    elif case == "escape":  # same server, outside the prefix
        media.write("live/t.m3u8", playlist("../private/seg0.ts"))
    elif case == "redirect":
        media.redirects["/live/t.m3u8"] = other.url + "/live/index.m3u8"
    elif case == "segment_redirect":
        media.write("live/t.m3u8", playlist("moved.ts"))
        media.redirects["/live/moved.ts"] = elsewhere
    try:
        pull_frames(settings, media.url + "/live/", url)
        error = None
    except MediaError as exc:
        error = str(exc)
    assert other.hits == [] and not any(h.startswith("/private/") for h in media.hits)
    assert error and error.startswith("refused ") and "pull_prefixes" in error  # says which URL, and why
    assert (other.url if case != "escape" else "/private/seg0.ts") in error
