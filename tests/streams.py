"""Compose a camera-like video from evaldata photos and clips (for memory tests and benchmarks).

A photo is "filmed" handheld: each frame is a slightly different crop with a small brightness
change, so consecutive frames are not identical, as with a real camera. A clip is played (looped
when it is shorter than its slot). Returns the ground truth: which item was on screen when.
"""

from __future__ import annotations

from fractions import Fraction

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

W, H = 640, 360


@dataclass(frozen=True)
class Item:
    id: str
    path: Path
    labels: tuple[str, ...]
    is_video: bool


@dataclass(frozen=True)
class Shown:
    item: Item
    start: float
    end: float


def evaldata_items(evaldata: Path) -> list[Item]:
    items = []
    with open(evaldata / "images" / "labels.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            items.append(Item(row["id"], evaldata / row["file"], tuple(row["labels"].split(",")), False))
    for line in (evaldata / "video" / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        items.append(Item(row["id"], evaldata / row["file"], tuple(row["labels"]), True))
    return items


def _fit(img: Image.Image) -> Image.Image:
    img = img.convert("RGB")
    scale = max(W / img.width, H / img.height)
    img = img.resize((max(W, round(img.width * scale)), max(H, round(img.height * scale))), Image.BILINEAR)
    left, top = (img.width - W) // 2, (img.height - H) // 2
    return img.crop((left, top, left + W, top + H))


def _handheld(img: Image.Image, rng: np.random.Generator) -> np.ndarray:
    zoom = rng.uniform(0.85, 1.0)
    cw, ch = int(img.width * zoom), int(img.height * zoom)
    x, y = int(rng.integers(0, img.width - cw + 1)), int(rng.integers(0, img.height - ch + 1))
    frame = np.asarray(img.crop((x, y, x + cw, y + ch)).resize((W, H), Image.BILINEAR), dtype=np.float32)
    return np.clip(frame * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)


def _clip_frames(path: Path, fps: float) -> list[np.ndarray]:
    frames, next_t = [], 0.0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.time is not None and frame.time + 1e-6 >= next_t:
                frames.append(np.asarray(_fit(frame.to_image())))
                next_t += 1.0 / fps
    return frames


def compose(plan: list[tuple[Item, float]], out: Path, fps: float = 4.0, seed: int = 0,
            audio: np.ndarray | None = None) -> list[Shown]:
    """Write ``out`` (H.264) showing each (item, seconds) in order, with ``audio`` (16 kHz mono)
    as its sound track when given; return when each was on screen."""
    rng = np.random.default_rng(seed)
    shown, t = [], 0.0
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        if audio is not None:  # (every stream is added before the first packet is written)
            _sound_track(container, audio)
        for item, seconds in plan:
            n = max(1, round(seconds * fps))
            if item.is_video:
                clip = _clip_frames(item.path, fps)
                frames = (clip[i % len(clip)] for i in range(n))
            else:
                img = _fit(Image.open(item.path))
                frames = (_handheld(img, rng) for _ in range(n))
            for rgb in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            shown.append(Shown(item, t, t + n / fps))
            t += n / fps
        for packet in stream.encode():
            container.mux(packet)
    return shown


def _sound_track(container, audio: np.ndarray, rate: int = 16000) -> None:
    """``audio`` as the container's AAC track (written first: the file is short)."""
    track = container.add_stream("aac", rate=rate)
    track.layout = "mono"
    samples = np.asarray(audio, np.float32).reshape(1, -1)
    for i in range(0, samples.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(samples[:, i:i + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
        for packet in track.encode(frame):
            container.mux(packet)
    for packet in track.encode():
        container.mux(packet)
