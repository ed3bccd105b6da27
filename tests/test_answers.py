"""The brain on a fixed subset of bench/answer_bench.py's held-apart set, through the real models:
a 200 s camera stream of ten evaldata scenes, questions of every category, English and Chinese."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from answer_bench import SET, build_memory, judge  # noqa: E402

from omnilive.runtime.asking import ask_memory

SUBSET = [
    "Did you see a cat?", "When did you see the bus?", "你看到猫了吗？",
    "Did you see a giraffe?", "Did you see a tennis ball?", "你看到长颈鹿了吗？",
    "Where did you see the rocket?", "Where was the bus?",
    "What did you see in the last 30 seconds?", "Summarize what you saw.", "What happened in the last minute?",
    "What did you see before you saw the bus?", "What did you see after you saw the motorcycle?",
    "How many times did you see a cat?", "How many times did you see the bus?",
    "What is the capital of France?", "Tell me a joke.", "法国的首都是哪里？",
    "I think we should buy more milk tomorrow.", "今天天气不错。",
    "Can you stop for a second?", "停一下",
]
EXPECT = {q: (cat, expect) for cat, q, expect in SET}


@pytest.fixture(scope="module")
def store(models, settings, tmp_path_factory):
    store = build_memory(models, settings, tmp_path_factory.mktemp("answers"))
    yield store
    store.close()


@pytest.mark.parametrize("question", SUBSET)
def test_answer(question, models, settings, store):
    cat, expect = EXPECT[question]
    asked = ask_memory(models, settings, store, question)
    assert judge(expect, asked, store.end), (cat, asked.answer)


def test_answers_say_the_users_word_and_plain_names(models, settings, store):
    """"Did you see a bird?": the memory holds a "sulphur-crested cockatoo"; the answer says bird,
    the specific kind only as a detail, and no ImageNet jargon anywhere."""
    bird = ask_memory(models, settings, store, "Did you see a bird?").answer
    assert bird.startswith("Yes, I saw a bird") and "sulphur-crested" not in bird
    summary = ask_memory(models, settings, store, "What did you see?").answer.lower()
    for jargon in ("sulphur-crested", "mexican hairless", "black-and-tan", "projectile", "minibus"):
        assert jargon not in summary, summary
    newest = ask_memory(models, settings, store, "When did you see a cat?").answer
    # the later cat (gone 40 s before the end) first, the earlier one (2.7 min) only mentioned
    assert "seconds ago" in newest and "once before" in newest and "tiger cat" not in newest, newest


def test_times_past_an_hour_are_said_by_the_clock_and_dayparts_are_ranges():
    from datetime import datetime

    from omnilive.reasoning.facts import ago
    from omnilive.reasoning.question import daypart_of

    three_pm = datetime(2026, 12, 1, 15, 0).timestamp()
    assert ago(2 * 3600, three_pm - 2 * 3600) == "about 2 hours ago, at 13:00"
    assert ago(600, three_pm - 600) == "about 10 minutes ago"
    assert daypart_of("What did you see this morning?", three_pm) == (10 * 3600, 3 * 3600, "this morning")  # 05-12
    assert daypart_of("What happened today?", three_pm) == (15 * 3600, 0.0, "today")
    assert daypart_of("What happened today?", None) is None  # a recorded memory has no clock
