"""Cost of a frame's Scene (perception/scene.py): the SSD-MobileNet-v2 detector plus the colour
measurements, per frame over the evaldata photos (native size and scaled to 640 px, a live frame),
at 1 and 2 OpenCV threads; the compact JSON size of a scene; what storing one scene per memory clip
adds per hour.

    .venv/bin/python bench/detect_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from _common import EVALDATA, table
from PIL import Image


def load_photos(max_side: int | None) -> dict[str, np.ndarray]:
    photos = {}
    for path in sorted((EVALDATA / "images").glob("img_*")):
        img = Image.open(path).convert("RGB")
        if max_side:
            img.thumbnail((max_side, max_side))
        photos[path.stem] = np.asarray(img)
    return photos


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from omnilive.backends.base import ObjectDetector
    from omnilive.backends.detect_ssd import SSDDetector
    from omnilive.config import load_settings
    from omnilive.perception.scene import describe

    class Known(ObjectDetector):  # replays detections, so describe() times the measuring alone
        name = "known"
        dets: list = []

        def detect(self, image):
            return self.dets

    settings = load_settings()
    known = Known()
    rows, sizes, found = [], [], {}
    for size_name, max_side in (("native", None), ("640 px", 640)):
        photos = load_photos(max_side)
        for threads in (1, 2):
            detector = SSDDetector(*SSDDetector.source(settings), threads=threads)
            detect_ms, measure_ms = [], []
            for _ in range(args.repeats):
                for name, img in photos.items():
                    t0 = time.perf_counter()
                    known.dets = detector.detect(img)
                    t1 = time.perf_counter()
                    scene = describe(img, known)
                    t2 = time.perf_counter()
                    detect_ms.append((t1 - t0) * 1000)
                    measure_ms.append((t2 - t1) * 1000)
                    found[name] = scene
            total = [a + b for a, b in zip(detect_ms, measure_ms)]
            rows.append({"frames": size_name, "threads": threads, "n": len(total),
                         "detect ms median": f"{statistics.median(detect_ms):.0f}",
                         "colours+relations ms median": f"{statistics.median(measure_ms):.1f}",
                         "total ms median": f"{statistics.median(total):.0f}", "total ms p90": f"{pct(total, 90):.0f}"})
        if max_side:
            sizes = [len(json.dumps(s.to_json(), separators=(",", ":")).encode()) for s in found.values()]
    table(rows, "Scene per frame (detect + describe), evaldata photos")

    table([{"photo": n, "objects": ", ".join(f"{o.label} {o.score:.2f}" + (f" {o.colour}" if o.colour else "")
                                             for o in s.objects) or "-",
            "colours": ", ".join(s.colours) or ("grayscale" if s.grayscale else "-"),
            "relations": "; ".join(s.relations()) or "-"} for n, s in found.items()], "What the scenes say (640 px)")

    clip_s = settings.memory.clip_max_s
    med, mx = statistics.median(sizes), max(sizes)
    table([{"JSON bytes per scene": "median", "bytes": f"{med:.0f}"}, {"JSON bytes per scene": "max", "bytes": mx}],
          "Compact JSON size of a scene")
    table([{"one scene every": f"{p:g} s" + (" (memory.clip_max_s)" if p == clip_s else ""),
            "scenes per hour": int(3600 / p), "KB per hour (median scene)": f"{3600 / p * med / 1000:.0f}",
            "KB per hour (largest scene)": f"{3600 / p * mx / 1000:.0f}"} for p in (2.0, 4.0, clip_s)],
          "Memory added per hour")


if __name__ == "__main__":
    main()
