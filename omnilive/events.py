"""Typed events that flow between the stages of a session.

Every timestamp is *stream time* in seconds: 0.0 is the first sample/frame the session received.
Wall-clock time appears only in latency metrics, never in memory or answers, so a replayed file
and a live stream produce the same memory.

Following pipecat, events are either *system* events (handled at once, never dropped or cancelled:
speech start, interrupts) or *data* events (processed in order, dropped when a turn is interrupted:
answer deltas and answer audio). ``is_system`` tells which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .perception.scene import Scene

SAMPLE_RATE = 16_000  # the rate every audio stage works at


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = "event"
    is_system: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view: arrays and raw bytes are summarised, not dumped."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                continue
            if isinstance(value, bytes):
                out[f"{f.name}_bytes"] = len(value)
                continue
            if isinstance(value, tuple) and value and isinstance(value[0], Event):
                value = [v.to_dict() for v in value]
            elif isinstance(value, (Event, Scene)):
                value = value.to_dict() if isinstance(value, Event) else value.to_json()
            out[f.name] = round(value, 3) if isinstance(value, float) else value
        return out


# ---- perception: audio -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioChunk(Event):
    """Mono float32 PCM in [-1, 1] at ``sample_rate``; ``t`` is the stream time of the first sample."""

    type: ClassVar[str] = "audio_chunk"
    is_system: ClassVar[bool] = True
    t: float
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, slots=True)
class SpeechStarted(Event):
    """VAD is confident someone is talking. Triggers interrupt + memory snapshot."""

    type: ClassVar[str] = "speech_started"
    is_system: ClassVar[bool] = True
    t: float
    turn_id: int
    joins: int | None = None  # the speaker went on after turn ``joins`` was ended early: one turn


@dataclass(frozen=True, slots=True)
class SpeechEnded(Event):
    """End of an utterance, carrying its audio (pre-roll included) for ASR."""

    type: ClassVar[str] = "speech_ended"
    t: float
    turn_id: int
    start: float
    samples: np.ndarray = field(repr=False)
    background: np.ndarray | None = field(default=None, repr=False)  # audio heard just before it
    complete: float | None = None  # the end-of-turn model's probability that the turn was over
    joins: int | None = None  # this audio continues (and includes) turn ``joins``


@dataclass(frozen=True, slots=True)
class SpeechPaused(Event):
    """The speaker has been quiet for ``vad.early_asr_ms``: maybe the end. ASR starts on this audio
    now; if the utterance ends here, its audio is the same and the transcript is (nearly) ready."""

    type: ClassVar[str] = "speech_paused"
    t: float
    turn_id: int
    start: float
    samples: np.ndarray = field(repr=False)
    background: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SoundTag(Event):
    type: ClassVar[str] = "sound_tag"
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Utterance(Event):
    """A recognised utterance: transcript, language and the sounds heard with and before it."""

    type: ClassVar[str] = "utterance"
    turn_id: int
    start: float
    end: float
    text: str
    language: str
    tags: tuple[SoundTag, ...] = ()
    background_tags: tuple[SoundTag, ...] = ()
    asr_latency_s: float = 0.0  # speech end -> transcript, wall clock
    for_assistant: bool = False  # the instruction filter's verdict (reasoning/intent.py)
    command: str | None = None  # "stop" when the utterance is a stop command
    source: str = "speech"  # "speech" (heard) or "typed"
    joins: int | None = None  # the speaker went on after turn ``joins``: this utterance replaces it
    voice: int = 0  # who spoke: an id of the memory's voices (memory/speakers.py); 0 not known (typed, too short)
    voice_name: str = ""  # what it is called: "you" (the enrolled owner), "Anna", "speaker 2"


# ---- perception: video -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame(Event):
    """An RGB uint8 frame (H, W, 3) sampled from the camera at stream time ``t``."""

    type: ClassVar[str] = "frame"
    is_system: ClassVar[bool] = True
    t: float
    image: np.ndarray = field(repr=False)


# ---- memory ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClipMemory(Event):
    """A sealed short clip: compressed tokens plus one global vector, in the question space."""

    type: ClassVar[str] = "clip"
    clip_id: int
    start: float
    end: float
    n_frames: int
    labels: tuple[str, ...]
    text: str  # OCR text read in the clip, if any
    global_vector: np.ndarray = field(repr=False)
    tokens: np.ndarray = field(repr=False)  # (n_tokens, dim) pooled feature tokens
    keyframe_jpeg: bytes = field(default=b"", repr=False)
    # the encoder's named concepts seen in the clip with their mean probability (ConSE: ImageNet
    # classes), best first; grounding matches a question against each (see memory/ranking.py)
    concepts: tuple[tuple[str, float], ...] = ()
    scene: Scene | None = None  # what the object detector found in the key frame, with colours (perception/scene.py)


@dataclass(frozen=True, slots=True)
class HeardItem(Event):
    """Something heard, kept in memory (memory/heard.py): an utterance, a notable sound or a note."""

    type: ClassVar[str] = "heard"
    item_id: int
    start: float
    end: float
    kind: str  # "speech" | "sound" | "note"
    text: str  # the transcript, the sound in plain words, or the note
    labels: tuple[str, ...] = ()  # a sound's AudioSet classes, best first
    speaker: str = ""  # speech and notes: "user" | "background" | "assistant"
    score: float = 0.0  # a sound's tagger score
    language: str = ""
    voice: int = 0  # speech: whose voice, an id of the memory's voices (memory/speakers.py); 0 not known


@dataclass(frozen=True, slots=True)
class Alert(Event):
    """A watch matched ("tell me when you see a dog"): what, when, and the frame or words it matched."""

    type: ClassVar[str] = "alert"
    t: float  # memory time of the match
    watch_id: int
    watch: str  # the watched thing ("dog", "telephone", "dentist")
    kind: str  # "seen" | "sound" | "words" | "text"
    start: float
    end: float
    text: str = ""  # heard words, or the sound in plain words
    labels: tuple[str, ...] = ()
    keyframe_jpeg: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Watches(Event):
    """The active watches, sent whenever one is added or cancelled (the page lists them)."""

    type: ClassVar[str] = "watches"
    items: tuple[dict, ...] = ()  # {"watch_id", "kind", "thing", "said", "expires"}


@dataclass(frozen=True, slots=True)
class MemoryState(Event):
    """Whether the session keeps what it sees and hears ("stop remembering" / "start remembering")."""

    type: ClassVar[str] = "memory_state"
    remembering: bool


@dataclass(frozen=True, slots=True)
class MemoryForgotten(Event):
    """Memory was deleted on request: a range (memory seconds; None: unbounded) or what was said about something."""

    type: ClassVar[str] = "memory_forgotten"
    start: float | None
    end: float | None
    about: str = ""
    counts: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemorySnapshot(Event):
    """A frozen view of memory, taken at speech start, that the answer is grounded on."""

    type: ClassVar[str] = "memory_snapshot"
    t: float
    turn_id: int
    version: int  # number of clips sealed when taken
    n_clips: int


@dataclass(frozen=True, slots=True)
class GroundedClip(Event):
    type: ClassVar[str] = "grounded_clip"
    clip_id: int
    start: float
    end: float
    score: float
    labels: tuple[str, ...]
    text: str = ""
    keyframe_jpeg: bytes = field(default=b"", repr=False)
    n_clips: int = 1  # more than one: a long-term episode that consolidated this many clips
    word_match: bool = False  # a question word names one of its labels (or their kind) or its text
    concepts: tuple[tuple[str, float], ...] = ()  # the labels with the classifier's confidence
    scene: Scene | None = None  # detected objects, colours: what answers about attributes rest on


# ---- reasoning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query(Event):
    """A question for the assistant (from speech or typed), with the memory it is grounded on."""

    type: ClassVar[str] = "query"
    turn_id: int
    t: float
    text: str
    tags: tuple[str, ...] = ()
    clips: tuple[GroundedClip, ...] = ()
    speak: bool = True
    # "now" | "summary" | "search" | "count" | "chat" (reasoning/question.py); "heard" | "talk_summary" |
    # "note" (reasoning/heard.py)
    kind: str = "search"
    facts: str = ""  # the grounded facts sentence(s) the answer must keep
    facts_zh: str = ""  # a plain Chinese question's answer said from the facts without the LLM (reasoning/facts_zh.py)
    language: str = "en"  # the language to answer in ("zh" for a question in Chinese)
    parsed_by: str = "rules"  # who understood the question: "rules" or "llm"
    heard: tuple[HeardItem, ...] = ()  # what was heard (said, sounds, notes) the answer is grounded on


@dataclass(frozen=True, slots=True)
class AnswerDelta(Event):
    type: ClassVar[str] = "answer_delta"
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Answer(Event):
    """The whole answer text of a turn, once generation finished (or was interrupted)."""

    type: ClassVar[str] = "answer"
    turn_id: int
    text: str
    interrupted: bool = False
    first_token_s: float | None = None  # end of speech/query -> first token, wall clock
    first_audio_s: float | None = None


@dataclass(frozen=True, slots=True)
class TurnEnded(Event):
    """A turn for the assistant is over, once (runtime/control.py): ``answered`` when its audio has
    played at the client (at once when it was not spoken), ``interrupted`` or ``stopped`` when it
    was cut. ``said`` is what the user heard (or read) of the answer, a cut one ending in "…": the
    conversation log, heard memory and the LLM's conversation keep that."""

    type: ClassVar[str] = "turn_ended"
    turn_id: int
    state: str  # "answered" | "interrupted" | "stopped"
    said: str
    query: Query | None = field(default=None, repr=False)  # what was asked and grounded (None: never answered)
    search_text: str = ""  # what its memory search looked for (follow-ups: "and before that?")


@dataclass(frozen=True, slots=True)
class AnswerAudio(Event):
    """A synthesized PCM16 chunk of the answer; ``seq`` orders chunks within a turn."""

    type: ClassVar[str] = "answer_audio"
    turn_id: int
    seq: int
    pcm16: bytes = field(repr=False)
    sample_rate: int = SAMPLE_RATE
    text: str = ""  # the sentence this audio speaks


@dataclass(frozen=True, slots=True)
class Interrupt(Event):
    """Stop playback now and drop queued audio; ``cancelled_turn`` is the answer that was cut."""

    type: ClassVar[str] = "interrupt"
    is_system: ClassVar[bool] = True
    t: float
    reason: str  # "speech" | "command" | "cancel"
    cancelled_turn: int | None = None


@dataclass(frozen=True, slots=True)
class AnswerPaused(Event):
    """Hold turn ``turn_id``'s audio (keep it queued): someone is talking over it, and whether they
    mean to interrupt is known once their speech is understood."""

    type: ClassVar[str] = "answer_paused"
    is_system: ClassVar[bool] = True
    t: float
    turn_id: int


@dataclass(frozen=True, slots=True)
class AnswerResumed(Event):
    """Play turn ``turn_id``'s held audio on: the speech over it was not an interruption."""

    type: ClassVar[str] = "answer_resumed"
    is_system: ClassVar[bool] = True
    t: float
    turn_id: int
    heard: str = ""  # what the speech was ("mm-hm", a cough: empty, background talk)


@dataclass(frozen=True, slots=True)
class TranscriptPartial(Event):
    """What the user has said so far in turn ``turn_id``, while they are still speaking (about every
    ``asr.partial_interval_s``); the ``utterance`` event has the final text."""

    type: ClassVar[str] = "transcript_partial"
    t: float
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """Something the user should know about a turn that is not an error (e.g. why an answer is
    shown but not spoken)."""

    type: ClassVar[str] = "notice"
    turn_id: int
    message: str


@dataclass(frozen=True, slots=True)
class ErrorEvent(Event):
    type: ClassVar[str] = "error"
    is_system: ClassVar[bool] = True
    stage: str
    message: str


@dataclass(frozen=True, slots=True)
class Summary(Event):
    type: ClassVar[str] = "summary"
    is_system: ClassVar[bool] = True
    duration_s: float
    frames_seen: int
    frames_sampled: int
    frames_encoded: int
    frames_dropped: int
    frames_corrupt: int
    clips: int
    utterances: int
    answers: int
    interrupts: int
