"""The facts of one frame: detected objects with their confidence, colour and source, the frame's main
colours, and spatial relations between the objects.

Everything here is measured: a colour is named only when the pixels support it (one named colour
holds a clear majority of the measured pixels), a relation only when the boxes leave no doubt. "" or
an absent fact means "not known", never a guess, so an answer built on a Scene can say what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import ObjectDetector

# colour names; a pixel gets one of them (_pixel_names), a crop the dominant one (colour_name)
NAMES = ("black", "grey", "white", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige")
ACHROMATIC = 3  # NAMES[:3] carry no hue
BLACK, GREY, WHITE, RED, ORANGE, YELLOW, GREEN, BLUE, PURPLE, PINK, BROWN, BEIGE = range(len(NAMES))

MIN_PIXELS = 64  # fewer measured pixels than this: no colour
HUE_SHARE = 0.15  # a hue is named when it covers this share of the measured pixels ...
HUE_DOMINANCE = 0.6  # ... this share of the coloured ones, and this fraction of the top neutral's
NEUTRAL_SHARE = 0.6  # otherwise black / grey / white must cover this share (a clear majority)
SILVER_SPREAD = 0.12  # a grey whose brightness varies this much (std, 0..1) is a sheen: silver
GRAY_CHROMA = 10  # 99th percentile of max-min channel difference (0..255) at most this: grayscale
SCENE_SHARE = 0.15  # a colour covering at least this share of the frame is one of its main colours
SAMPLE = 4096  # pixels measured per crop (a strided subsample): shares to about +-1.5 %
CENTRE = 0.6  # the measured part of an object's box: its central 60 % in each direction
SURROUND = 0.2  # the band around a box, in box sizes, that shows its background
# classes whose box centre shows something else than their own colour: people (clothes, skin, what
# is behind them), open containers seen from above (their contents: the coffee, not the cup), screens
# (the picture). Measured, the coffee photo's red-brown cup came out "orange" (its crema), the kids'
# room's black TV "grey" (its screen) and the bus passenger in black "blue" (the bus behind him).
NO_COLOUR = frozenset({"person", "cup", "bowl", "wine glass", "tv", "laptop", "cell phone"})


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees, value, chroma and saturation (all 0..1 but hue) of (n, 3) RGB pixels."""
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(axis=1), x.min(axis=1)
    chroma = mx - mn
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    sat = np.where(mx > 0, chroma / np.where(mx > 0, mx, 1.0), 0.0)
    return hue, mx, chroma, sat


def _pixel_names(rgb: np.ndarray) -> np.ndarray:
    """Index into NAMES for each of (n, 3) RGB pixels, by the hue/brightness bands a person uses:
    dark is black whatever its hue, faint hue is black/grey/white, darker orange is brown (the
    coffee photo's wooden table, v 0.54-0.71, against the astronaut's orange suit, v 0.81), pale
    orange-yellow is beige, pale red is pink."""
    h, v, c, s = _hsv(rgb)
    out = np.select(
        [h < 12, h < 40, h < 68, h < 170, h < 255, h < 290, h < 340],
        [RED, ORANGE, YELLOW, GREEN, BLUE, PURPLE, PINK], RED)
    warm = (h >= 12) & (h < 52)
    out = np.where(warm & (v < 0.7), BROWN, out)
    out = np.where(warm & (s < 0.4) & (v >= 0.7), BEIGE, out)
    out = np.where(((h < 12) | (h >= 340)) & (s < 0.45) & (v > 0.7), PINK, out)
    out = np.where((h >= 290) & (h < 340) & (v < 0.5), PURPLE, out)
    neutral = (c < 0.08) | (s < 0.18)
    out = np.where(neutral, np.select([v < 0.3, v >= 0.85], [BLACK, WHITE], GREY), out)
    return np.where(v < 0.2, BLACK, out)


def _sample(pixels: np.ndarray, n: int = SAMPLE) -> np.ndarray:
    """About ``n`` pixels of an (H, W, 3) image on a regular grid (or of (m, 3) pixels), as (k, 3)."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim == 3:
        step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / n)))
        pixels = pixels[::step, ::step]
    flat = pixels.reshape(-1, 3)
    return flat[:: max(1, len(flat) // n)]


def _shares(names: np.ndarray) -> np.ndarray:
    return np.bincount(names, minlength=len(NAMES)) / max(len(names), 1)


def colour_name(rgb_pixels: np.ndarray, background: np.ndarray | None = None) -> str:
    """The colour a person would call these RGB pixels (any shape ending in 3), or "" when they do not
    say it clearly (too few, several colours, a black-and-white pattern).

    ``background``: pixels from around the object; a colour as common there as on the object is
    background showing through (the garage's wooden bench behind the motorcycle) and cannot win.
    A hue wins over black/grey/white when it is common enough: a red motorcycle is red although
    its tyres and engine are black. Mostly neutral pixels, grey first, whose brightness spreads widely
    (reflections) are silver."""
    pix = _sample(rgb_pixels)
    if len(pix) < MIN_PIXELS:
        return ""
    names = _pixel_names(pix)
    shares = _shares(names)
    own = shares.copy()
    if background is not None and len(bg := _sample(background)) >= MIN_PIXELS:
        own[shares <= _shares(_pixel_names(bg))] = 0.0
    hue = int(np.argmax(own[ACHROMATIC:])) + ACHROMATIC
    neutral = int(np.argmax(own[:ACHROMATIC]))
    if own[hue] >= HUE_SHARE and own[hue] >= HUE_DOMINANCE * max(own[ACHROMATIC:].sum(), own[neutral]):
        return NAMES[hue]
    if (neutral == GREY and own[:ACHROMATIC].sum() >= NEUTRAL_SHARE
            and _hsv(pix[names == GREY])[1].std() >= SILVER_SPREAD):
        return "silver"  # metal reflects dark to bright: the neutrals together, grey first, spread wide
    return NAMES[neutral] if own[neutral] >= NEUTRAL_SHARE else ""


def is_grayscale(image: np.ndarray) -> bool:
    """No colour information at all: a 2-D image, or R, G and B equal up to compression noise."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return True
    pix = _sample(image, 16384).astype(np.int16)
    chroma = pix.max(axis=1) - pix.min(axis=1)
    return float(np.percentile(chroma, 99)) <= GRAY_CHROMA


def _pixel_box(image: np.ndarray, box, grow: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel bounds of a normalised box grown (or shrunk, grow < 0) by ``grow`` box sizes per side."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
    return (max(0, int((x0 - dx) * w)), max(0, int((y0 - dy) * h)),
            min(w, int(np.ceil((x1 + dx) * w))), min(h, int(np.ceil((y1 + dy) * h))))


def crop(image: np.ndarray, box: tuple[float, float, float, float], keep: float = CENTRE) -> np.ndarray:
    """The central ``keep`` part of a normalised box: an object's box has background in its corners
    and along its edges, its middle is mostly the object."""
    x0, y0, x1, y1 = _pixel_box(image, box, -(1 - keep) / 2)
    return image[y0:y1, x0:x1]


def surround(image: np.ndarray, box: tuple[float, float, float, float], margin: float = SURROUND) -> np.ndarray:
    """(n, 3) pixels of the band around a box (inside the frame): what the object stands against."""
    X0, Y0, X1, Y1 = _pixel_box(image, box, margin)
    x0, y0, x1, y1 = _pixel_box(image, box)
    step = max(1, int(np.sqrt((X1 - X0) * (Y1 - Y0) / SAMPLE)))
    ys, xs = np.mgrid[Y0:Y1:step, X0:X1:step]
    outside = (xs < x0) | (xs >= x1) | (ys < y0) | (ys >= y1)
    return image[ys[outside], xs[outside]]


def object_colour(image: np.ndarray, label: str, box: tuple[float, float, float, float]) -> str:
    """An object's colour from the middle of its box against its surroundings ("" for NO_COLOUR)."""
    return "" if label in NO_COLOUR else colour_name(crop(image, box), surround(image, box))


def main_colours(image: np.ndarray, limit: int = 3) -> tuple[str, ...]:
    """Colours covering at least SCENE_SHARE of the frame, most area first."""
    shares = _shares(_pixel_names(_sample(image, 16384)))
    order = [i for i in np.argsort(shares)[::-1][:limit] if shares[i] >= SCENE_SHARE]
    return tuple(NAMES[i] for i in order)


# relations ------------------------------------------------------------------------------------------

SURFACES = frozenset({"dining table", "bed", "couch", "bench", "chair"})  # things are put on these
GROUNDED = frozenset({  # stand on the ground: lower feet in the picture means nearer the camera
    "person", "bicycle", "car", "motorcycle", "bus", "train", "truck", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "dog"})
RELATION_SCORE = 0.6  # objects below this confidence take part in no relation (the coins' "bowl" 0.556)
ON_UPPER = 2 / 3  # "on": the object's bottom edge lies in this upper part of the surface's box
ON_INSIDE = 0.8  # ... and this share of its width lies over the surface
ON_AREA = 0.5  # ... and it is at most this share of the surface's area
SIDE_OVERLAP = 0.3  # left/right: their heights overlap by this share of the shorter one ...
SIDE_GAP = 0.0  # ... and they do not overlap horizontally
FRONT_DEPTH = 0.05  # in front: the bottom edge lies this much (frame heights) lower, boxes overlapping
MAX_RELATIONS = 12


def _width(b) -> float:
    return b[2] - b[0]


def _height(b) -> float:
    return b[3] - b[1]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _on(a: "SeenObject", s: "SeenObject") -> bool:
    """a rests on surface s: its bottom edge in the upper part of s's box, over s, and smaller."""
    if s.label not in SURFACES or a.label in SURFACES or a.label == "person":
        return False
    (ax0, _, ax1, ay1), (sx0, sy0, sx1, sy1) = a.box, s.box
    return (sy0 <= ay1 <= sy0 + ON_UPPER * (sy1 - sy0)
            and _overlap(ax0, ax1, sx0, sx1) >= ON_INSIDE * _width(a.box)
            and _width(a.box) * _height(a.box) <= ON_AREA * _width(s.box) * _height(s.box))


def _left_of(a: "SeenObject", b: "SeenObject") -> bool:
    """a is left of b in the frame: side by side (heights overlap) with a gap between them."""
    if a.label == b.label:
        return False  # "the person is left of the person" says nothing
    (_, ay0, ax1, ay1), (bx0, by0, _, by1) = a.box, b.box
    return bx0 - ax1 > SIDE_GAP and _overlap(ay0, ay1, by0, by1) >= SIDE_OVERLAP * min(ay1 - ay0, by1 - by0)


def _in_front(a: "SeenObject", b: "SeenObject") -> bool:
    """a stands in front of b: both stand on the ground, a's box overlaps b's and its bottom edge
    (where it touches the ground) is clearly lower in the frame, so nearer the camera."""
    if a.label not in GROUNDED or b.label not in GROUNDED or a.label == b.label:
        return False
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box, b.box
    centre = (ax0 + ax1) / 2
    return bx0 <= centre <= bx1 and _overlap(ay0, ay1, by0, by1) > 0 and ay1 - by1 >= FRONT_DEPTH


# COCO names as a person says them
COCO_SAID = {"tv": "television", "cell phone": "phone", "dining table": "table", "sports ball": "ball",
              "potted plant": "potted plant", "hair drier": "hair dryer", "couch": "sofa"}


def coco_said(label: str) -> str:
    """A COCO name as a person says it ("tv" -> "television", "dining table" -> "table")."""
    return COCO_SAID.get(label, label)


@dataclass(frozen=True, slots=True)
class SeenObject:
    label: str  # COCO name: "car", "cup", "person"
    score: float  # detector confidence
    box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1
    colour: str = ""  # named from its pixels ("silver", "red"); "" when not measurable
    source: str = "detector"

    def to_json(self) -> dict:
        d = {"label": self.label, "score": round(self.score, 2), "box": [round(v, 3) for v in self.box]}
        if self.colour:
            d["colour"] = self.colour
        if self.source != "detector":
            d["source"] = self.source
        return d

    @classmethod
    def from_json(cls, d: dict) -> "SeenObject":
        return cls(d["label"], float(d["score"]), tuple(float(v) for v in d["box"]),
                   d.get("colour", ""), d.get("source", "detector"))


@dataclass(frozen=True, slots=True)
class Scene:
    objects: tuple[SeenObject, ...] = ()
    colours: tuple[str, ...] = ()  # the scene's main colours, most area first (at most 3)
    grayscale: bool = False  # no colour information at all

    @property
    def people(self) -> int:
        return sum(o.label == "person" for o in self.objects)

    def relations(self) -> list[str]:
        """Spatial facts between confident objects, from their boxes: "the cup is on the dining
        table", "the cup is left of the laptop", "the person is in front of the bus". Left and right
        are the frame's. Holding is not claimed: a small box inside a person's box may as well be
        behind or in front of them, which boxes cannot tell."""
        sure = [o for o in self.objects if o.score >= RELATION_SCORE]
        found: list[str] = []
        for a in sure:
            for b in sure:
                if a is b:
                    continue
                if _on(a, b):
                    found.append(f"the {a.label} is on the {b.label}")
                elif _in_front(a, b):
                    found.append(f"the {a.label} is in front of the {b.label}")
                elif _left_of(a, b):
                    found.append(f"the {a.label} is left of the {b.label}")
        return list(dict.fromkeys(found))[:MAX_RELATIONS]

    def to_json(self) -> dict:
        d: dict = {"objects": [o.to_json() for o in self.objects]}
        if self.colours:
            d["colours"] = list(self.colours)
        if self.grayscale:
            d["grayscale"] = True
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Scene":
        return cls(tuple(SeenObject.from_json(o) for o in d.get("objects", ())),
                   tuple(d.get("colours", ())), bool(d.get("grayscale", False)))


def describe(image: np.ndarray, detector: ObjectDetector) -> Scene:
    """Detect the objects of an RGB frame and measure their colours and the frame's."""
    grey = is_grayscale(image)
    objects = tuple(
        SeenObject(d.label, d.score, d.box, "" if grey else object_colour(image, d.label, d.box))
        for d in detector.detect(image))
    return Scene(objects, () if grey else main_colours(image), grey)
