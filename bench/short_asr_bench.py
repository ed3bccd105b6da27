"""Short spoken questions in voices the project never tuned on (issue 10): Debian's flite and
espeak-ng voices, generated here from a sentence list of this file's own, through the embedded ASR.

Prints WER per voice and how often the language was detected wrong, with the language prior
(``asr.languages = ["en", "zh"]``, the default) and without it (``[]``: any of Whisper's 99).

    apt-get install flite espeak-ng
    .venv/bin/python bench/short_asr_bench.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jiwer
import numpy as np
from _common import table

QUESTIONS = [
    "What did you see?", "Did you see a giraffe?", "Where are my keys?", "Tell me a joke.",
    "What is the capital of France?", "Is the door open?", "Where did I put my glasses?",
    "Did you see the dog?", "What am I holding?", "How many cups are on the table?",
    "When did the phone ring?", "What happened in the last minute?", "Can you stop for a second?",
    "Where is the remote?", "Did anyone come in?", "What color is my shirt?", "Read me the sign.",
    "Is it raining outside?", "Where did you see the cat?", "What time is it?",
]
VOICES = [("flite", "kal"), ("flite", "slt"), ("flite", "rms"), ("flite", "awb"),
          ("espeak-ng", "en-us"), ("espeak-ng", "en-gb"), ("espeak-ng", "en-gb-scotland"), ("espeak-ng", "en-us+f3")]


def speak(engine: str, voice: str, text: str, wav: Path) -> None:
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "-o", str(wav), "-t", text]
    else:
        cmd = ["espeak-ng", "-v", voice, "-w", str(wav), "--", text]
    subprocess.run(cmd, check=True, capture_output=True)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def main() -> None:
    from omnilive.backends.asr_whisper import WhisperASR
    from omnilive.config import load_settings
    from omnilive.perception.media import read_audio

    missing = [e for e in ("flite", "espeak-ng") if not shutil.which(e)]
    if missing:
        raise SystemExit(f"install {' '.join(missing)} (apt-get install flite espeak-ng)")
    prior = WhisperASR.load(load_settings())
    anyl = WhisperASR.load(load_settings(asr={"languages": []}))
    rows = []
    totals = {"prior": [[], []], "any": [[], []]}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, voice in VOICES:
            row = {"voice": f"{engine} {voice}"}
            for name, asr in (("prior", prior), ("any", anyl)):
                refs, hyps, wrong_lang = [], [], 0
                for i, q in enumerate(QUESTIONS):
                    wav = Path(tmp) / f"{voice}-{i}.wav"
                    if not wav.exists():
                        speak(engine, voice, q, wav)
                    audio = read_audio(wav)
                    # as the VAD hands it over: 0.3 s of pre-roll, the speech, a little silence
                    x = np.concatenate([np.zeros(4800, np.float32), audio, np.zeros(3200, np.float32)])
                    r = asr.transcribe(x)
                    refs.append(norm(q))
                    hyps.append(norm(r.text))
                    wrong_lang += r.language != "en"
                totals[name][0] += refs
                totals[name][1] += hyps
                row[f"WER, {name}"] = f"{jiwer.wer(refs, hyps):.1%}"
                row[f"not English, {name}"] = f"{wrong_lang}/{len(QUESTIONS)}"
            rows.append(row)
    rows.append({"voice": "all", **{f"WER, {n}": f"{jiwer.wer(*totals[n]):.1%}" for n in totals}})
    table(rows, f"{len(QUESTIONS)} short questions (< 3 s) per unseen voice, Whisper base short-form, "
                "with the language prior (en, zh) and without it")


if __name__ == "__main__":
    main()
