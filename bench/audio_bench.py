"""Audio perception benchmark on ../shared/evaldata: English WER and Chinese CER (reference
transcripts only, each Chinese item listed), ASR real-time factor on one core, end-of-speech ->
transcript latency for a ~3 s utterance (the model alone, and in the live session with early ASR
on and off), VAD frame F1, and sound-event top-3 accuracy.

    .venv/bin/python bench/audio_bench.py [--models base tiny.en] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import statistics
import time

import jiwer
import numpy as np

from _common import EVALDATA, table
from omnilive.backends.asr_whisper import WhisperASR
from omnilive.backends.registry import load_models
from omnilive.config import load_settings
from omnilive.perception.media import read_audio
from omnilive.perception.transcribe import speech_segments, transcribe_file
from omnilive.runtime.session import Session

# ESC-50 / evaldata label -> AudioSet display names that count as a hit.
EVENT_NAMES = {
    "bird": ["Bird", "Bird vocalization, bird call, bird song", "Chirp, tweet"],
    "brushing_teeth": ["Toothbrush", "Electric toothbrush"],
    "car_horn": ["Vehicle horn, car horn, honking", "Toot", "Air horn, truck horn"],
    "cat": ["Cat", "Meow", "Purr", "Caterwaul"],
    "chicken": ["Chicken, rooster", "Cluck", "Fowl", "Crowing, cock-a-doodle-doo"],
    "chirping_birds": ["Bird", "Bird vocalization, bird call, bird song", "Chirp, tweet"],
    "church_bells": ["Church bell", "Bell", "Change ringing (campanology)"],
    "clapping": ["Clapping", "Applause", "Hands"],
    "coughing": ["Cough", "Throat clearing"],
    "crying_baby": ["Baby cry, infant cry", "Crying, sobbing"],
    "dog": ["Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"],
    "drinking_sipping": ["Drink", "Gargling", "Liquid", "Slurp"],
    "engine": ["Engine", "Idling", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
               "Light engine (high frequency)", "Engine starting", "Accelerating, revving, vroom"],
    "fireworks": ["Fireworks", "Firecracker", "Explosion", "Burst, pop", "Boom"],
    "frog": ["Frog", "Croak"],
    "laughing": ["Laughter", "Giggle", "Snicker", "Belly laugh", "Chuckle, chortle", "Baby laughter"],
    "music": ["Music", "Musical instrument"],
    "pouring_water": ["Pour", "Liquid", "Water", "Trickle, dribble", "Fill (with liquid)", "Water tap, faucet"],
    "sea_waves": ["Ocean", "Waves, surf"],
    "sheep": ["Sheep", "Bleat"],
    "tap": ["Knock", "Tap"],
    "thunderstorm": ["Thunderstorm", "Thunder", "Rain"],
    "vacuum_cleaner": ["Vacuum cleaner"],
    "water_drops": ["Drip", "Water", "Raindrop", "Liquid"],
    "whale_song": ["Whale vocalization"],
}

_EN = jiwer.Compose([jiwer.ToLowerCase(), jiwer.ExpandCommonEnglishContractions(),
                     jiwer.SubstituteRegexes({r"[-–]": " "}), jiwer.RemovePunctuation(),
                     jiwer.RemoveMultipleSpaces(), jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
_ZH_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def asr_rows(settings, models_to_test: list[str], threads: int) -> list[dict]:
    """Whisper on each whole reference clip, language detected: the model alone."""
    rows = []
    for name in models_to_test:
        s = settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": name, "threads": threads})})
        asr = WhisperASR.load(s)
        row, zh_rows = _score(lambda path: asr.transcribe(read_audio(path), None).text, name.endswith(".en"))
        rows.append({"path": "model", "model": name, "threads": threads, **row,
                     "3 s utterance -> text (s)": round(latency_3s(asr), 3)})
        if zh_rows:
            table(zh_rows, f"Chinese items, Whisper {name}")
    # the same files as `omnilive transcribe` reads them: VAD cuts, one short language probe per
    # file, Whisper per segment, sound events over the file
    s = settings.model_copy(update={"asr": settings.asr.model_copy(update={"threads": threads})})
    models = load_models(s, ("vad", "asr", "sound_events"))
    row, _ = _score(lambda path: transcribe_file(path, models, s, progress=False).text, False)
    rows.append({"path": "omnilive transcribe", "model": s.asr.model, "threads": threads, **row, "3 s utterance -> text (s)": ""})
    return rows


def _score(transcribe, english_only: bool) -> tuple[dict, list[dict]]:
    """English WER, Chinese CER (and per item) and real-time factor of ``transcribe(path) -> text``."""
    items = [json.loads(l) for l in (EVALDATA / "speech/asr_eval.jsonl").read_text().splitlines() if l.strip()]
    items = [i for i in items if i["text_quality"] == "reference" and (i["lang"] == "en" or not english_only)]
    refs: dict[str, list[str]] = {"en": [], "zh": []}
    hyps: dict[str, list[str]] = {"en": [], "zh": []}
    zh_rows = []
    audio_s = compute_s = 0.0
    for item in items:
        started = time.perf_counter()
        hyp = transcribe(EVALDATA / item["wav16k"])
        compute_s += time.perf_counter() - started
        audio_s += item["duration_s"]
        refs[item["lang"]].append(item["text"])
        hyps[item["lang"]].append(hyp)
        if item["lang"] == "zh":
            zh_rows.append({"item": item["id"], "s": round(item["duration_s"], 1),
                            "CER %": round(100 * jiwer.cer(_ZH_PUNCT.sub("", item["text"]), _ZH_PUNCT.sub("", hyp) or "-"), 1),
                            "transcript": hyp[:40]})
    row = {"en items": len(refs["en"]), "en WER %": round(100 * jiwer.wer(refs["en"], hyps["en"], reference_transform=_EN,
                                                                         hypothesis_transform=_EN), 1),
           "zh items": len(refs["zh"]), "zh CER %": "-"}
    if refs["zh"]:
        r = [_ZH_PUNCT.sub("", t) for t in refs["zh"]]
        h = [_ZH_PUNCT.sub("", t) for t in hyps["zh"]]
        row["zh CER %"] = round(100 * jiwer.cer(r, h), 1)
    row["RTF"] = round(compute_s / audio_s, 3)
    return row, zh_rows


def latency_3s(asr) -> float:
    audio = read_audio(EVALDATA / "speech/en/wav16k/en_harvard_spk1_snt1.wav")[: 3 * 16000]
    asr.transcribe(audio)  # warm
    times = []
    for _ in range(3):
        started = time.perf_counter()
        asr.transcribe(audio)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def live_rows(settings) -> list[dict]:
    """End of speech -> transcript inside the live session, audio fed at real time: the VAD calls
    the end after min_silence_ms; with early ASR the transcript was started at the pause before."""
    models = load_models(settings)
    clips = ["en_harvard_spk1_snt1", "en_harvard_spk2_snt4", "en_harvard_spk1_snt3"]
    rows = []
    for early_ms in (0, settings.vad.early_asr_ms):
        s = settings.model_copy(update={"vad": settings.vad.model_copy(update={"early_asr_ms": early_ms}),
                                        "runtime": settings.runtime.model_copy(update={"respond": "never"})})
        lat, used = [], 0
        for clip in clips:
            speech = read_audio(EVALDATA / f"speech/en/wav16k/{clip}.wav")[: 3 * 16000]
            audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(24000, np.float32)])
            utt, counters = asyncio.run(_live_once(models, s, audio))
            lat.append(utt.asr_latency_s)
            used += counters.early_asr_used
        rows.append({"early ASR": f"{early_ms} ms" if early_ms else "off", "utterances": len(clips),
                     "early transcripts used": used, "end -> transcript median (s)": round(statistics.median(lat), 3),
                     "max (s)": round(max(lat), 3)})
    return rows


async def _live_once(models, settings, audio: np.ndarray):
    session = await Session(models, settings, name="bench-live").start()
    heard = []
    session.subscribe(lambda ev: heard.append(ev) if ev.type == "utterance" else None)
    chunk = 512
    started = time.perf_counter()
    for i in range(0, len(audio), chunk):  # real time: one 32 ms chunk every 32 ms
        await session.put_audio(i / 16000, audio[i : i + chunk])
        await asyncio.sleep(max(0.0, started + (i + chunk) / 16000 - time.perf_counter()))
    await session.finish()
    await session.close()
    return heard[0], session.counters


def frames(segments, start: float, end: float, step: float = 0.01) -> np.ndarray:
    grid = np.arange(start, end, step)
    mask = np.zeros(len(grid), bool)
    for a, b in segments:
        mask |= (grid >= a) & (grid < b)
    return mask


def vad_rows(models, settings) -> list[dict]:
    refs = json.loads((EVALDATA / "speech/vad/vad_reference.json").read_text())
    tp = fp = fn = 0
    rows = []
    for ref in refs:
        audio = read_audio(EVALDATA / ref["wav16k"])
        found = [(u.start, u.t) for u in speech_segments(models, settings, audio)]
        a, b = ref["labelled_range_s"]
        truth, pred = frames(ref["speech_segments_s"], a, b), frames(found, a, b)
        t, f, n = int((truth & pred).sum()), int((~truth & pred).sum()), int((truth & ~pred).sum())
        tp, fp, fn = tp + t, fp + f, fn + n
        rows.append({"clip": ref["id"], "quality": ref["quality"].split(" ")[0], "segments ref/found":
                     f"{len(ref['speech_segments_s'])}/{len(found)}", "F1": round(2 * t / max(1, 2 * t + f + n), 3)})
    rows.append({"clip": "ALL (10 ms frames)", "quality": "", "segments ref/found": "",
                 "F1": round(2 * tp / max(1, 2 * tp + fp + fn), 3)})
    return rows


def event_rows(models) -> list[dict]:
    tagger = models.sound_events
    rows = []
    with open(EVALDATA / "events/labels.tsv", newline="") as fh:
        items = list(csv.DictReader(fh, delimiter="\t"))
    hits = 0
    for item in items:
        labels = item["labels"].split(",")
        wanted = {n for lab in labels for n in EVENT_NAMES.get(lab, [])}
        top3 = [name for name, _ in tagger.tag(read_audio(EVALDATA / item["wav16k"]), top_k=3)]
        hit = bool(wanted & set(top3))
        hits += hit
        rows.append({"clip": item["id"][:40], "truth": labels[0], "top-3": "; ".join(top3), "hit": "yes" if hit else "no"})
    rows.append({"clip": "TOP-3 ACCURACY", "truth": "", "top-3": f"{hits}/{len(items)}",
                 "hit": f"{100 * hits / len(items):.1f} %"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["base", "tiny.en"])
    ap.add_argument("--threads", type=int, default=1, help="ASR CPU threads (the target is for one core)")
    ap.add_argument("--skip-asr", action="store_true")
    args = ap.parse_args()
    settings = load_settings()
    models = load_models(settings, ("vad", "sound_events"))
    table(vad_rows(models, settings), "VAD (Silero v6) against speech/vad/vad_reference.json")
    table(event_rows(models), "Sound events (YAMNet int8) against events/labels.tsv")
    if not args.skip_asr:
        table(asr_rows(settings, args.models, args.threads), "ASR (faster-whisper int8), reference transcripts only")
        table(live_rows(settings), "3 s utterance in the live session (real time, default ASR, 2 threads)")


if __name__ == "__main__":
    main()
