"""Shared bits of the benchmarks: where the evaluation data is, timing, table printing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVALDATA = Path(os.environ.get("OMNILIVE_EVALDATA", ROOT.parent / "shared" / "evaldata"))
sys.path.insert(0, str(ROOT))


def table(rows: list[dict], title: str) -> None:
    """Print rows as an aligned text table (also valid Markdown)."""
    if not rows:
        print(f"## {title}\n(no rows)")
        return
    cols = list(rows[0])
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(f"\n## {title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, width)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, width)) + " |")


def stop(proc) -> None:
    """End a server process: asked first, killed if it has not gone within 30 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
