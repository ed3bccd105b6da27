"""Which media-server URLs a session may pull its camera and mic from (``server.pull_prefixes``):
checked when a socket asks for a source, and again for every URL the media demuxer opens on the
way (playlists, segments, keys, redirects: perception/media.py)."""

from __future__ import annotations

import re
from ipaddress import IPv6Address

# A pull URL, strictly: scheme://host[:port]/seg/seg...[?name=value&...], in ASCII only. No userinfo,
# fragment, ";" params, "%" escapes, backslashes or whitespace, so FFmpeg, a media server and this
# check cannot read one URL differently (the bypasses were "/live/../../evil", "/live/x?@evil/").
# A query is admitted only as name=value pairs of the same plain characters: media servers take
# auth tokens and LL-HLS its _HLS_msn/_HLS_part that way; a prefix is matched without one.
_PLAIN = r"[A-Za-z0-9._~-]"
_SOURCE = re.compile(
    rf"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    rf"(?::(?P<port>[0-9]{{1,5}}))?(?P<path>(?:/{_PLAIN}*)*)"
    rf"(?:\?(?P<query>{_PLAIN}+={_PLAIN}*(?:&{_PLAIN}+={_PLAIN}*)*))?", re.I | re.A)
_DEFAULT_PORT = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443, "rtsp": 554}


def _source_parts(url: str) -> tuple[str, str, int | None, list[str], str | None] | None:
    """(scheme, host, port, path segments, query) of a plain URL, None for any other. Scheme and
    host are lower-cased, an IPv6 host written one way, an omitted port is the scheme's default;
    a "." or ".." segment, an empty one (``//``) and a host with a trailing dot are refused."""
    m = _SOURCE.fullmatch(url) if isinstance(url, str) else None
    if m is None:
        return None
    scheme, host = m["scheme"].lower(), m["host"].lower()
    if host.startswith("["):
        try:
            host = f"[{IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    port = int(m["port"]) if m["port"] else _DEFAULT_PORT.get(scheme)
    if port is not None and not 0 < port < 65536:
        return None
    segments = m["path"].split("/")[1:]
    if segments and segments[-1] == "":  # one trailing slash
        segments.pop()
    if any(not s.strip(".") for s in segments):  # "", ".", "..", "..."
        return None
    return scheme, host, port, segments, m["query"]


def source_allowed(url: str, allowed: list[str]) -> bool:
    """Scheme, host and port equal to an allowed URL's, and the path under its path (by segments:
    ``rtmp://media/live`` admits ``rtmp://media/live/cam1``, not ``rtmp://media.evil.example`` or
    ``rtmp://media/lively``); both must be plain URLs (``_SOURCE``): anything else is refused."""
    u = _source_parts(url)
    if u is None:
        return False
    for a in allowed:
        b = _source_parts(a)
        if b is not None and b[4] is None and u[:3] == b[:3] and u[3][:len(b[3])] == b[3]:
            return True
    return False
