"""Batch transcription of recorded files: the live VAD cuts speech, ASR reads each segment, and
YAMNet tags the sounds along the file. Used by `omnilive transcribe`."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..backends.base import ASRSegment, join_text
from ..backends.registry import Models
from ..config import Settings
from ..events import SAMPLE_RATE, SpeechEnded
from ..memory.speakers import cluster
from .media import MediaError, read_audio
from .vad import SpeechDetector

PROGRESS_MIN_S = 30.0  # files shorter than this finish before a progress bar would help
LANGUAGE_PROBE_S = 30.0


@dataclass
class SoundEvent:
    start: float
    end: float
    label: str
    score: float


@dataclass
class Transcription:
    file: str
    duration: float
    language: str
    text: str
    segments: list[ASRSegment] = field(default_factory=list)
    events: list[SoundEvent] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for seg in d["segments"] + d["events"]:
            seg["start"], seg["end"] = round(seg["start"], 2), round(seg["end"], 2)
        for ev in d["events"]:
            ev["score"] = round(ev["score"], 3)
        return d


def speech_segments(models: Models, settings: Settings, audio: np.ndarray) -> list[SpeechEnded]:
    det = SpeechDetector(models.vad.stream(), settings.vad)
    step = SAMPLE_RATE  # one second at a time, as a stream would arrive
    out = []
    for i in range(0, len(audio), step):
        out += [e for e in det.feed(i / SAMPLE_RATE, audio[i : i + step]) if isinstance(e, SpeechEnded)]
    return out + det.flush()


def sound_events(models: Models, settings: Settings, audio: np.ndarray) -> list[SoundEvent]:
    """The strongest non-speech label of each 0.96 s patch, merged over consecutive patches."""
    tagger = models.sound_events
    if tagger is None or len(audio) == 0:
        return []
    scores = tagger.scores(audio) * tagger.reportable
    events: list[SoundEvent] = []
    for i, row in enumerate(scores):
        best = int(np.argmax(row))
        if row[best] < settings.sound_events.min_score:
            continue
        start, end = i * tagger.hop_s, i * tagger.hop_s + 2 * tagger.hop_s
        label = tagger.labels[best]
        if events and events[-1].label == label and start <= events[-1].end:
            events[-1].end = end
            events[-1].score = max(events[-1].score, float(row[best]))
        else:
            events.append(SoundEvent(start, end, label, float(row[best])))
    return events


def transcribe_file(path: str | Path, models: Models, settings: Settings, progress: bool = True) -> Transcription:
    """Raises MediaError for files that cannot be read or hold no audio."""
    audio = read_audio(path)
    duration = len(audio) / SAMPLE_RATE
    if duration == 0:
        raise MediaError(f"{path}: the audio track is empty")
    utterances = speech_segments(models, settings, audio)
    language = settings.asr.language or _detect_language(models, utterances)
    bar = tqdm(total=round(duration), unit="s", desc=Path(path).name, file=sys.stderr,
               disable=not progress or duration < PROGRESS_MIN_S, leave=False)
    speakers = who_spoke(models, settings, [u.samples for u in utterances])
    segments = []
    done = 0.0
    for utt, speaker in zip(utterances, speakers):
        result = models.asr.transcribe(utt.samples, language)
        offset = utt.start
        segments += [ASRSegment(offset + s.start, min(offset + s.end, utt.t), s.text, speaker)
                     for s in result.segments if s.text]
        bar.update(round(utt.t) - round(done))
        done = utt.t
    bar.update(bar.total - bar.n)
    bar.close()
    return Transcription(
        file=str(path), duration=duration, language=language or "",
        text=join_text([s.text for s in segments], language),
        segments=segments, events=sound_events(models, settings, audio),
    )


def who_spoke(models: Models, settings: Settings, utterances: list[np.ndarray]) -> list[str]:
    """"speaker 1", "speaker 2", ... per utterance of one recording, clustered over the whole file;
    "" for speech too short to tell a voice by, or with no speaker encoder."""
    if models.speaker is None:
        return [""] * len(utterances)
    cfg = settings.speaker
    known = [i for i, u in enumerate(utterances) if len(u) >= cfg.min_speech_s * SAMPLE_RATE]
    numbers = cluster([models.speaker.embed(utterances[i]) for i in known], cfg.same)
    out = [""] * len(utterances)
    for i, n in zip(known, numbers):
        out[i] = f"speaker {n}"
    return out


def _detect_language(models: Models, utterances: list[SpeechEnded]) -> str | None:
    """One language per file, from its first ~30 s of speech: per-segment detection flips on
    short segments, and a fixed language also skips detection for every other segment."""
    if not utterances:
        return None
    probe = np.concatenate([u.samples for u in utterances])[: int(LANGUAGE_PROBE_S * SAMPLE_RATE)]
    return models.asr.detect_language(probe)[0]


def notable_sounds(models: Models, audio: np.ndarray) -> list:
    """The notable sounds of a whole file, window by window as a live session hears them
    (perception/sounds.py); consecutive ones merge in the memory."""
    from .sounds import SoundWindows, detect, notable

    if models.sound_events is None:
        return []
    windows, classes, found = SoundWindows(), notable(models.sound_events), []
    step = SAMPLE_RATE // 2
    for i in range(0, len(audio), step):
        window = windows.feed(i / SAMPLE_RATE, audio[i : i + step])
        if window is not None:
            found += detect(models.sound_events, classes, *window)
    return found


def hear_file(path: str | Path, models: Models, settings: Settings, progress: bool = True):
    """What a recording says and sounds like, for heard memory (``omnilive ingest``):
    [(start, end, text, language, voice)] of its utterances, ``voice`` the speaker embedding and
    whether the utterance is long enough to start a voice of its own (None without a speaker
    encoder), and its notable sounds (Detection)."""
    try:
        audio = read_audio(path)
    except MediaError:
        return [], []  # a silent video
    utterances = speech_segments(models, settings, audio)
    language = settings.asr.language or _detect_language(models, utterances)
    bar = tqdm(total=len(utterances), unit="utt", desc=f"{Path(path).name} (audio)", file=sys.stderr,
               disable=not progress or not utterances, leave=False)
    said = []
    for utt in utterances:
        result = models.asr.transcribe(utt.samples, language)
        if result.text.strip():
            voice = None if models.speaker is None else \
                (models.speaker.embed(utt.samples), len(utt.samples) >= settings.speaker.min_speech_s * SAMPLE_RATE)
            said.append((utt.start, utt.t, result.text.strip(), result.language, voice))
        bar.update(1)
    bar.close()
    return said, notable_sounds(models, audio)
