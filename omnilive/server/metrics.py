"""Per-turn latency and health metrics, in the server log and at ``GET /metrics`` (Prometheus).

A turn is timed from the end of speech (VAD end of utterance; for a typed question, its arrival):
-> transcript -> first LLM token (or grounded fact) -> first answer audio *sent* on the socket,
which is what the user waits for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
LAG_TICK_S = 0.05  # the loop-lag probe's timer
LAG_WINDOW = 1200  # the last minute of probes, for the p99 gauge


async def watch_loop_lag(metrics: Metrics) -> None:
    """Run forever on the server's loop: a timer every ``LAG_TICK_S``, and how late it fired."""
    recent: deque[float] = deque(maxlen=LAG_WINDOW)
    ticks = 0
    while True:
        due = time.perf_counter() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        lag = max(0.0, time.perf_counter() - due)
        metrics.loop_lag.observe(lag)
        recent.append(lag)
        ticks += 1
        if ticks % 20 == 0:  # once a second
            metrics.loop_lag_p99.set(float(np.percentile(recent, 99)))


class LiveStages(Collector):
    """Each live session's stage busy seconds and age, read when /metrics is scraped: what one user
    costs each stage, per second, while it is live (the totals above grow as sessions end)."""

    def __init__(self) -> None:
        self.sessions: Callable[[], Iterable] = lambda: ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        busy = GaugeMetricFamily("omnilive_session_stage_busy_seconds",
                                 "seconds each stage of a live session has worked so far", labels=["session", "stage"])
        age = GaugeMetricFamily("omnilive_session_live_seconds", "how long each live session has been live",
                                labels=["session"])
        now = time.monotonic()
        for session in list(self.sessions()):
            age.add_metric([session.name], now - session.started_at)
            for stage, sm in session.stage_metrics.items():
                busy.add_metric([session.name, stage], sm.busy_s)
        yield busy
        yield age


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.live_stages = LiveStages()  # app.state sets ``live_stages.sessions`` to its live sessions
        r.register(self.live_stages)
        self.sessions_active = Gauge("omnilive_sessions_active", "live sessions connected now", registry=r)
        self.sessions = Counter("omnilive_sessions", "sessions started", registry=r)
        self.turn_latency = Histogram("omnilive_turn_latency_seconds", "end of speech to each stage of a turn",
                                      ["stage"], buckets=BUCKETS, registry=r)
        self.turns = Counter("omnilive_turns", "answers finished", ["interrupted"], registry=r)
        self.interrupts = Counter("omnilive_interrupts", "interrupts sent", registry=r)
        self.frames_dropped = Counter("omnilive_frames_dropped", "frames dropped because the encoder was behind",
                                      registry=r)
        self.errors = Counter("omnilive_errors", "errors by stage", ["stage"], registry=r)
        self.bad_messages = Counter("omnilive_bad_messages", "malformed client messages", registry=r)
        self.stage_busy = Counter("omnilive_stage_busy_seconds", "time each session stage spent working, by stage",
                                  ["stage"], registry=r)
        self.stage_calls = Counter("omnilive_stage_calls", "calls each session stage made, by stage", ["stage"], registry=r)
        self.loop_lag = Histogram("omnilive_event_loop_lag_seconds",
                                  "how late the event loop ran a timer (work blocking the loop delays every session)",
                                  buckets=LAG_BUCKETS, registry=r)
        self.loop_lag_p99 = Gauge("omnilive_event_loop_lag_p99_seconds", "p99 of the loop lag over the last minute",
                                  registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class TurnClock:
    """Times the turns of one connection from the events it sends."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self._m, self._name = metrics, name
        self._start: dict[int, float] = {}
        self._audio_sent: dict[int, float] = {}
        self._transcript: dict[int, float] = {}

    def asked(self, turn_id: int) -> None:
        self._start[turn_id] = time.perf_counter()

    def heard(self, turn_id: int, asr_latency_s: float) -> None:
        self._start[turn_id] = time.perf_counter() - asr_latency_s
        self._transcript[turn_id] = asr_latency_s
        self._m.turn_latency.labels("transcript").observe(asr_latency_s)

    def audio_sent(self, turn_id: int) -> None:
        if turn_id in self._start and turn_id not in self._audio_sent:
            took = time.perf_counter() - self._start[turn_id]
            self._audio_sent[turn_id] = took
            self._m.turn_latency.labels("first_audio_sent").observe(took)

    def answered(self, turn_id: int, first_token_s: float | None, interrupted: bool) -> None:
        self._m.turns.labels(str(interrupted).lower()).inc()
        if first_token_s is not None:
            self._m.turn_latency.labels("first_token").observe(first_token_s)
        self._start.pop(turn_id, None)
        audio = self._audio_sent.pop(turn_id, None)
        text = self._transcript.pop(turn_id, None)
        fmt = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
        log.info("%s turn %d%s: speech end -> transcript %s, -> first token %s, -> first audio sent %s",
                 self._name, turn_id, " (interrupted)" if interrupted else "", fmt(text), fmt(first_token_s), fmt(audio))
