"""`omnilive models`: which model backs each capability, where its weights come from, does it load."""

from __future__ import annotations

import argparse
import json

from ..backends.registry import probe
from ..config import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list each capability's backend and check that it loads",
                       description="Load every selected backend and report it. Exit status 0 only if all load.")
    p.add_argument("--json", action="store_true", help="print a JSON list of {capability, backend, source, ok, error}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = probe(load_settings(args.config))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["capability"]) for r in rows)
        for r in rows:
            mark = "ok  " if r["ok"] else "FAIL"
            print(f"{mark} {r['capability']:<{width}}  {r['backend']:<22} {r['source']}  ({r['load_s']} s)")
            if r["error"]:
                print(f"     {'':<{width}}  -> {r['error']}")
    return 0 if all(r["ok"] for r in rows) else 1
