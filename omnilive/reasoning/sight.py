"""What a moment shows, as facts an answer may say, each as sure as its evidence.

A moment (clip or episode) carries two kinds of sight: the object detector's boxes (COCO names,
with colours measured from their pixels: perception/scene.py) and the classifier's labels with
their probabilities (ImageNet). Both are wrong sometimes, so each thing is said as sure as its
evidence: a confident box or label as a fact ("a red motorcycle"), a weaker one as a guess
("something like a drilling platform"), a weak label not at all. ``recognisable`` tells whether
the perception could have seen a thing at all: "No, I haven't seen a painting" is only true of
something it has a word for; for the rest the answer says it cannot recognise them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..events import GroundedClip
from ..memory.ranking import content_words
from ..perception.scene import NAMES as COLOURS, coco_said
from .words import hypernyms, name_of, with_article

SURE_P = 0.5  # a classifier label this probable is said as a fact (espresso 0.90, tripod 0.94) ...
GUESS_P = 0.15  # ... this probable as a guess (drilling platform 0.42 for a rocket); below it, left out
SURE_SCORE = 0.7  # a detection this confident is a fact; weaker ones (down to detector.min_score) guesses
PEOPLE = {"people", "person", "man", "men", "woman", "women", "child", "children", "kid", "kids", "boy", "girl",
           "someone", "somebody", "anyone", "anybody", "pedestrian", "guy", "lady"}
ATTRIBUTE_WORDS = set(COLOURS) | {"silver", "gold", "colour", "color", "coloured", "colored", "big", "small", "little",
                                  "large", "old", "new"}
_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


@dataclass(frozen=True, slots=True)
class Thing:
    """One thing a moment shows, as it may be said."""

    name: str  # as a person says it: "car", "table", "tabby cat"
    kind: str  # its basic word, for "is this what was asked?" and de-duplication
    sure: bool  # a fact, or a guess
    count: int = 1
    colour: str = ""
    source: str = "classifier"  # "detector" | "classifier" | "text"
    label: str = ""  # the model's own label


def things_in(c: GroundedClip, min_p: float = GUESS_P) -> list[Thing]:
    """The things of a moment, sure ones first: the detector's (one per label, counted, with the
    colour most of them have), then the classifier's labels it did not already name."""
    things: list[Thing] = []
    scores: dict[str, float] = {}  # the detector's best score per label
    if c.scene is not None:  # the biggest in view first: the bus, then the people in front of it
        area = {}
        for o in c.scene.objects:
            area[o.label] = max(area.get(o.label, 0.0), (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
        for label in sorted(area, key=lambda k: -area[k]):
            mine = [o for o in c.scene.objects if o.label == label]
            sure = [o for o in mine if o.score >= SURE_SCORE]
            colours = [o.colour for o in mine if o.colour]
            colour = max(set(colours), key=colours.count) if colours and colours.count(colours[0]) * 2 > len(mine) else ""
            said = coco_said(label)
            things.append(Thing(said, said.split()[-1], bool(sure), len(mine), colour, "detector", label))
            scores[label] = max(o.score for o in mine)
    probs = dict(c.concepts)
    of_kind: dict[str, float] = {}  # P(a kind) = the sum over its classes: tabby 0.38 + tiger cat 0.16 + ... = cat
    for label, p in c.concepts:
        if label != "text":
            of_kind[name_of(label).kind] = of_kind.get(name_of(label).kind, 0.0) + p
    for label in c.labels:
        if label == "text":
            continue
        p = of_kind.get(name_of(label).kind, 0.0) if probs else SURE_P  # (memory without probabilities: as before, sure)
        if p < min_p:
            continue
        name = name_of(label)
        same = [i for i, t in enumerate(things) if _same_kind(name.kind, name.said, label, t)]
        for i in same:  # two models agree (a detected "bus", a "minibus" label): no longer a guess
            things[i] = dataclasses.replace(things[i], sure=True)
        if same:
            continue
        rival = _rival(label, p, things, scores)
        if rival == "detector":
            things = [t for t in things if not (t.source == "detector" and _category(t.label) == _category_of(label))]
        elif rival == "classifier":
            continue
        things.append(Thing(name.said, name.kind, p >= SURE_P, source="classifier", label=label))
    return sorted(things, key=lambda t: not t.sure)  # (stable: the detector's first among equals)


# COCO's animals and vehicles: where the two models name one object differently (a horse
# silhouette the classifier calls "Mexican hairless", toy dinosaurs the detector calls "dog"),
# the more confident one names it
_COCO_CATEGORY = {**{k: "animal" for k in "bird cat dog horse sheep cow elephant bear zebra giraffe".split()},
                  **{k: "vehicle" for k in "bicycle car motorcycle airplane bus train truck boat".split()}}


def _category(coco_label: str) -> str | None:
    return _COCO_CATEGORY.get(coco_label)


def _category_of(label: str) -> str | None:
    chain = hypernyms(label)
    return "animal" if "animal" in chain else "vehicle" if any("vehicle" in h for h in chain) else None


def _rival(label: str, p: float, things: list[Thing], scores: dict[str, float]) -> str | None:
    """Which model loses when a classifier label and a detected object are rival names of one
    thing (same category, different kinds): "detector", "classifier", or None (no rivalry)."""
    cat = _category_of(label)
    rivals = [t for t in things if t.source == "detector" and cat is not None and _category(t.label) == cat]
    if not rivals:
        return None
    return "detector" if p > max(scores[t.label] for t in rivals) else "classifier"


def _same_kind(kind: str, said: str, label: str, t: Thing) -> bool:
    """Is a classifier label the same thing as ``t`` (an "Egyptian cat" and a detected "cat")?"""
    words = content_words(" ".join([kind, said, *hypernyms(label)[:4]]))
    return bool(words & content_words(f"{t.name} {t.kind} {t.label}"))


def said(t: Thing, colour: bool = False) -> str:
    """"a car" ("a silver car" with ``colour``: a measured colour is said only when asked, as it
    is the least sure part), "three people", "something like a bobsled"."""
    if t.label == "person":
        what = "a person" if t.count == 1 else f"{number(t.count)} people"
    else:
        base = f"{t.colour} {t.name}" if t.colour and colour else t.name
        what = with_article(base) if t.count == 1 else f"{number(t.count)} {plural(base)}"
    return what if t.sure else f"something like {what}"


def says(things: Iterable[Thing], n: int = 3) -> str:
    """A short list: "a cup, a bowl and a table"."""
    parts = [said(t) for t in list(things)[:n]]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@dataclass(frozen=True)
class _Vocabulary:
    words: frozenset[str]  # every word of every name
    heads: frozenset[str]  # the words a name ends with: what it is ("terrier" of "toy terrier")
    names: tuple[frozenset[str], ...]  # each name's words


@lru_cache(maxsize=4)
def _vocabulary(names: tuple[str, ...]) -> _Vocabulary:
    from ..backends.detect_ssd import coco_labels

    phrases = [n for label in names for n in (label, *hypernyms(label))]
    phrases += [n for label in coco_labels().values() for n in (label, coco_said(label))]
    phrases += "text writing words sign page document letters".split() + sorted(PEOPLE)
    named = [ws for n in phrases if (ws := _words(n))]
    return _Vocabulary(frozenset(w for ws in named for w in ws), frozenset(ws[-1] for ws in named),
                       tuple(frozenset(ws) for ws in named))


def _words(phrase: str) -> list[str]:
    """The content words of ``phrase`` in order, stemmed as ``content_words`` does."""
    return [w for t in re.findall(r"[a-z0-9]+", phrase.lower()) for w in content_words(t)]


def recognisable(thing: str, visual) -> bool:
    """Could the perception have seen ``thing``? A name in the classifier's vocabulary (labels and
    what they are kinds of), the detector's or OCR's must end with its kind ("hats": "cowboy hat"),
    and each word before that must be a kind too ("coffee cup"), share a name with it ("water
    bottle") or be able to be an adjective ("mobile phone"). "toy" is in "toy terrier" and "track"
    in "half track", yet no name is a toy train track. After "of" ("a cup of coffee") words need
    only be named somewhere. An encoder without a fixed vocabulary (CLIP) recognises anything."""
    names = getattr(visual, "concept_names", None)
    if not names:
        return True
    vocab = _vocabulary(tuple(names))
    words = [w for w in _words(thing) if w not in ATTRIBUTE_WORDS and _noun(w)]
    if not set(words) <= vocab.words:
        return False
    tokens = re.findall(r"[a-z0-9]+", thing.lower())
    before_of = _words(" ".join(tokens[:tokens.index("of")])) if "of" in tokens[1:] else None
    main = [w for w in words if before_of is None or w in before_of] or words
    if not main:
        return True
    head = main[-1]
    return head in vocab.heads and all(
        w in vocab.heads or _adjective(w) or any({w, head} <= name for name in vocab.names) for w in main[:-1])


def _adjective(word: str) -> bool:
    """Can ``word`` say what a thing is like ("mobile" phone, "tabby" cat)? Then it does not name it."""
    from lemminflect import getAllLemmas

    return "ADJ" in getAllLemmas(word)


def _noun(word: str) -> bool:
    """Can ``word`` name a thing ("ask" cannot: "what did I ask you?" asks about no thing)?"""
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word)
    return not lemmas or "NOUN" in lemmas or "PROPN" in lemmas


def matching(c: GroundedClip, thing: str) -> list[Thing]:
    """The things of ``c`` that ``thing`` names (by their name, kind or what they are a kind of)."""
    asked = content_words(thing) - ATTRIBUTE_WORDS
    if not asked:
        return []
    out = []
    for t in things_in(c, min_p=GUESS_P):
        words = content_words(" ".join([t.name, t.kind, t.label, *hypernyms(t.label)]))
        if t.label == "person":
            words |= content_words(" ".join(PEOPLE))
        if asked & words:
            out.append(t)
    return out


def names_of(item) -> list[str]:
    """What the page and the conversation log show for a moment (a clip, episode or alert): its
    things as they would be said ("a silver car", "something like a modem"); an alert's labels
    as they are."""
    if not hasattr(item, "concepts"):
        return [name_of(label).said for label in item.labels]
    return [said(t) for t in things_in(item)] or (["some text"] if item.text else [])
