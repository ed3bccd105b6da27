"""`omnilive replay` on a real clip with real speech mixed in: the must-show of the runtime."""

import json
import subprocess
import sys

from helpers import load, mix, write_wav


def test_replay_prints_speech_start_then_the_utterance_then_a_grounded_answer(tmp_path, evaldata, models):
    video = evaldata / "video/vid_imageio_cockatoo.mp4"
    bed = load(evaldata, "video/vid_imageio_cockatoo.mp4")  # the clip's own sound
    jfk = load(evaldata, "speech/en/wav16k/en_jfk_inaugural.wav")
    question = models.tts.synthesize("What animal did you see?")
    audio = write_wav(tmp_path / "mixed.wav", mix(17.0, [(0.5, jfk), (13.0, question)], bed=bed))

    proc = subprocess.run(
        [sys.executable, "-m", "omnilive", "replay", str(video), "--audio", str(audio), "--speed", "3", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all("type" in e for e in events)

    utterances = [e for e in events if e["type"] == "utterance"]
    question = utterances[-1]
    assert "animal" in question["text"].lower() and question["start"] > 12
    # JFK pauses for effect, so his sentence may arrive as several utterances
    jfk = " ".join(u["text"] for u in utterances[:-1]).lower().replace(",", "").replace("!", "").replace(".", "")
    assert "fellow americans" in jfk and "what your country can do for you" in jfk
    assert "ask what you can do for your country" in jfk
    for utt in utterances:
        started = next(i for i, e in enumerate(events)
                       if e["type"] == "speech_started" and e["turn_id"] == utt["turn_id"])
        assert started < events.index(utt)
        assert 0 <= utt["start"] < utt["end"]
    assert [u["turn_id"] for u in utterances] == sorted(u["turn_id"] for u in utterances)

    answers = [e for e in events if e["type"] == "answer" and e["turn_id"] == question["turn_id"]]
    assert answers and not answers[0]["interrupted"]
    assert any(w in answers[0]["text"].lower() for w in ("cockatoo", "parrot", "macaw", "bird"))

    summary = events[-1]
    assert summary["type"] == "summary"
    assert summary["frames_seen"] > 250  # 14 s at 20 fps
    assert summary["frames_sampled"] == 14
    assert summary["frames_encoded"] + summary["frames_dropped"] == summary["frames_sampled"]
    assert summary["utterances"] == len(utterances)
    assert 1 <= summary["clips"] < summary["frames_encoded"]  # frames were grouped into clips
