"""Questions about what was heard, and notes.

A question is routed by what it asks about (``route``): what was said ("what did he say about the
dentist?", "what was the name she mentioned?"), a sound ("when did the phone ring?"), a summary of
talk ("what did we talk about in the last ten minutes?"), or, by default, what was seen; a seen
question still gets a note that matches it well ("when is my dentist appointment?"). "What did he
say when the dog came in?" is both: the sighting gives the time, the speech around it the answer.
Facts are plain sentences that quote who said what, and when; the LLM phrases them (or, for a local
model, they are said as they are), and summarises talk.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from dataclasses import dataclass

import numpy as np

from ..events import HeardItem
from ..text import has_cjk
from ..memory.heard import MASS as MASS_SOUNDS, kinds_asked, sound_kinds, sound_said
from ..memory.speakers import SAME, SpeakerBook
from ..memory.store import MemoryStore
from .question import Question
from .speakers import asked_voices
from .facts import ago, sightings, span_of

log = logging.getLogger(__name__)

RECENT = 4  # "what did you hear?": this many different things, the latest first heard last
RECENT_SOUNDS = 8  # "what sounds did you hear?": sounds alone, in one sentence
NOTE_MIN = 0.75  # a note this close to a question answers it (words + meaning, see HeardMemory.search)
SPEECH_MIN = 0.35
AROUND_S = 20.0  # "what did he say when ...": speech this close to the moment
SUMMARY_CHARS = 3000  # transcript given to the LLM for a summary; longer ranges are sampled

_TALK = re.compile(r"\b(say|said|says|saying|told|mention(ed)?|talk(ed|ing)? about|discuss(ed)?|spoke|"
                   r"name (she|he|they|you|i) (mentioned|said|gave))\b|(他|她|他们|她们|有人|谁)说|说了|说过|讲了|提到|谈到|聊到", re.I)
_TALK_SUMMARY = re.compile(r"\bwhat (did|have) (we|they|you and i|people) (talk|discuss|say|chat)|"
                           r"\bsummar\w* (the |this |our )?(meeting|conversation|call|talk|discussion)|"
                           r"\bwhat was (said|discussed)\b(?!\s+about)|\bwhat were (we|they) talking about\W*$|"
                           r"(我们|刚才|会议).{0,6}(聊|谈|讨论|说)了什么|总结.{0,4}(会议|对话|谈话)", re.I)
_SOUND = re.compile(r"\b(hear|heard|ring|rang|rung|bark(ed)?|go off|went off|beep(ed)?|sound(ed)?|noise|knock(ed)?|"
                    r"play(ed|ing)?|cry|cried|laugh(ed)?|clap(ped)?|meow(ed)?|honk(ed)?|sing|sang|sung|singing|chirp(ed|ing)?|"
                    r"tweet(ed)?|howl(ed)?|buzz(ed)?|whistl(e|ed)|roar(ed)?|crash(ed)?|broke|bang(ed)?|cough(ed)?)\b|"
                    r"听到|响|叫(?!什么|做|我|你|他|她|它)|声", re.I)  # 叫 barks, but "你叫什么名字" names
_HEARD_ANY = re.compile(r"\bwhat (did|have|do) you (just )?(hear|heard)\b|\bwhat (sounds?|noises?)\b|"
                        r"\b(did|have) you heard? anything\b|听到了?什么|有什么声音", re.I)
_SOUNDS_ONLY = re.compile(r"\b(sounds?|noises?)\b|声音", re.I)
_SEEN = re.compile(r"\b(see|saw|seen|look(ed)?|notice(d)?|spot(ted)?|camera|in view|on screen|how many people)\b|看到|看见", re.I)
_NOTES_Q = re.compile(r"\bwhat (?:did|have) i (?:ask(?:ed)?|tell|told) you to (?:remember|note|keep in mind)\b|"
                      r"\bwhat (?:notes|reminders) (?:do|did|have) you\b|\bwhat (?:do|did) you remember (?:for|about) me\b|"
                      r"我(?:让|叫)你记住?了?什么|你(?:帮我)?记了什么", re.I)
_WHEN_SEEN = re.compile(r"\b(?:say|said|talk\w*|mention\w*)\b.*\bwhen\s+(?:the\s+|a\s+|an\s+)?(\w+(?:\s\w+)?)\s+"
                        r"(?:came|come|walked|appeared|showed|was)\b", re.I)
_NOTE = re.compile(r"^\W*(?:(?:ok|okay|hey|please|omnilive)\W+)*(?:please\s+)?(?:remember|note|make a note|"
                   r"don't forget|do not forget|keep in mind)\s+(?:that\s+|this:?\s+)?(?P<what>.+?)\W*$", re.I)
_NOTE_ZH = re.compile(r"^\W*(?:请)?(?:记住|记一下|帮我记住|别忘了)[:：,，]?(?P<what>.+?)\W*$")
_FLIP = [(r"\bmy\b", "your"), (r"\bI'm\b", "you're"), (r"\bI am\b", "you are"), (r"\bI\b", "you"), (r"\bme\b", "you"),
         (r"\bmine\b", "yours"), (r"\bmyself\b", "yourself")]


@dataclass(frozen=True, slots=True)
class HeardFacts:
    kind: str  # "heard" (quotes, sounds, notes) | "talk_summary"
    facts: str
    items: tuple[HeardItem, ...]
    zh: str = ""  # said as it is to a Chinese question (a note quoted, not translated by the LLM)


def note_of(text: str) -> str | None:
    """The content of "remember that my dentist appointment is on Tuesday" / "记住……", else None."""
    m = _NOTE.match(text) or _NOTE_ZH.match(text.strip())
    what = m.group("what").strip() if m else ""
    return what if len(what) >= 3 else None


def to_you(text: str) -> str:
    """The user's words said back to them: "my appointment" -> "your appointment"."""
    for pattern, repl in _FLIP:
        text = re.sub(pattern, repl, text, flags=re.I)
    return text


_CLEAN_SCHEMA = {"type": "object", "properties": {"note": {"type": "string", "maxLength": 200}}, "required": ["note"]}
_CLEAN_PROMPT = ("The user asked you to remember a note. Speech recognition may have misheard some small words. "
                 "Rewrite it as one short, correct sentence addressed to the user, in the second person (\"your ...\", "
                 "\"you ...\"), in the same tense, keeping every fact (what, who, when, where, numbers) and adding nothing. "
                 "Reply as JSON.\nExample: \"at my keys is in the kitchen drawer\" -> {\"note\": \"Your keys are in the "
                 "kitchen drawer.\"}\nExample: \"I parked the car on level for\" -> {\"note\": \"You parked the car on "
                 "level four.\"}\nExample: \"at my haircut in on Monday at 5\" -> {\"note\": \"Your haircut is on Monday "
                 "at 5.\"}\nNote: ")
_CLEAN_PROMPT_ZH = "用户让你记住一件事（语音识别可能听错了个别字）。请把它改写成一句通顺、对用户说的话（用“你”），保留所有事实，不添加任何内容。用 JSON 回答。\n内容："


def clean_note(note: str, llm, language: str = "en") -> str | None:
    """The note as a clean fact in the second person ("Remember at my dentist appointment in on
    Tuesday at 3" -> "Your dentist appointment is on Tuesday at 3."), written by the LLM under a
    JSON schema; None when there is no LLM, it fails, or it drops the note's words (then the
    words as heard stand)."""
    if llm is None or not getattr(llm, "supports_json", False):
        return None
    from lemminflect import getAllLemmas

    from ..backends.base import ChatMessage
    from ..memory.ranking import content_words
    from .facts import SYSTEM

    prompt = (_CLEAN_PROMPT_ZH if language == "zh" else _CLEAN_PROMPT) + note
    try:
        clean = str(llm.json([ChatMessage("system", SYSTEM), ChatMessage("user", prompt)], _CLEAN_SCHEMA,
                             max_tokens=80).get("note") or "").strip()
    except Exception as exc:
        log.warning("note not cleaned (%s); keeping it as heard", exc)
        return None
    said = {w for w in content_words(_spelled(note)) if len(w) > 2}
    written = content_words(_spelled(clean))
    kept = said & written
    things = {w for w in said if "NOUN" in getAllLemmas(w) or "PROPN" in getAllLemmas(w)}
    # a word it adds must stand for one it dropped, as heard wrong ("level for" -> "level four"), not
    # be new ("the password is on-floor" -> "on floor four": "four" was never said)
    dropped = said - written
    added = [w for w in written - said if len(w) > 2 and not any(
        difflib.SequenceMatcher(None, w, d).ratio() >= 0.6 for d in dropped | _small(note))]
    first_person = re.search(r"\b(I|my|me|mine)\b", clean) if language != "zh" else "我" in clean
    if not clean or first_person or added or not things <= kept or (said and len(kept) < 0.6 * len(said)):
        return None  # not the note any more, or not said to "you": the words as heard stand
    return clean if clean[-1:] in ".!?。！？" else clean + ("。" if language == "zh" else ".")


def _spelled(text: str) -> str:
    """Numbers as words ("at 3" -> "at three"), so a note and its clean form compare word for word."""
    from .sight import number

    return re.sub(r"\b\d{1,2}\b", lambda m: number(int(m.group(0))), text)


def _small(text: str) -> set[str]:
    """The short words of ``text`` (ASR's "for", "to", "won" are often a number misheard)."""
    return {w.lower() for w in re.findall(r"[A-Za-z']+", text) if len(w) <= 3}


def note_item(note: str, clean: str | None, t: float, language: str) -> HeardItem:
    """A note as heard memory keeps it: the clean fact as its text (what questions find and
    answers say), the words as heard as its label."""
    return HeardItem(item_id=0, start=t, end=t, kind="note", text=clean or note, labels=(note,) if clean else (),
                     speaker="user", language=language)


def confirm_note(note: str, language: str, clean: str | None = None) -> str:
    if language == "zh":
        return f"好的，我记住了：{clean or note}"if (clean or note)[-1:] in "。！？" else f"好的，我记住了：{clean or note}。"
    if clean:
        return f"OK, I'll remember: {clean}"
    return f"OK, I'll remember that {to_you(note)}."


def route(question: str) -> str | None:
    """"notes", "talk_summary", "heard_any", "speech", "sound", or None (a question about what was seen)."""
    if _NOTES_Q.search(question):
        return "notes"
    if _TALK_SUMMARY.search(question):
        return "talk_summary"
    if _HEARD_ANY.search(question):
        return "heard_any"
    if _TALK.search(question):
        return "speech"
    if kinds_asked(question) and _SOUND.search(question) and not _SEEN.search(question):
        return "sound"  # ("did you see people playing basketball?" asks what was seen)
    return None


def _who(item: HeardItem, names: dict[int, str] | None = None) -> str:
    """Who said it: "I" (the assistant), the voice's name ("you" for the owner, "Anna", "speaker 2")
    where the voice is known, else by role."""
    if item.speaker != "assistant" and names and item.voice in names:
        return names[item.voice]
    return {"user": "you", "assistant": "I", "background": "someone"}.get(item.speaker, "someone")


def voice_names(memory) -> dict[int, str]:
    """Voice id -> what it is called, of a live ``MemoryStore`` or of a memory's database read in place."""
    book = getattr(memory, "speakers", None) or SpeakerBook(SAME, memory)
    return {v.voice_id: v.label for v in book.voices()}


def _when(item: HeardItem, now: float, wall: float | None) -> str:
    return ago(now - item.start, None if wall is None else wall - (now - item.start))


def quote(item: HeardItem, now: float, wall: float | None, names: dict[int, str] | None = None) -> str:
    when = _when(item, now, wall)
    if item.kind == "note" and item.labels:  # a clean fact, already said to "you"; when, in the same sentence
        text = item.text.rstrip()
        stop = text[-1] if text[-1:] in ".!?。！？" else "."
        return f"{text.rstrip('.!?。！？')} (you told me {when}){stop}"
    if item.kind == "note" and item.language == "zh":
        return f"你让我记住：{item.text}（{when}）"
    if item.kind == "note":
        return f"You asked me to remember that {to_you(item.text)} ({when})."
    if item.kind == "sound":
        return f"I heard {_said(item)} {when}."
    return f'{when[0].upper()}{when[1:]}, {_who(item, names)} said: "{item.text}".'


def speech_facts(store: MemoryStore, question: str, now: float, wall: float | None,
                 since: float = float("-inf"), until: float = float("inf")) -> HeardFacts:
    # what people said (and what I said, when asked about me); not the user's questions to me
    mine = bool(re.search(r"\b(did|have) you (just )?(say|said|tell|told|mention)|\byou said\b|你说", question, re.I))
    speakers = ("background", "assistant") if mine else ("background",)
    asked = asked_voices(question, store.speakers)  # "did I say ...", "what did Anna say": whose words
    if asked.cannot:
        return HeardFacts("heard", asked.cannot, ())
    if asked.voices is not None:
        speakers = ("background", "user")
    names = voice_names(store)
    found = [(i, s) for i, s in store.heard.search(asked.topic or question, k=3, start=since, end=until,
                                                   speakers=speakers, voices=asked.voices) if s >= SPEECH_MIN]
    if not found and has_cjk(question):  # the text embedder is English-only: Chinese by shared words
        grams = _bigrams(question)
        scored = [(len(grams & _bigrams(i.text)), i) for i in store.heard.between(since, until, ("speech",))
                  if i.speaker in speakers and (asked.voices is None or i.voice in asked.voices)]
        found = [(i, 1.0) for n, i in sorted(scored, key=lambda x: -x[0])[:2] if n]
    if not found:
        m = re.search(r"\babout\s+(.+?)\W*$", question, re.I)
        topic = m.group(1) if m else " ".join(sorted(grounding_words(question))) or "that"
        who = {"you": "you", "": "anyone"}.get(asked.who, asked.who)
        return HeardFacts("heard", f"I haven't heard {who} say anything about {topic}.", ())
    best = [i for i, _ in found[:2]]
    zh = " ".join(_quote_zh(i, now, wall, names) for i in best) if has_cjk(question) else ""
    return HeardFacts("heard", " ".join(quote(i, now, wall, names) for i in best), tuple(best), zh)


def _quote_zh(item: HeardItem, now: float, wall: float | None, names: dict[int, str] | None) -> str:
    """What was said, for a Chinese question: in the words it was said in, not the 1.5B's
    translation of an English quote of it (有人说了什么关于跑步的话？ got "我听到了。")."""
    from .facts_zh import ago_zh

    who = _who(item, names)
    who = {"you": "你", "I": "我", "someone": "有人"}.get(who, re.sub(r"^speaker (\d+)$", r"说话人\1", who))
    text = item.text.strip()
    return f"{ago_zh(now - item.start, None if wall is None else wall - (now - item.start))}，{who}说：“{text}”。"


def grounding_words(question: str) -> set[str]:
    from ..memory.ranking import content_words

    return {w for w in content_words(question) if not _TALK.fullmatch(w)}


def sound_facts(store: MemoryStore, question: str, now: float, wall: float | None,
                since: float = float("-inf"), until: float = float("inf")) -> HeardFacts:
    kinds = kinds_asked(question)
    items = store.heard.sounds(kinds, since, until)
    if not items:
        what = " or ".join(("any " + k) if k in MASS_SOUNDS else ("a " + k) for k in sorted(kinds))
        return HeardFacts("heard", f"I haven't heard {what}.", ())
    last = items[-1]
    classes = {c for k in kinds for c in sound_kinds()[0].get(k, [])}
    asked = next((label for label in last.labels if label in classes), None)  # "a car horn", not "a vehicle"
    text = quote(dataclasses.replace(last, labels=(asked, *last.labels)) if asked else last, now, wall)
    if len(items) > 1:
        text += f" I heard it {len(items)} times in all; the first {_when(items[0], now, wall)}."
    return HeardFacts("heard", text, tuple(items[-3:]))


def note_facts(store: MemoryStore, question: str, now: float, wall: float | None, thing: str = "") -> HeardFacts | None:
    """A note that answers the question well, if one does. ``thing``: what a Chinese question asks
    about, in English (the text embedder's language; notes are mostly English)."""
    if has_cjk(question) and not thing:
        from .zh_english import nouns_in_english

        thing = nouns_in_english(question)
    asked = thing if thing and has_cjk(question) else question
    found = [(i, s) for i, s in store.heard.search(asked, k=1, kinds=("note",)) if s >= NOTE_MIN]
    if not found and has_cjk(question):  # the text embedder is English-only: Chinese by shared words
        grams = _bigrams(question)
        scored = [(len(grams & _bigrams(i.text)), i) for i in store.heard.between(kinds=("note",))]
        found = [(i, 1.0) for n, i in sorted(scored, key=lambda x: -x[0])[:1] if n]
    if not found:
        return None
    item = found[0][0]
    zh = ""
    if has_cjk(question):  # the note in the words it was kept in: the 1.5B said "Tuesday" as "明天"
        from .facts_zh import ago_zh

        text = item.text.rstrip()
        zh = f"你{ago_zh(now - item.start, None if wall is None else wall - (now - item.start))}让我记住：{text}" + \
            ("" if text[-1:] in ".!?。！？" else "。")
    return HeardFacts("heard", quote(item, now, wall), (item,), zh)


_ZH_FUNCTION = set("我你他她它的了吗呢在是有哪里什么怎么吧啊呀")


def _bigrams(text: str) -> set[str]:
    """Chinese character pairs that carry content (not "我的", "在哪")."""
    chars = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    return {a + b for a, b in zip(chars, chars[1:]) if not (a in _ZH_FUNCTION or b in _ZH_FUNCTION)}


def around_sighting(store: MemoryStore, visual, question: str, snapshot, now: float,
                    wall: float | None) -> HeardFacts | None:
    """"What did he say when the dog came in?": speech around the first sighting of the dog."""
    from ..memory.store import recall

    m = _WHEN_SEEN.search(question)
    if not m:
        return None
    seen = sightings(recall(store, visual, m.group(1), 12, snapshot), m.group(1))
    if not seen:
        return HeardFacts("heard", f"I haven't seen a {m.group(1)}, so I can't say what was said then.", ())
    t = min(c.start for c in seen)
    near = sorted(store.heard.between(t - AROUND_S, t + AROUND_S, ("speech",)), key=lambda i: abs(i.start - t))
    if not near:
        return HeardFacts("heard", f"I saw the {m.group(1)} {ago(now - t)}, but I heard nobody talk then.", ())
    return HeardFacts("heard", f"When the {m.group(1)} came, " + quote(near[0], now, wall), (near[0],))


def talk_summary_facts(store: MemoryStore, now: float, wall: float | None, since: float, until: float,
                       span: str) -> HeardFacts:
    """The transcript of [since, until] as timed lines, for the LLM to summarise; a long range is
    sampled evenly down to ``SUMMARY_CHARS`` so the cost stays bounded."""
    items = store.heard.between(since, until, ("speech",))
    items = [i for i in items if i.speaker == "background"]  # talk among people, not questions to me
    if not items:
        return HeardFacts("talk_summary", f"I haven't heard anyone talk {span or 'yet'}.", ())
    names = voice_names(store)
    lines = [f"[{_when(i, now, wall)}] {_who(i, names)}: {i.text}" for i in items]
    episodes = [e for e in store.heard.episodes if e[1] >= since and e[0] <= until]
    if _chars(lines) > SUMMARY_CHARS and episodes:  # hours of talk: its episodes' summaries, then the rest
        covered = episodes[-1][1]
        head = _fit([f"[{ago(now - e[0])}, {e[2]} utterances] {e[3]}" for e in episodes],
                    2 * SUMMARY_CHARS // 3)
        tail = [f"[{_when(i, now, wall)}] {_who(i, names)}: {i.text}" for i in items if i.start > covered]
        lines = head + _fit(tail, SUMMARY_CHARS - _chars(head))
    else:
        lines = _fit(lines, SUMMARY_CHARS)
    return HeardFacts("talk_summary", "\n".join(lines), tuple(items))


def _chars(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fit(lines: list[str], budget: int) -> list[str]:
    """Lines sampled evenly (first and last kept) to fit ``budget`` characters."""
    if _chars(lines) <= budget or len(lines) <= 2:
        return lines
    n = max(2, budget * len(lines) // _chars(lines))
    return [lines[i] for i in sorted(set(np.linspace(0, len(lines) - 1, num=n).astype(int).tolist()))]


def facts_for(store: MemoryStore, visual, question: str, parsed: Question, snapshot, now: float,
              wall: float | None) -> HeardFacts | None:
    """Heard facts for a question routed to what was heard, or a matching note; None: ask what was seen."""
    since = now - parsed.window_s if parsed.window_s else float("-inf")
    until = now - parsed.until_s
    kind = route(question)
    if kind == "talk_summary":
        span = span_of(parsed) if parsed.window_s or parsed.period else ""
        return talk_summary_facts(store, now, wall, since, until, span)
    if kind == "speech":
        return around_sighting(store, visual, question, snapshot, now, wall) or \
            speech_facts(store, question, now, wall, since, until)
    if kind == "sound":
        return sound_facts(store, question, now, wall, since, until)
    if kind == "heard_any":  # "what sounds did you hear?": the sounds, not what people said
        sounds = bool(_SOUNDS_ONLY.search(question))
        return recent_facts(store, now, wall, since, until, ("sound",) if sounds else ("speech", "sound"))
    if kind == "notes":
        notes = store.heard.between(since, until, ("note",))[-3:]
        if not notes:
            return HeardFacts("heard", "You haven't asked me to remember anything.", ())
        return HeardFacts("heard", " ".join(quote(i, now, wall) for i in notes), tuple(notes))
    return note_facts(store, question, now, wall, parsed.thing)


def recent_facts(store: MemoryStore, now: float, wall: float | None, since: float, until: float,
                 kinds: tuple[str, ...] = ("speech", "sound")) -> HeardFacts:
    """"What did you hear?": the latest sounds and what people said (not questions to me)."""
    items = [i for i in store.heard.between(since, until, kinds) if i.speaker in ("background", "")]
    if not items:
        return HeardFacts("heard", "I haven't heard any sounds yet." if kinds == ("sound",) else
                          "I haven't heard anything yet.", ())
    if kinds == ("sound",):
        return _sounds_heard(items, now, wall)
    last, said = [], set()  # the latest of each different thing (a sound heard ten times is said once)
    for i in reversed(items):
        key = (i.kind, _said(i) if i.kind == "sound" else i.text)
        if key not in said:
            said.add(key)
            last.append(i)
        if len(last) == RECENT:
            break
    last.reverse()
    return HeardFacts("heard", " ".join(quote(i, now, wall) for i in last), tuple(last))


def _said(item: HeardItem) -> str:
    return sound_said(item.labels[0]) if item.labels else item.text


def _sounds_heard(items: list[HeardItem], now: float, wall: float | None) -> HeardFacts:
    """"What sounds have you heard?": the clearest different sounds (the tagger's surest moment of
    each, in time order) in one sentence; the latest four were mostly the room's wind and hum."""
    best: dict[str, HeardItem] = {}
    for i in items:
        if _said(i) not in best or i.score > best[_said(i)].score:
            best[_said(i)] = i
    top = sorted(sorted(best.values(), key=lambda i: -i.score)[:RECENT_SOUNDS], key=lambda i: i.start)
    heard = [f"{_said(i)} {_when(i, now, wall)}" for i in top]
    listed = heard[0] if len(heard) == 1 else f"{', '.join(heard[:-1])} and {heard[-1]}"
    return HeardFacts("heard", f"I heard {listed}.", tuple(top))


def recall_heard(store: MemoryStore, question: str, k: int) -> list[tuple[HeardItem, float]]:
    """What was heard that a question is about (``omnilive recall``, ``/api/memory?q=``): the
    sounds it names, or what was said and noted, best first."""
    kinds = kinds_asked(question)
    if kinds and route(question) != "speech":
        return [(i, i.score) for i in store.heard.sounds(kinds)[::-1][:k]]
    if route(question) == "heard_any":
        return [(i, 1.0) for i in store.heard.between(kinds=("speech", "sound"))[::-1][:k]]
    return store.heard.search(question, k=k, speakers=("background", "assistant", "user"))


def heard_row(item: HeardItem, score: float | None = None, names: dict[int, str] | None = None) -> dict:
    """A heard item as JSON (recall, /api/memory, the page's timeline); ``names``: voice_names()."""
    return {"id": item.item_id, "start": round(item.start, 3), "end": round(item.end, 3), "kind": item.kind,
            "text": item.text, "labels": list(item.labels), "speaker": item.speaker, "voice": item.voice,
            "voice_name": (names or {}).get(item.voice, "") if item.speaker != "assistant" else "",
            "score": round(item.score if score is None else score, 4), "language": item.language}
