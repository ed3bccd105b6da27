"""Watches at run time: each encoded frame and each kept heard item is checked against the active
watches (reasoning/watch.py) at negligible cost (a dot product and a word set per watch), and a
match raises an ``Alert``, debounced: one per appearance (a watch fires again only after its thing
was gone for ``ABSENT_S``) and at most one per ``COOLDOWN_S``. Text in view is checked on each clip's
OCR text. Watches persist with the memory, and end by themselves when given a span ("in the next
ten minutes")."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..events import Alert, ClipMemory, HeardItem
from ..memory.heard import kind_of
from ..memory.ranking import content_words, query_text
from ..reasoning.watch import ZH_SEE, WatchRequest
from ..text import has_cjk

log = logging.getLogger(__name__)
ABSENT_S = 5.0  # gone this long, it may appear again
COOLDOWN_S = 30.0
SEEN_MIN = 0.6  # a frame this close to the watched thing (or naming it) is a sighting
TOP_LABELS = 3


@dataclass
class Watch:
    watch_id: int
    kind: str
    thing: str
    said: str
    expires: float | None = None  # memory time it ends at ("in the next ten minutes"); None: until cancelled
    vector: np.ndarray | None = None
    words: frozenset[str] = frozenset()
    last_match: float = float("-inf")
    last_alert: float = float("-inf")


MAX_WATCHES = 20  # active at once, per memory


class Watcher:
    """The active watches of one session. ``changed`` is called whenever one is added, cancelled
    or expires (the session tells the page). Adding embeds the thing and writes a row, so the
    session does it on its memory thread while frames are checked on the event loop: ``watches`` is
    replaced, never changed in place, so a check always goes through a whole list."""

    def __init__(self, memory, visual, alert: Callable[[Alert, Watch], None],
                 changed: Callable[[], None] = lambda: None) -> None:
        self._memory, self._visual, self._alert, self._changed = memory, visual, alert, changed
        rows = memory.db.watches()
        self.watches: list[Watch] = [self._prepared(Watch(watch_id, kind, thing, said, expires))
                                     for watch_id, kind, thing, said, _, expires in rows]

    def _prepared(self, w: Watch) -> Watch:
        w.words = frozenset(content_words(w.thing))
        if w.kind == "seen" and self._visual is not None:
            w.vector = self._visual.embed_text([query_text(w.thing)])[0].astype(np.float32)
        return w

    def add(self, req: WatchRequest, t: float) -> Watch | None:
        """Start a watch; None when ``MAX_WATCHES`` are active (each costs work on every frame or utterance)."""
        if len(self.watches) >= MAX_WATCHES:
            return None
        expires = t + req.for_s if req.for_s else None
        watch_id = self._memory.db.add_watch(req.kind, req.thing, req.said, t, expires)
        w = self._prepared(Watch(watch_id, req.kind, req.thing, req.said, expires))
        self.watches = [*self.watches, w]
        self._changed()
        return w

    def cancel(self, thing: str) -> list[Watch]:
        """Stop watching for ``thing`` ("dogs" ends the "dog" watch), or for everything ("")."""
        words = set(content_words(thing))
        return self._end([w for w in self.watches if not words or words & w.words or thing.lower() in w.thing.lower()])

    def cancel_id(self, watch_id: int) -> bool:
        return bool(self._end([w for w in self.watches if w.watch_id == watch_id]))

    def expire(self, t: float) -> list[Watch]:
        """End the watches whose time is up at memory time ``t``."""
        return self._end([w for w in self.watches if w.expires is not None and t >= w.expires])

    def _end(self, gone: list[Watch]) -> list[Watch]:
        if not gone:
            return gone
        self.watches = [w for w in self.watches if w not in gone]
        for w in gone:
            self._memory.db.end_watch(w.watch_id)
        self._changed()
        return gone

    def frame(self, t: float, vector: np.ndarray, labels: list[tuple[str, float]], image: np.ndarray) -> None:
        """One encoded frame (memory time ``t``)."""
        self.expire(t)
        for w in self.watches:
            if w.kind != "seen":
                continue
            names = [label for label, _ in labels[:TOP_LABELS]]
            said = set()
            for name in names:
                said |= content_words(self._visual.label_words(name) if self._visual is not None else name)
            score = float(vector @ w.vector) if w.vector is not None else 0.0
            if (w.words and w.words <= said) or score >= SEEN_MIN:
                self._matched(w, Alert(t=t, watch_id=w.watch_id, watch=w.thing, kind="seen", start=t, end=t,
                                       labels=tuple(names), keyframe_jpeg=_jpeg(image)))

    def clip(self, clip: ClipMemory) -> None:
        """A clip with the text its key frame shows (OCR): "tell me when you see the word EXIT"."""
        said = " ".join(clip.text.lower().split())
        for w in self.watches:
            if w.kind == "text" and said and w.thing in said:
                self._matched(w, Alert(t=clip.start, watch_id=w.watch_id, watch=w.thing, kind="text", start=clip.start,
                                       end=clip.end, text=clip.text, keyframe_jpeg=clip.keyframe_jpeg))

    def heard(self, item: HeardItem) -> None:
        self.expire(item.end)
        for w in self.watches:
            if w.kind == "sound" and item.kind == "sound" and item.labels and kind_of(item.labels[0]) == w.thing:
                hit = True
            elif w.kind == "words" and item.kind == "speech" and item.speaker != "assistant":
                hit = bool(w.words) and w.words <= content_words(item.text)
            else:
                hit = False
            if hit:
                self._matched(w, Alert(t=item.start, watch_id=w.watch_id, watch=w.thing, kind=w.kind, start=item.start,
                                       end=item.end, text=item.text, labels=item.labels))

    def _matched(self, w: Watch, alert: Alert) -> None:
        new_appearance = alert.t - w.last_match > ABSENT_S
        w.last_match = max(w.last_match, alert.end)
        if new_appearance and alert.t - w.last_alert >= COOLDOWN_S:
            w.last_alert = alert.t
            self._alert(alert, w)


def _jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(image)
    img.thumbnail((320, 320))
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def alert_said(alert: Alert, w: Watch) -> str:
    """What the assistant says when a watch fires, in the language the watch was asked in."""
    if has_cjk(w.said):
        return f"注意：我看到{ZH_SEE.sub('', w.said)}了。" if alert.kind == "seen" else f"注意：{w.said}。"
    if alert.kind == "seen":
        return f"Look, I see {'someone' if w.thing == 'person' else 'a ' + w.thing} now."
    if alert.kind == "sound":
        return f"I hear {alert.text} now."
    if alert.kind == "text":
        return f'I can see the text "{w.thing}" now.'
    return f'Someone just mentioned {w.thing}: "{alert.text}"'


def for_next(seconds: float | None) -> str:
    """" for the next 10 minutes" (an expiry said back), or "" for a watch without one."""
    if not seconds:
        return ""
    n, unit = (round(seconds / 3600, 1), "hour") if seconds >= 3600 else (round(seconds / 60), "minute") \
        if seconds >= 60 else (round(seconds), "second")
    return f" for the next {'' if n == 1 else f'{n:g} '}{unit}{'' if n == 1 else 's'}"


def watches_said(watches: list[Watch]) -> str:
    if not watches:
        return "I'm not watching for anything."
    return "I'm watching for: " + "; ".join(w.said for w in watches) + "."
