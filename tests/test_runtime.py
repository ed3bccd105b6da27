"""The session runtime: ordering, interrupts and cancellation, concurrency, and the drop policy.

Real VAD, ASR, encoder and TTS throughout; only the scheduling tests swap the LLM for a slow
stand-in, to hold an answer in flight long enough to interrupt it.
"""

import asyncio

import numpy as np
from PIL import Image

from omnilive.runtime.session import Session
from helpers import Recorder, SlowLLM, llm_phrases, load, mix, say, with_llm


def image(evaldata, name):
    return np.asarray(Image.open(evaldata / "images" / name).convert("RGB"))


async def shown(session, frame, seconds):
    """``seconds`` of one frame at 1 fps, each waited for until encoded (none dropped)."""
    for i in range(seconds):
        before = session.counters.frames_encoded
        session.offer_frame(float(i), frame)
        while session.counters.frames_encoded == before:
            await asyncio.sleep(0.01)


async def feed(session, audio, t0=0.0, chunk=512):
    for i in range(0, len(audio), chunk):
        await session.put_audio(t0 + i / 16000, audio[i : i + chunk])


def test_a_question_over_the_answer_interrupts_it_and_drops_its_data(models, settings, evaldata):
    llm = SlowLLM(delay=0.15)

    async def run():
        session = await Session(with_llm(models, llm), llm_phrases(settings), name="t-interrupt").start()
        rec = Recorder()
        session.subscribe(rec)
        turn = await session.ask("What did you see on the table?")
        await rec.wait_for("answer_audio", turn_id=turn)  # the answer is being spoken
        speech = mix(4.0, [(0.5, say("Where did I put my glasses?", "awb"))])  # a voice never tuned on
        await feed(session, speech)
        await rec.wait_for("utterance", timeout=60)
        summary = await session.finish()
        await session.close()
        return rec, turn, summary

    rec, turn, summary = asyncio.run(run())
    cut = rec.index("interrupt", cancelled_turn=turn)
    assert rec.events[cut][1].reason == "speech"
    # held at once when the speech started, cut once it was understood as a question
    assert rec.index("speech_started") < cut and rec.index("answer_paused", turn_id=turn) < cut
    answer = next(e for e in rec.of("answer") if e.turn_id == turn)
    assert answer.interrupted
    late = [e for _, e in rec.events[cut:] if e.type in ("answer_delta", "answer_audio") and e.turn_id == turn]
    assert late == []  # nothing of the cut turn is delivered after the interrupt
    assert llm.finished.wait(2) and llm.after_cancel <= 1  # the LLM thread stopped, too
    assert summary.interrupts >= 1


def test_perception_keeps_running_while_an_answer_is_generated(models, settings, evaldata):
    llm = SlowLLM(delay=0.3, words=40)
    frames = [image(evaldata, n) for n in ("img_skimage_coffee.png", "img_skimage_chelsea.png",
                                           "img_ultralytics_bus.jpg", "img_skimage_rocket.jpg")]

    async def run():
        session = await Session(with_llm(models, llm), llm_phrases(settings), name="t-concurrent").start()
        rec = Recorder()
        session.subscribe(rec)
        await session.ask("Describe the room.", speak=False)
        await rec.wait_for("answer_delta")
        before = session.counters.frames_encoded
        for i in range(8):  # 8 s of video at 1 fps while the LLM is still writing
            session.offer_frame(float(i), frames[i % 4])
            await asyncio.sleep(0.25)
        await asyncio.sleep(1.0)
        during = session.counters.frames_encoded - before
        still_answering = not rec.of("answer")
        await session.close()
        return during, still_answering

    during, still_answering = asyncio.run(run())
    assert still_answering
    assert during >= 6


def test_an_answer_that_needs_no_llm_does_not_wait_for_it(models, settings, evaldata):
    """While the LLM's thread is busy (priming the conversation, another answer), a memory answer
    said from the facts alone, English or a plain Chinese yes / no, comes at once (issue 23: typed
    questions waited 1.5-2 s behind the priming)."""
    import threading

    cat = image(evaldata, "img_skimage_chelsea.png")

    async def run():
        session = await Session(models, settings, name="t-no-llm").start()
        rec = Recorder()
        session.subscribe(rec)
        await shown(session, cat, 6)
        busy = threading.Event()
        session.ctx.stages["llm"].submit(busy.wait)  # the LLM's thread held until the answers are in
        try:
            answers = []
            for question in ("Did you see a cat?", "你看到猫了吗？"):
                turn = await session.ask(question, speak=False)
                answers.append(await rec.wait_for("answer", turn_id=turn, timeout=60))
        finally:
            busy.set()
            await session.close()
        return answers

    english, chinese = asyncio.run(run())
    assert english is not None and english.text.startswith("Yes, I saw a cat"), english
    assert chinese is not None and chinese.text.startswith("看到了") and "猫" in chinese.text, chinese


def test_primes_of_the_conversation_do_not_pile_up(models, settings, evaldata):
    """Each answer asks for the conversation to be primed on the LLM's thread; answers given fast
    (from the facts) must not leave a queue of primes ahead of the next answer that needs the LLM
    (a chat question waited 30 s behind them in bench/truth_bench.py)."""
    import time

    class PrimedLLM(SlowLLM):
        primes = 0

        def prime(self, messages, stop=lambda: False, then=""):
            self.primes += 1
            time.sleep(1.0)

    llm = PrimedLLM(delay=0.01, words=8)
    cat = image(evaldata, "img_skimage_chelsea.png")

    async def run():
        session = await Session(with_llm(models, llm), settings, name="t-primes").start()
        rec = Recorder()
        session.subscribe(rec)
        await shown(session, cat, 4)
        for question in ["Did you see a cat?", "When did you see the cat?", "Did you see a dog?",
                         "Where did you see the cat?", "Did you see a giraffe?", "Tell me a joke."]:
            turn = await session.ask(question, speak=False)
            await rec.wait_for("answer", turn_id=turn, timeout=60)
        await session.close()
        return len(rec.of("answer"))

    answers = asyncio.run(run())
    assert answers == 6 and llm.primes <= 3, (answers, llm.primes)  # (at start, and the latest at most)


def test_the_llm_waits_while_the_first_sentence_is_synthesized(models, settings, monkeypatch):
    """Once an answer's first sentence is written, the LLM's next token waits until its audio is
    made: started before the synthesis was (the sentence still on its way to the voice), a token of
    the 1.5B slowed it (runtime/priority.py ``Pending``)."""
    import dataclasses
    import time

    from omnilive.backends.base import TTS

    llm = SlowLLM(delay=0.2, words=20)  # a token as slow as the synthesis: one begun beside it shows
    llm.runs_here = True  # (as the embedded llama.cpp: it shares this machine's CPU with the voice)
    # the hold is bounded per token (1 s) so nothing starves: a slow machine's late synthesis is not what is tested
    monkeypatch.setattr("omnilive.runtime.priority.MAX_WAIT_S", 60.0)

    class Voice(TTS):
        sample_rate = 16000

        def __init__(self):
            self.made: list[tuple[int, int]] = []  # (tokens when a synthesis began, when it ended)

        def synthesize(self, text):
            before = llm.produced
            time.sleep(0.3)
            self.made.append((before, llm.produced))
            return np.zeros(1600, np.float32)

    voice = Voice()

    async def run():
        session = await Session(dataclasses.replace(with_llm(models, llm), tts=voice), settings,
                                name="t-first-held").start()
        rec = Recorder()
        session.subscribe(rec)
        turn = await session.ask("Tell me a joke.", speak=True)
        await rec.wait_for("answer", turn_id=turn, timeout=60)
        await session.close()

    asyncio.run(run())
    assert len(voice.made) >= 2, voice.made  # the first sentence and the rest
    before, after = voice.made[0]
    assert before == after and before < llm.words, voice.made  # no token while the first audio was made


def test_sessions_take_turns_at_the_voice_first_words_first(models, settings):
    """Two users ask at once: a voice on this CPU makes one piece at a time across the sessions,
    and both answers' first words before the rest of either (runtime/priority.py ``Lane``). Made
    at once, four users' first pieces took 0.8 s each on two cores instead of 0.15-0.35 s."""
    import dataclasses
    import threading
    import time

    from omnilive.backends.base import TTS

    class Voice(TTS):
        sample_rate = 16000

        def __init__(self):
            self.made: list[tuple[str, float, float]] = []  # (the session's thread, start, end)

        def synthesize(self, text):
            start = time.perf_counter()
            time.sleep(0.15 if self.made else 1.0)  # the first one long: the other's first piece and this one's
            # second are both waiting by its end, on a slow machine too, and the deadline decides
            self.made.append((threading.current_thread().name.split("-tts")[0], start, time.perf_counter()))
            return np.zeros(2 * 16000, np.float32)  # 2 s of audio: the next piece is needed later

    voice = Voice()
    llm = SlowLLM(delay=0.01, words=24)  # three sentences

    async def run():
        m = dataclasses.replace(with_llm(models, llm), tts=voice)
        sessions = [await Session(m, settings, name=n).start() for n in ("t-lane-a", "t-lane-b")]
        recs = [Recorder() for _ in sessions]
        for s, r in zip(sessions, recs):
            s.subscribe(r)
        turns = await asyncio.gather(*(s.ask("Tell me a joke.", speak=True) for s in sessions))
        for r, turn in zip(recs, turns):
            await r.wait_for("answer", turn_id=turn, timeout=60)
        for s in sessions:
            await s.close()

    asyncio.run(run())
    made = sorted(voice.made, key=lambda m: m[1])
    assert sorted(m[0] for m in made) == ["t-lane-a"] * 3 + ["t-lane-b"] * 3, made
    assert all(a[2] <= b[1] for a, b in zip(made, made[1:])), made  # never two at once
    assert {m[0] for m in made[:2]} == {"t-lane-a", "t-lane-b"}, made  # both first pieces first


def test_a_question_being_said_is_evaluated_before_its_end(models):
    """Primed with the words of a question so far (a partial transcript), the embedded LLM's
    prompt at the question's end evaluates only its last words and the answer header; primed
    with the conversation alone, the whole question (tokens counted, real model)."""
    from omnilive.backends.base import ChatMessage
    from omnilive.reasoning.facts import SYSTEM

    llm = models.llm
    history = [ChatMessage("system", SYSTEM), ChatMessage("user", "Hello there."),
               ChatMessage("assistant", "Hello! How can I help you today?")]
    ctx = llm._llm
    evaluated: list[int] = []
    real_eval = ctx.eval

    def prompt_tokens(question: str) -> int:
        evaluated.clear()
        list(llm.stream([*history, ChatMessage("user", question)], max_tokens=1))
        return evaluated[0]  # (the prompt's batch; then one token of answer)

    ctx.eval = lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens))[1]
    try:
        llm.prime(history)
        whole = prompt_tokens("What is the capital of Japan?")
        llm.prime(history, then="What is the capital of")
        rest = prompt_tokens("What is the capital of Italy?")
    finally:
        ctx.eval = real_eval
    question = len(ctx.tokenize(b"What is the capital of Japan?", add_bos=False))
    assert whole >= question + 2, (whole, question)  # the question and the header after it
    assert rest <= whole - 3, (rest, whole)  # "What is the capital" was in already


def test_frames_beyond_the_encoder_are_dropped_and_counted(models, settings, evaldata):
    fast = settings.model_copy(update={"runtime": settings.runtime.model_copy(update={"video_fps": 30, "frame_queue": 2})})
    img = image(evaldata, "img_skimage_coffee.png")

    async def run():
        session = await Session(models, fast, name="t-drops").start()
        depth = []
        for i in range(60):  # 2 s of 30 fps, offered faster than ~100+ ms/frame encoding
            session.offer_frame(i / 30, img)
            depth.append(session.seeing._frame_q.qsize())
            await asyncio.sleep(0)
        summary = await session.finish()
        await session.close()
        return summary, max(depth)

    summary, max_depth = asyncio.run(run())
    assert max_depth <= 2
    assert summary.frames_sampled == 60
    assert summary.frames_dropped > 30
    assert summary.frames_encoded + summary.frames_dropped == summary.frames_sampled


def test_corrupt_frames_are_skipped_and_the_session_goes_on(models, settings, evaldata):
    async def run():
        session = await Session(models, settings, name="t-corrupt").start()
        session.offer_frame(0.0, np.zeros((4, 4), np.uint8))
        session.offer_frame(1.0, "not an image")
        session.offer_frame(2.0, image(evaldata, "img_skimage_chelsea.png"))
        summary = await session.finish()
        await session.close()
        return summary, session.memory.clips

    summary, clips = asyncio.run(run())
    assert summary.frames_corrupt == 2 and summary.frames_encoded == 1
    assert len(clips) == 1 and any("cat" in l for l in clips[0].labels)


def test_asr_started_at_the_pause_is_used_only_when_the_pause_was_the_end(models, settings, evaldata):
    """Early ASR in the live session: a question followed by silence is transcribed from the pause
    (one early transcript used); a sentence, a short pause and another sentence are one utterance
    whose transcript has both (the early transcript of the first half is dropped)."""
    a = load(evaldata, "speech/en/wav16k/en_harvard_spk1_snt1.wav")  # "The child almost hurt the small dog."
    b = load(evaldata, "speech/en/wav16k/en_harvard_spk2_snt4.wav")
    quiet = settings.model_copy(update={"runtime": settings.runtime.model_copy(update={"respond": "never"})})

    async def run(audio):
        session = await Session(models, quiet, name="t-early").start()
        rec = Recorder()
        session.subscribe(rec)
        await feed(session, audio)
        await session.finish()
        await session.close()
        return [e for e in rec.of("utterance")], session.counters

    single, c1 = asyncio.run(run(mix(a.size / 16000 + 2.0, [(0.5, a)])))
    assert len(single) == 1 and "small dog" in single[0].text.lower()
    assert (c1.early_asr_used, c1.early_asr_wasted) == (1, 0)
    both, c2 = asyncio.run(run(mix((a.size + b.size) / 16000 + 2.5, [(0.5, a), (0.85 + a.size / 16000, b)])))
    assert len(both) == 1, [u.text for u in both]
    text = both[0].text.lower()
    assert "small dog" in text and "coat" in text
    assert c2.early_asr_wasted >= 1


def test_stop_command_ends_the_answer_without_a_new_question(models, settings, evaldata):
    llm = SlowLLM(delay=0.15)

    async def run():
        session = await Session(with_llm(models, llm), llm_phrases(settings), name="t-stop").start()
        rec = Recorder()
        session.subscribe(rec)
        turn = await session.ask("Tell me a long story.")
        await rec.wait_for("answer_delta", turn_id=turn)
        stop = say("Please stop talking.", "kal16")  # one phrase, no pause for the end-of-turn model to split at
        await feed(session, mix(3.0, [(0.3, stop)]))
        await rec.wait_for("utterance", timeout=60, source="speech")
        await session.finish()
        await session.close()
        return rec, turn

    rec, turn = asyncio.run(run())
    # the last: Smart Turn may end the turn after "Okay", and "stop" then joins it
    utt = [e for e in rec.of("utterance") if e.source == "speech"][-1]
    assert "stop" in utt.text.lower()
    answer = next(e for e in rec.of("answer") if e.turn_id == turn)
    assert answer.interrupted
    assert any(e.reason == "command" for e in rec.of("interrupt")), utt.text
    assert not [e for e in rec.of("query") if e.text == utt.text]  # "stop" is not answered


def test_audio_at_any_rate_is_resampled_and_non_audio_is_rejected(models, settings, evaldata):
    import pytest

    from omnilive.dsp import AudioFormatError, resample

    speech = mix(4.0, [(0.5, load(evaldata, "speech/en/wav16k/en_harvard_spk1_snt2.wav"))])
    stereo_44k = np.repeat((resample(speech, 16000, 44100) * 32767).astype(np.int16)[:, None], 2, axis=1)

    async def run():
        session = await Session(models, settings, name="t-rates").start()
        rec = Recorder()
        session.subscribe(rec)
        with pytest.raises(AudioFormatError, match="numpy array"):
            await session.put_audio(0.0, "not audio")
        with pytest.raises(AudioFormatError, match="NaN"):
            await session.put_audio(0.0, np.full(512, np.nan, np.float32))
        with pytest.raises(AudioFormatError, match="sample rate"):
            await session.put_audio(0.0, np.zeros(512, np.float32), sample_rate=12)
        step = 4410
        for i in range(0, len(stereo_44k), step):
            await session.put_audio(i / 44100, stereo_44k[i : i + step], sample_rate=44100)
        await session.finish()
        await session.close()
        return rec

    rec = asyncio.run(run())
    [utt] = rec.of("utterance")
    assert "figures" in utt.text.lower()
    assert 0.2 < utt.start < 0.8


def test_every_turn_ends_once_with_what_the_user_heard(models, settings):
    """An answer cut while it is spoken ends interrupted with what was heard of it; the next one ends
    answered once its audio has played; what the conversation and heard memory keep is that."""
    llm = SlowLLM(delay=0.02, words=40)

    async def run():
        session = await Session(with_llm(models, llm), llm_phrases(settings), name="t-ended").start()
        rec = Recorder()
        session.subscribe(rec)
        story = await session.ask("Tell me a long story.")
        await rec.wait_for("answer", turn_id=story)  # written and sent: its audio plays on for seconds
        assert not rec.of("turn_ended")  # not over until heard
        second = await session.ask("Tell me another one.")  # typed over it: the first is cut
        await rec.wait_for("turn_ended", turn_id=second, timeout=120)  # played out (no client: the server's count)
        await session.finish()
        kept = [i.text for i in session.memory.heard.items if i.speaker == "assistant"]
        history = [m.content for m in session.ctx.conversation.history if m.role == "assistant"]
        await session.close()
        return rec, story, second, kept, history

    rec, story, second, kept, history = asyncio.run(run())
    ended = {e.turn_id: e for e in rec.of("turn_ended")}
    assert sorted(ended) == [story, second] and len(rec.of("turn_ended")) == 2, rec.of("turn_ended")
    written = {e.turn_id: e.text for e in rec.of("answer")}
    first = ended[story]
    assert first.state == "interrupted" and first.said.endswith(" …")
    assert written[story].startswith(first.said.removesuffix(" …")) and len(first.said) < len(written[story])
    assert ended[second].state == "answered" and ended[second].said == written[second]
    assert kept == history == [first.said, written[second]]  # heard memory and the LLM's conversation agree
