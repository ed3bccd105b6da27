"""Seeing: camera frames at 1 fps -> the visual encoder -> clips (short-term memory) -> OCR on each
clip's key frame -> the memory store; and snapshots of memory as of a moment (a turn's grounding).

    frame ─▶ sampler (1 fps) ─▶ [frame queue, drop-oldest] ─▶ encoder ─▶ clip builder ─▶ [sealed] ─▶ OCR ─▶ store

The encoder and the store run on their own threads (stages "vision" and "memory"), so reading a
page of text never delays the next frame, and a slow store makes the encoder wait, not drop clips.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import zlib

import numpy as np
from PIL import Image

from ..events import ClipMemory, ErrorEvent, Frame
from ..memory.clips import ClipBuilder, Sealed, add_encoded, fit, with_sight
from ..memory.store import Snapshot
from ..perception.scene import Scene, describe
from ..perception.video import FrameSampler, validate_frame
from .context import SessionContext
from .queues import DropOldestQueue
from .stage import cancelled
from .watching import Watcher

log = logging.getLogger(__name__)

SEALED_QUEUE = 8  # clips waiting for OCR and the store
KEY_FRAME_SIDE = 640  # frames are kept at most this large on arrival (a clip holds all of its frames)


class Seeing:
    def __init__(self, ctx: SessionContext, watcher: Watcher) -> None:
        self.ctx, self._watcher = ctx, watcher
        rt = ctx.settings.runtime
        self._clips = ClipBuilder(ctx.settings.memory, first_id=ctx.memory.next_clip_id)
        self._sampler = FrameSampler(rt.video_fps)
        self._frame_q: DropOldestQueue[Frame | None] = DropOldestQueue(rt.frame_queue, f"{ctx.name}/frames")
        self._sealed_q: asyncio.Queue[Sealed | None] = asyncio.Queue(SEALED_QUEUE)
        self._unstored: list[ClipMemory] = []  # sealed, waiting for OCR / the store: snapshots see them
        self._scenes: dict[tuple[int, int], Scene] = {}  # (clip, key frame) -> its objects, for sighted()
        self._looked_at = float("-inf")  # stream time of the last frame the encoder finished (or refused)
        self._looked = asyncio.Event()  # set (and replaced) each time it finishes one

    @property
    def frames_dropped(self) -> int:
        return self._frame_q.dropped

    # ---- frames in -----------------------------------------------------------------------------

    def offer(self, t: float, image: np.ndarray) -> bool:
        """Sample by stream time, validate, enqueue for the encoder (dropping the oldest if behind)."""
        c = self.ctx.counters
        c.frames_seen += 1
        self.ctx.stream_t = max(self.ctx.stream_t, t)
        if not self._sampler.keep(t):
            return False
        try:
            image = validate_frame(image)
        except ValueError as exc:
            c.frames_corrupt += 1
            log.warning("%s: dropping frame at %.2fs: %s", self.ctx.name, t, exc)
            return False
        c.frames_sampled += 1
        self._frame_q.put(Frame(t=t, image=image))
        return True

    def wants(self, t: float) -> bool:
        """Would a frame at stream time ``t`` be sampled? Lets a caller skip decoding the others."""
        return self._sampler.would_keep(t)

    def skip(self, t: float) -> None:
        """A frame that was not sampled (and so never decoded): counted, nothing more."""
        self.ctx.counters.frames_seen += 1
        self.ctx.stream_t = max(self.ctx.stream_t, t)

    async def caught_up(self, t: float, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the encoder has finished the frames up to stream time
        ``t``: a client that shows an image and asks about it at once is answered about it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._looked_at < t:
            try:
                await asyncio.wait_for(self._looked.wait(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                return False
        return True

    def _finished(self, t: float) -> None:
        self._looked_at = max(self._looked_at, t)
        self._looked.set()
        self._looked = asyncio.Event()

    def end(self) -> None:
        """No more frames: the workers finish what they have."""
        self._frame_q.put(None)

    # ---- the workers ---------------------------------------------------------------------------

    async def vision_worker(self) -> None:
        ctx = self.ctx
        while (frame := await self._frame_q.get()) is not None:
            try:
                image, feats = await ctx.run("vision", self._encode, frame.image)
            except Exception as exc:
                if cancelled():  # the session is closing
                    raise asyncio.CancelledError from exc
                ctx.counters.frames_corrupt += 1
                log.warning("%s: encoder rejected frame at %.2fs: %s", ctx.name, frame.t, exc)
                self._finished(frame.t)
                continue
            ctx.counters.frames_encoded += 1
            self._watcher.frame(frame.t + ctx.t_offset, feats.vectors[0], feats.labels[0] if feats.labels else [], image)
            for sealed in add_encoded(self._clips, feats, [(frame.t + ctx.t_offset, image)]):
                await self._seal(sealed)
            self._finished(frame.t)
        last = self._clips.flush(end=ctx.stream_t + ctx.t_offset)
        if last is not None:
            await self._seal(last)
        await self._sealed_q.put(None)

    def _encode(self, image: np.ndarray):
        """On the vision thread: the frame scaled to at most KEY_FRAME_SIDE (a clip keeps every frame
        it is built from) and its features."""
        image = fit(image, KEY_FRAME_SIDE)
        return image, self.ctx.models.visual.encode([image])

    async def _seal(self, sealed: Sealed) -> None:
        self._unstored.append(sealed.clip)
        await self._sealed_q.put(sealed)  # bounded: the encoder waits when OCR and the store are behind

    async def memory_worker(self) -> None:
        """Sealed clips, in order: OCR on the key frame, then into the (persistent) store."""
        ctx = self.ctx
        while (sealed := await self._sealed_q.get()) is not None:
            clip = sealed.clip
            if not any(c is clip for c in self._unstored):  # forgotten while it waited (forget_pending)
                continue
            if not ctx.remembering:  # "stop remembering": seen, answered about now, never kept
                self._unstored = [c for c in self._unstored if c is not sealed.clip]
                continue
            try:
                clip = await ctx.run("memory", self._store, sealed)
            except Exception as exc:  # a full disk must not end the session; the clip is lost (not shown)
                if cancelled():  # the session is closing
                    raise asyncio.CancelledError from exc
                log.exception("%s: could not store clip %d", ctx.name, clip.clip_id)
                ctx.emit(ErrorEvent(stage="memory", message=str(exc)))
            else:
                ctx.emit(clip)
            finally:
                if sealed.clip in self._unstored:
                    self._unstored.remove(sealed.clip)

    def _store(self, sealed: Sealed) -> ClipMemory:
        clip = with_sight(self.ctx.models, sealed)
        self.ctx.memory.add(clip)
        return clip

    # ---- memory as of a moment -----------------------------------------------------------------

    def snapshot(self, t: float) -> Snapshot:
        """Memory as of stream time ``t``: the store plus clips sealed but not stored yet and the one
        being built. A clip the memory thread stored meanwhile is in the store's part already
        (ids below ``version``), so it is not counted twice."""
        t += self.ctx.t_offset
        peek = self._clips.peek(end=t)
        snap = self.ctx.memory.snapshot(t)
        pending = tuple(self._unstored) + ((peek,) if peek is not None else ())
        return dataclasses.replace(snap, extra=tuple(c for c in pending if c.clip_id >= snap.version))

    def sighted(self, snap: Snapshot) -> Snapshot:
        """On the retrieve thread: ``snap`` with the detector's objects on the clips not stored yet
        (the one being built, those waiting for OCR), which are only described when stored; so a
        question about what is in view now ("where is my cup?") is answered from what is there, not
        denied. Described once per clip and key frame (about 0.1 s each)."""
        detector = self.ctx.models.detector
        if detector is None or not any(c.scene is None and c.keyframe_jpeg for c in snap.extra):
            return snap
        extra = []
        for clip in snap.extra:
            if clip.scene is None and clip.keyframe_jpeg:
                key = (clip.clip_id, zlib.crc32(clip.keyframe_jpeg))
                if key not in self._scenes:
                    if len(self._scenes) >= 4:  # (the oldest out: only the latest clips are ever pending)
                        del self._scenes[next(iter(self._scenes))]
                    image = np.asarray(Image.open(io.BytesIO(clip.keyframe_jpeg)).convert("RGB"))
                    self._scenes[key] = describe(image, detector)
                clip = dataclasses.replace(clip, scene=self._scenes[key])
            extra.append(clip)
        return dataclasses.replace(snap, extra=tuple(extra))

    def forget_pending(self, start: float, end: float) -> None:
        """Clips not yet in the store (waiting for OCR, or being built) in a forgotten range go too."""
        now = self.ctx.stream_t + self.ctx.t_offset
        self._unstored = [c for c in self._unstored if c.end < start or c.start > end]
        building = self._clips.peek(end=now)
        if building is not None and building.end >= start and building.start <= end:
            self._clips.flush(end=now)  # dropped, never stored

    def keep_on_close(self) -> asyncio.Future:
        """The session is closing now: clips waiting for OCR and the clip being built go into
        memory as they are, on the memory thread (after any store it is still finishing). Nothing
        is awaited before they are handed over: closing may itself run in a cancelled task."""
        ctx = self.ctx
        last = self._clips.flush(end=ctx.stream_t + ctx.t_offset)
        keep = self._unstored + ([last.clip] if last is not None else [])
        self._unstored = []

        def store_all() -> None:
            for clip in keep:
                if clip.clip_id < ctx.memory.next_clip_id:
                    continue  # the memory worker stored it while closing was starting
                try:
                    ctx.memory.add(clip)
                except Exception:
                    log.exception("%s: could not keep clip %d", ctx.name, clip.clip_id)

        return asyncio.wrap_future(ctx.stages["memory"].submit(store_all))
