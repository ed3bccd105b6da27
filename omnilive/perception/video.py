"""Frame sampling by stream timestamps (not by an assumed frame rate) and frame validation."""

from __future__ import annotations

import math

import numpy as np

MIN_SIDE, MAX_SIDE = 16, 4096


class FrameSampler:
    """Keeps the first frame of every 1/fps slot of stream time: a 20 fps camera, a 45000/1499 fps
    file and a browser sending irregular JPEGs all yield the same ~fps frames per second."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._last_slot: int | None = None

    def would_keep(self, t: float) -> bool:
        slot = math.floor(t / self.period + 1e-9)
        return self._last_slot is None or slot > self._last_slot

    def keep(self, t: float) -> bool:
        if not self.would_keep(t):
            return False
        self._last_slot = math.floor(t / self.period + 1e-9)
        return True


def validate_frame(image: object) -> np.ndarray:
    """Return an (H, W, 3) uint8 frame or raise ValueError saying what is wrong with it."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {image.dtype}")
    h, w = image.shape[:2]
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise ValueError(f"frame size {w}x{h} outside {MIN_SIDE}..{MAX_SIDE} pixels")
    return image
