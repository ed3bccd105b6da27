"""Batch ingest of a recorded video into a persistent memory (``omnilive ingest``).

The same vision path as a live session, then the audio track into heard memory (utterances
through VAD + ASR, notable sounds), (1 fps sampling, encoder, ``memory.clips.add_encoded``,
OCR, store on a ``Stage`` of its own), run as a three-stage pipeline so the two cores stay busy: a
decoder thread (PyAV releases the GIL), the encoder on the calling thread in small batches, and
OCR + store on a third thread.

Idempotent and resumable: each file is recorded with a fingerprint, the stream-time offset it was
placed at, and how far its stored clips reach. Ingesting it again skips it when finished and
otherwise continues after the last stored clip, so an interrupted ingest neither loses nor
duplicates memory.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..backends.registry import Models
from ..config import Settings
from ..memory.clips import ClipBuilder, Sealed, add_encoded, with_sight
from ..events import HeardItem
from ..memory.heard import sound_said
from ..reasoning.heard import clean_note, note_item, note_of
from ..memory.store import MemoryStore
from ..perception.media import MediaError, iter_media, probe
from ..perception.transcribe import hear_file
from .stage import Stage

log = logging.getLogger(__name__)

BATCH = 4  # frames per encoder call: batching amortises torch's per-call overhead


@dataclass(frozen=True, slots=True)
class IngestReport:
    path: str
    status: str  # "ingested" | "resumed" | "skipped"
    duration_s: float
    frames: int
    clips: int
    offset: float  # where the file's time 0 sits on the memory's timeline
    elapsed_s: float
    heard: int = 0  # utterances and sounds kept from its audio track

    @property
    def speed(self) -> float:
        """Times real time."""
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else 0.0


def fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def ingest(path: str | Path, models: Models, settings: Settings, store: MemoryStore,
           progress: bool = True) -> IngestReport:
    path = Path(path)
    key = str(path.resolve())
    info = probe(path)
    if not info.has_video:
        raise MediaError(f"{path} has no video stream")
    fp = fingerprint(path)
    seen = store.db.source(key)
    started = time.perf_counter()
    if seen and seen["fingerprint"] == fp and seen["finished"]:
        return IngestReport(str(path), "skipped", info.duration or 0.0, 0, 0, seen["offset"], 0.0)
    resume = seen is not None and seen["fingerprint"] == fp
    offset = seen["offset"] if resume else store.resume_at(live=False)
    start = seen["done_t"] if resume else 0.0
    store.db.set_source(key, fp, offset, start, finished=False)
    frames, clips = _run(path, models, settings, store, key, fp, offset, start, info.duration, progress)
    heard = _hear(path, models, settings, store, offset, info.duration or 0.0, progress) if info.has_audio else 0
    store.db.set_source(key, fp, offset, info.duration or 0.0, finished=True)
    return IngestReport(str(path), "resumed" if resume else "ingested", info.duration or 0.0, frames, clips,
                        offset, time.perf_counter() - started, heard)


def _hear(path: Path, models: Models, settings: Settings, store: MemoryStore, offset: float, duration: float,
          progress: bool) -> int:
    """The file's audio track into heard memory: its utterances (as background talk: nobody was
    speaking to the assistant) and its notable sounds. Items of an earlier, interrupted pass over
    this file are replaced, so a resumed ingest does not keep them twice."""
    if models.asr is None:
        return 0
    said, sounds = hear_file(path, models, settings, progress)
    store.speakers.same = settings.speaker.same
    store.heard.forget(offset, offset + duration)
    store.db.delete_heard_between(offset, offset + duration)
    n = 0
    for start, end, text, language, heard_as in said:
        voice = store.speakers.assign(*heard_as) if heard_as is not None else None  # the memory's voices, as live
        n += store.heard.add(HeardItem(item_id=0, start=start + offset, end=end + offset, kind="speech", text=text,
                                       speaker="background", language=language,
                                       voice=voice.voice_id if voice else 0)) is not None
        if (note := note_of(text)) is not None:  # "remember that ..." said in the recording: a note, as live
            item = note_item(note, clean_note(note, models.llm, language), start + offset, language)
            n += store.heard.add(dataclasses.replace(item, end=end + offset)) is not None
    for d in sounds:
        n += store.heard.add(HeardItem(item_id=0, start=d.start + offset, end=d.end + offset, kind="sound",
                                       text=sound_said(d.label), labels=(d.label,), score=round(d.score, 3))) is not None
    return n


def _run(path: Path, models: Models, settings: Settings, store: MemoryStore, key: str, fp: str,
         offset: float, start: float, duration: float | None, progress: bool) -> tuple[int, int]:
    builder = ClipBuilder(settings.memory, first_id=store.next_clip_id)
    frames: queue.Queue = queue.Queue(maxsize=4 * BATCH)
    stop = threading.Event()
    decoder = threading.Thread(target=_decode, args=(path, settings.runtime.video_fps, start, frames, stop),
                               name="ingest-decode", daemon=True)
    writer = Stage("ingest-store")  # OCR + store on a thread of their own, as in a live session
    pending: list[Future] = []
    bar = tqdm(total=round(duration or 0) or None, initial=round(start), unit="s", desc=path.name,
               file=sys.stderr, disable=not progress, leave=False)

    def store_clip(sealed: Sealed) -> None:
        clip = with_sight(models, sealed)
        store.add(clip, source=(key, fp, offset, clip.end - offset))  # clip and progress: one transaction

    def seal(sealed: Sealed | None) -> None:
        if sealed is not None:
            pending.append(writer.submit(store_clip, sealed))

    n_frames = 0
    last_t = start
    decoder.start()
    try:
        while True:
            batch = _next_batch(frames)
            if not batch:
                break
            if isinstance(batch[-1], BaseException):
                raise batch[-1]
            try:
                feats = models.visual.encode([im for _, im in batch])
            except Exception as exc:  # one undecodable batch: skip it, keep the file going
                log.warning("%s: encoder rejected frames at %.1f s: %s", path.name, batch[0][0], exc)
                continue
            for sealed in add_encoded(builder, feats, [(t + offset, image) for t, image in batch]):
                seal(sealed)
            n_frames += len(batch)
            bar.update(round(batch[-1][0]) - round(last_t))
            last_t = batch[-1][0]
            _raise_failed(pending)
        seal(builder.flush(end=offset + (duration or last_t)))
        for f in pending:
            f.result()
        store.db.set_source(key, fp, offset, duration or last_t, finished=False)  # (the audio track next)
    finally:
        stop.set()
        writer.shutdown(wait=True)
        log.debug("ingest %s: store stage %s", path.name, writer.metrics)
        bar.close()
    return n_frames, len(pending)


def _decode(path: Path, fps: float, start: float, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for _, t, image in iter_media(path, audio=False, video_fps=fps, start=start):
            while not stop.is_set():
                try:
                    out.put((t, image), timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(None)
    except BaseException as exc:
        out.put(exc)


def _next_batch(frames: queue.Queue) -> list:
    """Up to BATCH decoded frames (fewer when the decoder lags); [] at the end of the file; an
    exception from the decoder ends the batch."""
    batch: list = []
    while len(batch) < BATCH:
        try:
            item = frames.get(timeout=0.05 if batch else None)
        except queue.Empty:
            break
        if item is None:
            frames.put(None)  # the end marker stays for the next call
            break
        batch.append(item)
        if isinstance(item, BaseException):
            break
    return batch


def _raise_failed(pending: list[Future]) -> None:
    for f in pending:
        if f.done() and f.exception() is not None:
            raise f.exception()

