"""Real audio through the real VAD and ASR; real video through the frame sampler."""

import json

import numpy as np
import pytest

from omnilive.events import SpeechEnded, SpeechPaused, SpeechStarted
from omnilive.perception.media import MediaError, iter_media, read_audio
from omnilive.perception.vad import SpeechDetector
from omnilive.perception.video import FrameSampler, validate_frame


def detect(models, settings, samples, chunk=512 * 3):
    det = SpeechDetector(models.vad.stream(), settings.vad)
    events = []
    for i in range(0, len(samples), chunk):
        events += det.feed(i / 16000, samples[i : i + chunk])
    return events + det.flush()


def overlap(a, b):
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_vad_finds_the_annotated_speech(models, settings, evaldata):
    refs = json.loads((evaldata / "speech/vad/vad_reference.json").read_text())
    for ref in refs[:4]:
        audio = read_audio(evaldata / ref["wav16k"])
        events = detect(models, settings, audio)
        starts = [e for e in events if isinstance(e, SpeechStarted)]
        ends = [e for e in events if isinstance(e, SpeechEnded)]
        assert len(starts) == len(ends) >= 1, ref["id"]
        # every start comes before its own end, turns in order
        assert [e.turn_id for e in starts] == [e.turn_id for e in ends]
        assert all(s.t <= e.t for s, e in zip(starts, ends))
        found = [(e.start, e.t) for e in ends]
        speech = sum(b - a for a, b in ref["speech_segments_s"])
        covered = sum(overlap(f, r) for f in found for r in ref["speech_segments_s"])
        assert covered / speech > 0.85, (ref["id"], found, ref["speech_segments_s"])


def test_silence_and_noise_give_no_speech(models, settings):
    rng = np.random.default_rng(0)
    assert detect(models, settings, np.zeros(16000 * 3, np.float32)) == []
    assert detect(models, settings, (rng.standard_normal(16000 * 3) * 0.01).astype(np.float32)) == []


def test_utterance_keeps_preroll_so_the_first_word_survives(models, settings, evaldata, asr_items):
    audio = read_audio(evaldata / asr_items["en_harvard_spk1_snt1"]["wav16k"])
    padded = np.concatenate([np.zeros(16000, np.float32), audio, np.zeros(16000, np.float32)])
    ends = [e for e in detect(models, settings, padded) if isinstance(e, SpeechEnded)]
    assert len(ends) == 1
    text = models.asr.transcribe(ends[0].samples).text.lower()
    assert text.split()[0].strip(",.") == "the" and "small dog" in text


def test_a_pause_hands_asr_the_audio_the_end_will_carry(models, settings, evaldata, asr_items):
    """Early ASR: after early_asr_ms of silence the pause carries the utterance so far; when it was
    the end, the end's audio is the very same, so the transcript started at the pause is reused."""
    a = read_audio(evaldata / asr_items["en_harvard_spk1_snt1"]["wav16k"])
    b = read_audio(evaldata / asr_items["en_harvard_spk2_snt4"]["wav16k"])
    gap = lambda s: np.zeros(int(16000 * s), np.float32)
    # one sentence, a 0.35 s pause (longer than early_asr_ms, shorter than min_silence_ms), another
    events = detect(models, settings, np.concatenate([gap(1), a, gap(0.35), b, gap(1.5)]))
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    pauses = [e for e in events if isinstance(e, SpeechPaused)]
    assert len(ends) == 1 and len(pauses) >= 2, [type(e).__name__ for e in events]
    last = pauses[-1]
    assert last.turn_id == ends[0].turn_id and np.array_equal(last.samples, ends[0].samples)
    assert last.t < ends[0].t - 0.25  # ASR can start this much earlier
    # the pause inside the utterance carried less audio: a transcript of it would be dropped
    assert len(pauses[0].samples) < len(ends[0].samples)
    assert "small dog" in models.asr.transcribe(last.samples).text.lower()


@pytest.mark.parametrize("item, words", [
    ("en_jfk_inaugural", ["fellow americans", "your country"]),
    ("en_harvard_spk2_snt4", ["coat", "before"]),
])
def test_asr_transcribes_english(models, evaldata, asr_items, item, words):
    result = models.asr.transcribe(read_audio(evaldata / asr_items[item]["wav16k"]))
    assert result.language == "en"
    for w in words:
        assert w in result.text.lower()


def test_asr_chinese_comes_back_simplified(models, evaldata, asr_items):
    result = models.asr.transcribe(read_audio(evaldata / asr_items["zh_funasr_asr_example"]["wav16k"]))
    assert result.language == "zh"
    assert "欢迎大家来体验" in result.text  # simplified 欢/来/体/验, not 歡/來/體/驗
    assert not set("語識別體驗達歡來") & set(result.text)
    short = models.asr.transcribe(read_audio(evaldata / asr_items["zh_sr_chinese"]["wav16k"]))  # 1 s: 砸自己的脚
    assert short.language == "zh" and "自己的脚" in short.text


def test_sampler_keeps_one_frame_per_second_by_timestamp(evaldata):
    sampler = FrameSampler(1.0)
    times = [t for kind, t, _ in iter_media(evaldata / "video/vid_imageio_cockatoo.mp4", audio=False)]
    kept = [t for t in times if sampler.keep(t)]
    assert len(times) > 200  # 20 fps source
    assert len(kept) == 14 and all(int(t) == i for i, t in enumerate(kept))
    # an irregular 45000/1499 fps file also yields frames by its own clock
    sampler = FrameSampler(2.0)
    times = [t for kind, t, _ in iter_media(evaldata / "video/vid_imageio_realshort.mp4", audio=False)]
    assert sum(sampler.keep(t) for t in times) == 3  # 0, 0.5, 1.0 s of a 1.2 s clip


def test_media_errors_are_clear(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="broken.mp4"):
        list(iter_media(bad))
    with pytest.raises(ValueError, match="HxWx3"):
        validate_frame(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        validate_frame(np.zeros((32, 32, 3), np.float32))


def test_a_short_english_question_is_not_heard_as_another_language(models):
    """Whisper base alone ranks Piper's "Tell me a joke." Japanese (0.45-0.52 against English
    0.38-0.41) and writes kana; detection picks among asr.languages (English, Chinese)."""
    import numpy as np

    speech = models.tts.synthesize("Tell me a joke.")
    heard = models.asr.transcribe(np.concatenate([np.zeros(4800, np.float32), speech, np.zeros(3200, np.float32)]))
    assert heard.language == "en" and "joke" in heard.text.lower(), heard
