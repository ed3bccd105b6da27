"""How an answer is cut into pieces for speech: the first words of a Chinese chat answer go to the
voice before its sentence is finished, cut between words (jieba), and the pieces join back into the
text without spaces inside Chinese."""

from omnilive.reasoning.sentences import SentenceSplitter
from omnilive.runtime.speaking import first_clause
from omnilive.text import join_pieces, zh_word_ends

ANSWERS = ["为什么数学家总是迟到？因为他们总是在计算错误。", "天空之所以是蓝色的，是因为大气散射了阳光中的蓝光。",
           "月亮离地球大约三十八万公里。", "The capital of France is Paris. It is on the Seine."]


def streamed(text: str, early: bool, step: int = 1) -> list[list[str]]:
    """The pieces each delta of ``step`` characters completes, as the LLM's tokens arrive."""
    splitter = SentenceSplitter(early_first=early)
    out = [splitter.push(text[i:i + step]) for i in range(0, len(text), step)]
    return out + [splitter.flush()]


def test_a_chinese_chat_answer_starts_with_its_first_words():
    for text in ANSWERS[:3]:
        deltas = streamed(text, early=True)
        pieces = [p for d in deltas for p in d]
        assert join_pieces(pieces) == text  # nothing lost, no space inside Chinese
        first_at = next(i for i, d in enumerate(deltas) if d)
        first = pieces[0]
        if "，" in first:  # a comma came within the first words: the clause is the first piece
            continue
        assert 4 <= len(first) <= 7, pieces
        assert len(first) in zh_word_ends(text), pieces  # between words, never inside one
        assert first_at < text.index("。"), (first_at, pieces)  # before its sentence was finished


def test_english_and_checked_answers_are_cut_at_sentences_only():
    assert [p for d in streamed(ANSWERS[3], early=True) for p in d] == ["The capital of France is Paris.",
                                                                       "It is on the Seine."]
    # a memory answer's first sentence is checked whole against the facts: no early words
    assert [p for d in streamed(ANSWERS[2], early=False) for p in d] == [ANSWERS[2]]


def test_an_answers_first_sentence_goes_at_its_stop_not_at_the_next_token():
    """The LLM's tokens as they come: the first sentence is out with its full stop (a token, ~50 ms,
    sooner than at the next word or the end of the answer), unless the stop may end an abbreviation."""
    def pieces_at(tokens):
        splitter = SentenceSplitter()
        return [splitter.push(t) for t in tokens]

    got = pieces_at(["Tok", "yo", " is", " the", " capital", " of", " Japan", "."])
    assert got[-1] == ["Tokyo is the capital of Japan."] and not any(got[:-1]), got
    assert pieces_at(["Why", " did", " it", " fall", " over", "?"])[-1] == ["Why did it fall over?"]
    for tokens in (["Mrs", ".", " Smith", " came"], ["It", " was", " 3", ".", "5", " metres"],
                   ["I", " saw", " the", " U", ".S", "."]):
        assert not any(pieces_at(tokens)), tokens


def test_a_long_first_sentence_is_spoken_in_two_pieces():
    assert first_clause("I saw a bird, and then a cat on the mat by the door.") == (
        "I saw a bird,", "and then a cat on the mat by the door.")
    assert first_clause("大约十分钟前，我在桌子上看到了一个杯子。") == ("大约十分钟前，", "我在桌子上看到了一个杯子。")
    head, rest = first_clause("月亮离地球大约三十八万公里。")  # no early comma: between words
    assert head + rest == "月亮离地球大约三十八万公里。" and 4 <= len(head) <= 7
    assert first_clause("你好，我叫小明。") == ("你好，我叫小明。",)  # short: whole


def test_the_llm_gives_way_while_a_first_audio_is_synthesized():
    """Scheduling only (a stand-in LLM): between tokens, a local LLM's stream waits while any
    session synthesizes the first audio of an answer, and goes on once that is done."""
    import threading

    from helpers import SlowLLM
    from omnilive.runtime.priority import FIRST_AUDIO, Yielding

    tokens = Yielding(SlowLLM(delay=0.0, words=50)).stream([], max_tokens=50)
    next(tokens)
    got = threading.Event()
    with FIRST_AUDIO.synthesizing():
        threading.Thread(target=lambda: (next(tokens), got.set()), daemon=True).start()
        assert not got.wait(0.3)  # held while the first audio is made (a slow machine only holds it longer)
    assert got.wait(30)  # and on at once after it


def test_the_lane_serves_the_step_needed_soonest_first():
    """Scheduling only: while the lane is held, waiters are served one at a time by deadline, not
    by arrival; one cancelled while waiting holds nobody up."""
    import asyncio

    from omnilive.runtime.priority import Lane

    async def run() -> list[float]:
        lane, order, inside = Lane(), [], []

        async def step(needed: float) -> None:
            async with lane.take(needed):
                inside.append(needed)
                assert len(inside) == 1, inside  # one at a time
                order.append(needed)
                await asyncio.sleep(0.01)
                inside.remove(needed)

        async with lane.take(0.0):
            waiters = [asyncio.create_task(step(n)) for n in (3.0, 1.0, 4.0, 2.0)]
            gone = asyncio.create_task(step(0.5))
            while len(lane._waiting) < 5:  # all queued behind the holder
                await asyncio.sleep(0)
            gone.cancel()
        await asyncio.gather(*waiters)
        return order

    assert asyncio.run(run()) == [1.0, 2.0, 3.0, 4.0]
