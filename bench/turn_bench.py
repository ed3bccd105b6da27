"""End of turn (issue 10): when does the user's turn end, with and without the end-of-turn model?

Real speech from ../shared/evaldata (LJSpeech, LibriSpeech, Harvard sentences, AMI meeting speech,
JFK), each file one finished turn, streamed through the live VAD at real-time chunking:

- **cut mid-turn**: the turn ended before the speaker had finished (and was not rejoined when they
  went on): at one of the file's own natural pauses, or at a pause of ``--pause`` seconds inserted
  at the quietest point of its middle third (a speaker thinking mid-sentence);
- **rejoined**: the model ended the turn early, the speaker went on, and the detector joined the two
  (the answer to the first part is restarted; what it costs the user is the time it ran);
- **end latency**: end of the speech -> turn ended (median, 90th percentile);
- the model's own time per call.

    .venv/bin/python bench/turn_bench.py [--pause 0.7]    (needs flite and espeak-ng for the questions)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import EVALDATA, table

SR = 16_000
CORPORA = ("ljspeech", "librispeech", "harvard", "ami", "jfk")


def corpus_of(item_id: str) -> str | None:
    return next((c for c in CORPORA if c in item_id), None)


def speech_end(x: np.ndarray) -> float:
    """Last 10 ms frame within 35 dB of the loudest: where the speech stops (before any file silence)."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    loud = np.nonzero(db > db.max() - 35)[0]
    return (loud[-1] + 1) * 0.01


def insert_pause(x: np.ndarray, pause_s: float) -> tuple[np.ndarray, float]:
    """Silence inserted at the quietest 50 ms of the middle third, zeroing the quiet around it."""
    third = len(x) // 3
    mid = x[third : 2 * third]
    win = 800
    energy = np.convolve(mid ** 2, np.ones(win), "valid")
    at = third + int(np.argmin(energy)) + win // 2
    return np.concatenate([x[:at], np.zeros(int(pause_s * SR), np.float32), x[at:]]), at / SR


def turns(models, settings, audio: np.ndarray, use_model: bool) -> tuple[list, int]:
    """The turn ends the live detector reports (a joined turn replaces the one it continues), and
    how many were rejoined."""
    from omnilive.events import SpeechEnded
    from omnilive.perception.vad import SpeechDetector

    det = SpeechDetector(models.vad.stream(), settings.vad, end_of_turn=models.turn if use_model else None,
                         turn_cfg=settings.turn)
    step = 512  # 32 ms, as the page sends it
    out = []
    for i in range(0, len(audio), step):
        out += [e for e in det.feed(i / SR, audio[i : i + step]) if isinstance(e, SpeechEnded)]
    out += det.flush()
    joined = {e.joins for e in out if e.joins is not None}
    return [e for e in out if e.turn_id not in joined], len(joined)


def spoken_questions() -> list[np.ndarray]:
    """The short-question bench's 20 questions in its 8 Debian voices (what a turn to an assistant is like)."""
    import tempfile
    from pathlib import Path

    from omnilive.perception.media import read_audio
    from short_asr_bench import QUESTIONS, VOICES, speak

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine, voice in VOICES:
            for i, q in enumerate(QUESTIONS):
                wav = Path(tmp) / f"{voice}-{i}.wav"
                speak(engine, voice, q, wav)
                x = read_audio(wav)
                out.append(x[: int((speech_end(x) + 0.05) * SR)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pause", type=float, default=0.7, help="inserted mid-turn pause, seconds")
    args = ap.parse_args()
    from omnilive.backends.registry import load_models
    from omnilive.config import load_settings
    from omnilive.perception.media import read_audio

    base = load_settings()
    models = load_models(base, ("vad", "turn"))
    modes = {"fixed 500 ms silence": (base, False)}
    for wait in (1500, 500):
        modes[f"Smart Turn, unfinished waits {wait} ms"] = (load_settings(turn={"incomplete_ms": wait}), True)
    items = [json.loads(line) for line in (EVALDATA / "speech" / "asr_eval.jsonl").read_text().splitlines()]
    items = [it for it in items if it["lang"] == "en" and corpus_of(it["id"]) and it["duration_s"] <= 20]
    lead, tail = np.zeros(SR, np.float32), np.zeros(3 * SR, np.float32)
    results: dict[tuple[str, str], dict] = {}
    calls: list[float] = []
    for it in items:
        x = read_audio(EVALDATA / it["wav16k"])
        end = speech_end(x)
        x = x[: int((end + 0.05) * SR)]
        paused, _ = insert_pause(x, args.pause)
        for mode, (settings, use) in modes.items():
            r = results.setdefault((corpus_of(it["id"]), mode), _empty())
            r["n"] += 1
            ends, rejoined = turns(models, settings, np.concatenate([lead, x, tail]), use)
            r["rejoined"] += rejoined
            true_end = 1.0 + end
            r["cut"] += any(e.t < true_end - 0.05 for e in ends)
            if ends:
                r["lat"].append(ends[-1].t - true_end)
            ends_p, rejoined = turns(models, settings, np.concatenate([lead, paused, tail]), use)
            r["rejoined"] += rejoined
            r["cut_pause"] += any(e.t < 1.0 + end + args.pause - 0.05 for e in ends_p)
        t0 = time.perf_counter()
        models.turn.complete(x)
        calls.append(time.perf_counter() - t0)
    rows = []
    for mode in modes:
        total = _empty()
        for corpus in CORPORA:
            if (r := results.get((corpus, mode))) is not None:
                for k in total:
                    total[k] += r[k]
        rows.append(_row("all", mode, total, args.pause))
    table(rows, f"End of turn on {len(items)} real English turns (evaldata: {', '.join(CORPORA)}), streamed in 32 ms "
                f"chunks; Smart Turn asked after {base.turn.check_ms} ms of silence, speech within "
                f"{base.turn.join_ms} ms of an end joins the turn")
    questions = spoken_questions()
    rows = []
    for mode, (settings, use) in modes.items():
        lat = []
        for q in questions:
            ends, _ = turns(models, settings, np.concatenate([lead, q, tail]), use)
            if ends:
                lat.append(ends[-1].t - 1.0 - len(q) / SR)
        lat = np.array(lat)
        rows.append({"end of turn": mode, "questions": len(questions), "ended": len(lat),
                     "end latency median": f"{1000 * np.median(lat):.0f} ms", "p90": f"{1000 * np.percentile(lat, 90):.0f} ms",
                     "ended within 300 ms": f"{(lat <= 0.3).mean():.0%}"})
    table(rows, "End of turn on short spoken questions (bench/short_asr_bench.py's 20 questions x 8 Debian voices)")
    print(f"\nSmart Turn per call: median {1000 * np.median(calls):.0f} ms, max {1000 * max(calls):.0f} ms (2 cores, 1 thread)")


def _empty() -> dict:
    return {"n": 0, "cut": 0, "cut_pause": 0, "lat": [], "rejoined": 0}


def _row(corpus: str, mode: str, r: dict, pause: float) -> dict:
    lat = np.array(r["lat"]) if r["lat"] else np.array([np.nan])
    return {"speech": corpus, "end of turn": mode, "turns": r["n"],
            "cut at a natural pause": f"{r['cut']}/{r['n']}",
            f"cut at a {pause:.1f} s pause": f"{r['cut_pause']}/{r['n']}", "rejoined": r["rejoined"],
            "end latency median": f"{1000 * np.median(lat):.0f} ms", "p90": f"{1000 * np.percentile(lat, 90):.0f} ms"}


if __name__ == "__main__":
    main()
