"""Say what was seen as a person would: "an apple", not "a Granny Smith"; "a butterfly", not "a
lycaenid".

The embedded encoder's labels are ImageNet-1k class names, many of them specialist words. Each
label is said by the first *basic-level* word (Rosch's "dog", "apple", "car": the word people
use to name a thing) on its WordNet hypernym chain (``omnilive/data/imagenet_hypernyms.tsv``),
unless the label itself is a familiar word (word frequency from ``wordfreq``, Zipf >= 3.2), in
which case the specific word is kept ("a hammer", "a tabby cat"). Labels of another encoder
(CLIP vocabularies, OCR "text") pass through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

FAMILIAR_ZIPF = 3.2  # "monarch" 3.4, "hammer" 4.0; "lycaenid" 0, "Pekinese" 1.3, "Granny Smith" 2.6

# Basic-level names: the first of these on a label's hypernym chain is what a person calls it.
BASIC = frozenset("""
dog cat bird fish shark ray snake lizard turtle frog salamander crocodile alligator dinosaur spider scorpion
insect butterfly moth bee ant beetle fly grasshopper cricket dragonfly crab lobster shrimp snail slug worm
jellyfish starfish coral squirrel rabbit hare mouse rat hamster monkey ape gorilla chimpanzee bear panda
wolf fox lion tiger leopard elephant horse zebra pig cow ox sheep goat deer camel giraffe kangaroo koala
whale dolphin seal otter beaver hedgehog bat owl eagle hawk parrot duck goose swan chicken penguin
apple orange lemon banana pineapple strawberry fig pomegranate melon mushroom vegetable fruit flower
bread cake pizza sandwich soup salad dessert chocolate coffee tea wine beer drink dish meal
car truck bus van train bicycle motorcycle scooter boat ship airplane aircraft helicopter rocket tractor
chair table desk bed sofa couch bench cabinet shelf bookcase wardrobe lamp clock watch mirror
cup mug glass bottle jar pot pan bowl plate spoon fork knife kettle teapot basket bag box package
computer laptop keyboard mouse monitor screen television phone telephone camera radio speaker microphone
printer calculator
shirt dress skirt coat jacket sweater trousers jeans shoe boot sock hat cap helmet glove scarf tie
belt umbrella necklace bracelet ring glasses sunglasses mask
ball toy doll kite puzzle book envelope paper pen pencil brush
hammer screwdriver wrench saw drill shovel tool ladder
guitar piano violin drum trumpet horn flute harp instrument
house building church tower bridge fence wall door window gate roof shop restaurant
bandage candle bathtub toilet sink towel soap toothbrush
""".split()) | {"ice cream", "bottle cap", "remote control", "musical instrument", "teddy bear", "traffic light",
               "washing machine", "water bottle", "wine bottle", "beer bottle"}

# Where a hypernym chain uses a less usual word for the basic one
_ALIASES = {"trouser": "trousers", "jean": "jeans", "timepiece": "clock", "canine": "dog",
            "feline": "cat", "edible fruit": "fruit", "cruciferous vegetable": "vegetable", "adhesive bandage": "bandage",
            "motor vehicle": "car", "public transport": "bus", "heavier-than-air craft": "airplane",
            "lighter-than-air craft": "airship", "baked goods": "bread", "loaf of bread": "bread",
            "projectile": "missile"}  # ImageNet's "projectile, missile" synset

# Things named in the plural by a person ("jeans"), and mass words said with "some"
_PLURALS = {"people", "children", "men", "women", "jeans", "trousers", "glasses", "sunglasses", "binoculars", "scissors", "shorts", "pajamas", "pants"}
_MASS = {"text", "coffee", "tea", "bread", "ice cream", "chocolate", "soup", "salad", "hay", "grass", "water"}


@dataclass(frozen=True, slots=True)
class Name:
    said: str  # how the thing is said ("apple", "butterfly", "tabby cat")
    kind: str  # its basic-level word ("apple", "butterfly", "cat"), or the label itself
    label: str  # the encoder's own label


@lru_cache(maxsize=1)
def _chains() -> dict[str, list[str]]:
    classes = resources.files("omnilive.data").joinpath("imagenet_classes.txt").read_text().splitlines()
    rows = resources.files("omnilive.data").joinpath("imagenet_hypernyms.tsv").read_text().splitlines()
    chains: dict[str, list[str]] = {}
    for row in rows:
        idx, _, chain = row.partition("\t")
        if idx.isdigit() and int(idx) < len(classes):
            chains.setdefault(classes[int(idx)], [h for h in chain.split(";") if h])
    return chains


@lru_cache(maxsize=4096)
def familiar(word: str) -> bool:
    """Is ``word`` one a person would say (Zipf frequency in English >= FAMILIAR_ZIPF)?"""
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # pragma: no cover - a dependency; without it, specific words are avoided
        return False
    return zipf_frequency(word.lower(), "en") >= FAMILIAR_ZIPF


def hypernyms(label: str) -> list[str]:
    """What an ImageNet label is a kind of, nearest first ([] for any other label)."""
    return _chains().get(label, [])


def _basic(word: str) -> str | None:
    w = _ALIASES.get(word.lower(), word.lower())
    if w in BASIC:
        return w
    head = w.split()[-1] if " " in w else None  # "sports car" -> car, "cabbage butterfly" -> butterfly
    return head if head in BASIC else None


@lru_cache(maxsize=4096)
def name_of(label: str) -> Name:
    chain = _chains().get(label)
    if chain is None:  # not an ImageNet class (CLIP vocabulary, OCR "text"): as it is
        return Name(label, label, label)
    kind = _basic(label) or next((b for h in chain if (b := _basic(h))), None)
    if label.lower() in _ALIASES:
        return Name(_ALIASES[label.lower()], kind or label, label)  # "jean" -> "jeans"
    if kind is None:
        return Name(label, label, label)
    brand = label[:1].isupper() and kind not in label.lower()  # "Granny Smith", "Band Aid", "German shepherd"
    if kind == label.lower() or not familiar(label) or brand:
        said = kind  # "lycaenid" -> "butterfly", "Granny Smith" -> "apple"
    elif "animal" in chain and " " not in label and kind not in label.lower():
        said = f"{label} {kind}"  # "monarch butterfly"
    else:
        said = label  # "hammer", "bell pepper", "Egyptian cat"
    return Name(said, kind, label)


def label_said(label: str) -> str:
    """A label as a person says it ("Granny Smith" -> "apple")."""
    return name_of(label).said


def with_article(thing: str, asked: bool = False) -> str:
    """"a cat", "an apple", "some coffee"; "my keys", "the cup" as they are. ``asked``: the
    user's own words, where a final "s" is their plural ("hats"); a label's "bus" is singular."""
    if re.match(r"(my|the|a|an|any|some|your|his|her|their|our)\b", thing, re.I):
        return thing
    if thing.lower() in _PLURALS or (asked and thing.endswith("s") and not thing.endswith(("ss", "us"))):
        return thing
    if thing.lower() in _MASS:
        return "some " + thing
    return ("an " if thing[:1].lower() in "aeiou" else "a ") + thing
