"""Reasoning with the real models: the instruction filter, grounded answers, follow-ups, `omnilive ask`,
an LLM server that is down."""

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import live, load, mix
from PIL import Image
from streams import compose, evaldata_items

from omnilive.backends.llm import OpenAICompatLLM
from omnilive.reasoning.intent import InstructionFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _intent_data import held_out  # noqa: E402


def test_instruction_filter_on_held_apart_real_text(models, evaldata):
    f = InstructionFilter(models.text_embedding)
    for name, (texts, labels) in held_out(evaldata).items():
        pred = f.probability(texts) >= 0.5
        labels = np.array(labels, dtype=bool)
        assert np.mean(pred == labels) >= 0.9, name
        assert np.mean(pred[labels]) >= 0.8 and np.mean(~pred[~labels]) >= 0.9, name  # both kinds of error
    assert f.respond("Where did I leave my keys?") and f.respond("omnilive, what do you see")
    assert not f.respond("I'll pick up the kids at five.") and not f.respond("Welcome back to the show.")
    assert f.respond("你刚才看到了什么？") and not f.respond("今天天气不错。")  # Chinese: by cues


@pytest.fixture(scope="module")
def memory_dir(evaldata, tmp_path_factory):
    """A memory of a 48 s video: coffee, cat, bus, 16 s each."""
    items = {it.id: it for it in evaldata_items(evaldata)}
    tmp = tmp_path_factory.mktemp("ask")
    video = tmp / "room.mp4"
    compose([(items["img_skimage_coffee"], 16), (items["img_skimage_chelsea"], 16),
             (items["img_ultralytics_bus"], 16)], video)
    mem = tmp / "memory"
    subprocess.run([sys.executable, "-m", "omnilive", "ingest", str(video), "--memory", str(mem)],
                   check=True, capture_output=True, timeout=600)
    return mem


def ask(memory_dir, question, *extra):
    proc = subprocess.run([sys.executable, "-m", "omnilive", "ask", "--memory", str(memory_dir), question, "--json",
                           *extra], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ask_answers_with_the_object_and_when_and_speaks_it(memory_dir, models, tmp_path):
    wav = tmp_path / "answer.wav"
    out = ask(memory_dir, "Where did I see the cat?", "--speak", str(wav))
    assert out["respond"] is True
    assert "cat" in out["answer"].lower() and "ago" in out["answer"]
    first = out["clips"][0]
    assert first["start"] < 32 and first["end"] > 16  # the cat was on screen from 16 s to 32 s
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == models.tts.sample_rate and len(audio) > rate  # a spoken sentence, not a click
    from omnilive.dsp import resample

    heard = models.asr.transcribe(resample(audio, rate, 16000), "en").text.lower()
    assert "cat" in heard and "ago" in heard  # what was said is the answer


def test_ask_about_something_never_seen_says_so(memory_dir):
    out = ask(memory_dir, "Did you see a giraffe?")
    assert out["respond"] is True and "haven't seen a giraffe" in out["answer"]


def test_a_typed_question_is_for_the_assistant_whatever_the_filter_says(memory_dir):
    """`omnilive ask` is typed: said to the assistant, even in words the filter takes for family
    talk (spoken, the same words are not answered: tests/test_requests.py)."""
    out = ask(memory_dir, "Honey, did you see the cat?")
    assert out["respond"] is True and "cat" in out["answer"], out


def frames(evaldata, name):
    return np.asarray(Image.open(evaldata / "images" / name).convert("RGB"))


async def show(session, scenes):
    """Offer 1 fps frames and wait for each to be encoded (no drops)."""
    t = 0.0
    for img, n in scenes:
        for _ in range(n):
            before = session.counters.frames_encoded
            session.offer_frame(t, img)
            while session.counters.frames_encoded == before:
                await asyncio.sleep(0.01)
            t += 1.0
    return t


def test_what_is_in_view_now_is_described_before_its_clip_is_stored(models, settings, evaldata):
    """The clip being built has not been through the detector yet (that runs when it is stored):
    a question about what is in view now is answered from the detector's objects all the same."""
    cat, coffee = (frames(evaldata, n) for n in ("img_skimage_chelsea.png", "img_skimage_coffee.png"))

    async def run():
        session, rec = await live(models, settings, "t-now")
        await show(session, [(cat, 6), (coffee, 3)])
        turn = await session.ask("Did you see a cup?", speak=False)
        answer = await rec.wait_for("answer", turn_id=turn)
        await session.close()
        return answer, next(e for e in rec.of("query") if e.turn_id == turn)

    answer, query = asyncio.run(run())
    assert "cup" in answer.text.lower() and "haven't" not in answer.text.lower(), answer.text
    assert query.clips and query.clips[0].start >= 5.0, query.clips  # the coffee, not the cat


def test_follow_up_searches_the_same_thing_earlier(models, settings, evaldata):
    cat, bus, cat2 = (frames(evaldata, n) for n in ("img_skimage_chelsea.png", "img_ultralytics_bus.jpg",
                                                      "img_imageio_cat_wikkie.png"))

    async def run():
        session, rec = await live(models, settings, "t-follow")
        await show(session, [(cat, 6), (bus, 6), (cat2, 6), (bus, 4)])
        first = await session.ask("Where did you see a cat?", speak=False)
        await rec.wait_for("answer", turn_id=first)
        second = await session.ask("And before that?", speak=False)
        await rec.wait_for("answer", turn_id=second)
        await session.close()
        return [e for _, e in rec.events if e.type == "query"]

    q1, q2 = asyncio.run(run())
    assert q1.kind == q2.kind == "search" and "cat" in q1.facts.lower()
    seen_at = q1.clips[0].start
    assert all(c.end <= seen_at for c in q2.clips)  # only earlier moments
    if seen_at >= 12:  # the later cat was found first: "before that" is the first cat
        assert q2.facts.startswith("Before that") and "cat" in q2.facts.lower() and q2.clips[0].start < 6
    else:
        assert q2.facts == "I haven't seen it before that."


def test_llm_server_down_is_said_and_the_session_goes_on(models, settings, evaldata):
    down = settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"backend": "openai", "url": "http://127.0.0.1:9/v1", "timeout_s": 2.0})})
    llm = OpenAICompatLLM(down)  # no start-up check: the server dies later
    import dataclasses

    async def run():
        session, rec = await live(dataclasses.replace(models, llm=llm), settings, "t-down")
        await show(session, [(frames(evaldata, "img_skimage_chelsea.png"), 3)])
        turn = await session.ask("Tell me a joke.")
        answer = await rec.wait_for("answer", turn_id=turn)
        spoken = [e for _, e in rec.events if e.type == "answer_audio" and e.turn_id == turn]
        again = await session.ask("Did you see a cat?")  # memory questions need no LLM
        second = await rec.wait_for("answer", turn_id=again)
        await session.close()
        return rec, answer, spoken, second

    rec, answer, spoken, second = asyncio.run(run())
    assert "language model is unavailable" in answer.text and "127.0.0.1" not in answer.text  # said plainly
    assert any(e.type == "error" and e.stage == "llm" for _, e in rec.events)
    assert spoken and " ".join(a.text for a in spoken) == answer.text  # said out loud too (a long first sentence in two pieces)
    assert "cat" in second.text.lower()


def test_spoken_background_talk_gets_a_transcript_but_no_answer(models, settings, evaldata):
    async def run():
        session, rec = await live(models, settings, "t-chatter")
        speech = mix(6.0, [(0.5, load(evaldata, "speech/en/wav16k/en_harvard_spk2_snt4.wav"))])
        for i in range(0, len(speech), 512):
            await session.put_audio(i / 16000, speech[i: i + 512])
        utt = await rec.wait_for("utterance", timeout=60)
        await session.finish()
        await session.close()
        return rec, utt

    rec, utt = asyncio.run(run())
    assert "coat" in utt.text.lower() and utt.for_assistant is False  # "Mend the coat before you go out."
    assert not [e for _, e in rec.events if e.type in ("query", "answer")]


def test_typed_text_is_for_the_assistant_and_a_typed_stop_stops(models, settings):
    """A typed message is judged before ask() returns: whatever is typed into the assistant's box is
    said to it (questions the filter would call chatter are answered); a stop stops."""
    async def run():
        session, rec = await live(models, settings, "t-typed")
        chatter = await session.ask("Did you hear a baby crying?", speak=False)
        await rec.wait_for("answer", turn_id=chatter, timeout=120)
        stop = await session.ask("Can you stop for a second?", speak=False)
        await session.close()
        return rec, chatter, stop

    rec, chatter, stop = asyncio.run(run())
    typed = {e.turn_id: e for _, e in rec.events if e.type == "utterance"}
    assert typed[chatter].source == "typed" and typed[chatter].for_assistant is True  # (the filter says no)
    assert typed[stop].command == "stop" and any(e.type == "interrupt" and e.reason == "command" for _, e in rec.events)
    assert [e.turn_id for _, e in rec.events if e.type == "answer"] == [chatter]  # the stop was not answered


def test_a_chinese_question_is_answered_in_chinese_and_not_read_by_the_english_voice(models, settings, evaldata):
    """With an English voice only (``tts.voices = {}``): the Chinese answer is shown, not read as
    noise. (With the default Chinese voice it is spoken: tests/test_voices.py.)"""
    cat = frames(evaldata, "img_skimage_chelsea.png")
    english_only = dataclasses.replace(models, tts=getattr(models.tts, "main", models.tts))

    async def run():
        session, rec = await live(english_only, settings, "t-zh")
        await show(session, [(cat, 6)])
        turn = await session.ask("你看到猫了吗？", speak=True)
        answer = await rec.wait_for("answer", turn_id=turn, timeout=120)
        english = await session.ask("Did you see a cat?", speak=True)
        answer_en = await rec.wait_for("answer", turn_id=english, timeout=120)
        what = await session.ask("你看到了什么？", speak=False)  # after English turns in the history
        answer_what = await rec.wait_for("answer", turn_id=what, timeout=120)
        await session.close()
        return rec, turn, answer, english, answer_en, answer_what

    rec, turn, answer, english, answer_en, answer_what = asyncio.run(run())
    assert "猫" in answer_what.text and "你看到了什么" not in answer_what.text  # answered, not said back
    query = next(e for _, e in rec.events if e.type == "query" and e.turn_id == turn)
    assert query.language == "zh" and query.parsed_by == "dictionary" and "cat" in query.facts.lower()
    assert "猫" in answer.text  # grounded, and in Chinese
    assert not [e for _, e in rec.events if e.type == "answer_audio" and e.turn_id == turn]
    assert any(e.type == "notice" and e.turn_id == turn and "not spoken" in e.message for _, e in rec.events)
    assert "cat" in answer_en.text.lower()  # English stays English, and is spoken
    assert [e for _, e in rec.events if e.type == "answer_audio" and e.turn_id == english]


@pytest.mark.parametrize("text", ["Stop.", "Can you stop for a second?", "Okay, that's enough.", "嘘", "停一下",
                                  "Could you please stop talking now?"])
def test_stop_requests_in_any_phrasing(text):
    from omnilive.reasoning.intent import is_stop_command

    assert is_stop_command(text)


@pytest.mark.parametrize("text", ["Stop watching for dogs.", "What does a stop sign look like?", "Don't stop.",
                                  "Wait, where did I leave my keys?", "停车场在哪里？"])
def test_requests_that_merely_contain_stop_words_are_not_stops(text):
    from omnilive.reasoning.intent import is_stop_command

    assert not is_stop_command(text)


@pytest.mark.parametrize("text, stop", [("SHH-STOP-TORCAN", True), ("Quiet, Daniel.", True), ("Stop.", True),
                                        ("Wait, what else did you see?", False), ("Hold on, why?", False),
                                        ("Stop watching for dogs.", False),
                                        ("What does a stop sign look like?", False), ("停下。", True)])
def test_over_an_answer_a_few_words_opening_with_a_stop_verb_are_a_stop(text, stop):
    from omnilive.reasoning.intent import is_stop_over_answer

    assert is_stop_over_answer(text) is stop


@pytest.mark.parametrize("text, world", [
    ("Where is Tokyo?", True), ("东京在哪里？", True), ("Where is the Louvre?", True), ("长城在哪里？", True),
    ("Where was the Declaration of Independence signed?", True),
    ("Where did I leave my phone?", False), ("Where is the dog?", False), ("你把书放在哪里了？", False),
    ("Where is the bus?", False), ("Did you see Anna?", False),
])
def test_a_where_question_about_a_named_place_is_general_knowledge(text, world):
    """"Where is Tokyo?" is chat; "where is the dog?" asks memory (phrasings apart from the ones the
    rule was written on: the capital of France, Paris, 北京)."""
    from omnilive.reasoning.understand import understand

    assert understand(text, None).kind == ("chat" if world else "search")


@pytest.mark.parametrize("text, noun", [
    ("你看到狗了吗？", "狗"), ("你在厨房里看到水壶了吗？", "水壶"), ("你有没有看见我的眼镜？", "眼镜"),
    ("你看到一只白色的猫了吗？", ""), ("你刚才看见什么了？", ""),
])
def test_a_plain_chinese_sighting_keeps_the_askers_word(text, noun):
    """A plain "did you see X?" in Chinese is said without a second LLM call, in the asker's own
    word for X; where that word is not clear (a colour and a noun, no noun) the LLM phrases it."""
    from omnilive.reasoning.facts_zh import asked_noun

    assert asked_noun(text) == noun


def test_relative_times_do_not_stay_in_the_llms_history():
    """"(you told me about 6 minutes ago)" is stale a minute later, and the 1.5B copied its form into
    the next answer; "say that again" still has the answer as it was said."""
    from omnilive.reasoning.retrieve import Conversation

    conv = Conversation()
    said = "Your dentist appointment is on Tuesday at 3 (you told me about 6 minutes ago)."
    conv.remember("When is my dentist appointment?", said, "heard", "", ())
    assert conv.history[-1].content == "Your dentist appointment is on Tuesday at 3." and conv.last_answer[0] == said


def test_a_running_prime_gives_way_to_an_answer(settings, evaldata):
    """Priming evaluates the conversation between turns; a question asked meanwhile (a typed chat
    question waited 4 s in bench/truth_bench.py) stops it at its next chunk, and is answered."""
    import threading

    from omnilive.backends.base import ChatMessage
    from omnilive.backends.llm import PRIME_CHUNK, LlamaCppLLM
    from omnilive.reasoning.facts import SYSTEM

    llm = LlamaCppLLM.load(settings)  # its own context: no other test's session is using it
    said = [json.loads(l)["text"] for l in (evaldata / "speech" / "asr_eval.jsonl").read_text().splitlines()
            if l.strip() and json.loads(l).get("lang") == "en"][:20]
    history = [ChatMessage(role, text) for text in said for role in ("user", "assistant")]
    messages = [ChatMessage("system", SYSTEM), *history]
    chunks = len(llm._tokens(messages)) // PRIME_CHUNK
    assert chunks >= 8, chunks  # long enough that a prime runs on while the question comes
    checks, started = [], threading.Event()

    def stop() -> bool:  # asked before each chunk: the second time, one chunk is evaluated
        checks.append(1)
        if len(checks) == 2:
            started.set()
        return False

    prime = threading.Thread(target=llm.prime, args=(messages,), kwargs={"stop": stop})
    prime.start()
    assert started.wait(120)
    answer = "".join(llm.stream([*messages, ChatMessage("user", "What is the capital of France?")], max_tokens=16))
    prime.join()
    assert len(checks) < chunks, (len(checks), chunks)  # it stopped well before the end
    assert llm._primed != tuple((m.role, m.content) for m in messages)
    assert "Paris" in answer, answer


def test_the_conversations_start_stays_put_for_most_turns():
    """The history drops its oldest turns two at a time, not one per answer: each dropped turn
    shifts the whole prompt, and llama.cpp must then evaluate the conversation again."""
    from omnilive.reasoning.retrieve import HISTORY_TURNS, Conversation

    conv, shifts, first = Conversation(), 0, None
    for i in range(12):
        conv.remember(f"Question {i}?", f"Answer {i}.", "chat", "", ())
        assert 2 <= len(conv.history) <= 2 * HISTORY_TURNS and conv.history[-1].content == f"Answer {i}."
        assert conv.history[-4].content == f"Question {i - 1}?" if i else True  # a follow-up has the turn before
        shifts += first is not None and conv.history[0].content != first
        first = conv.history[0].content
    assert shifts <= 4, shifts  # 12 turns: one shift in three turns at most (it was one a turn)


def test_a_long_answer_hands_the_llm_over_at_a_sentence_end(settings):
    """Sessions share one llama.cpp context: a question asked while another session's long answer
    is being generated is answered after that answer's current sentence, not after all of it, and
    the long answer then goes on where it was."""
    import threading

    from omnilive.backends.base import ChatMessage
    from omnilive.backends.llm import LlamaCppLLM
    from omnilive.reasoning.facts import SYSTEM

    llm = LlamaCppLLM.load(settings)
    story, quick, events = [], [], []
    first_sentence = threading.Event()

    def tell() -> None:
        ask = [ChatMessage("system", SYSTEM), ChatMessage("user", "Tell me a long story about a squirrel who lost his acorns.")]
        for delta in llm.stream(ask, max_tokens=160):
            story.append(delta)
            if any(c in delta for c in ".!?"):
                first_sentence.set()
        events.append("story done")

    teller = threading.Thread(target=tell)
    teller.start()
    assert first_sentence.wait(120)
    told_before = len("".join(story))
    quick.append("".join(llm.stream([ChatMessage("system", SYSTEM),
                                     ChatMessage("user", "What is the capital of France?")], max_tokens=16)))
    events.append("quick done")
    teller.join()
    assert "Paris" in quick[0], quick
    assert events == ["quick done", "story done"], events  # the quick answer did not wait for the story
    assert len("".join(story)) > told_before + 100, "".join(story)  # and the story went on after it


@pytest.mark.parametrize("thing, known", [
    ("toy train track", False), ("toy whale", False), ("brick wall", False), ("painting", False),
    ("hats", True), ("cup of coffee", True), ("coffee cup", True), ("water bottle", True),
    ("mobile phone", True), ("silver car", True), ("tabby cat", True)])
def test_what_the_perception_could_have_seen_is_a_whole_name(thing, known):
    """A thing is recognisable when the vocabulary names its kind, not merely each of its words:
    "toy" (of "toy terrier"), "train" and "track" (of "half track") are all named somewhere, yet no
    class is a toy train track, so "No, I haven't seen one" would deny what the camera cannot tell."""
    from types import SimpleNamespace

    from omnilive.backends.visual_conse import imagenet_classes
    from omnilive.reasoning.sight import recognisable

    assert recognisable(thing, SimpleNamespace(concept_names=imagenet_classes())) is known
