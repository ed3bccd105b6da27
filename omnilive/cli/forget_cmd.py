"""`omnilive forget --memory DIR (--start S --end E | --all | --about TEXT)`: delete memory for good."""

from __future__ import annotations

import argparse
import json
import shutil

from .common import open_memory
from .recall_cmd import keyframe_dir

CAPS = ("text_embedding", "visual")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forget", help="delete part of a memory, for good",
                       description="Delete every clip, episode, heard item and conversation turn overlapping "
                                   "--start..--end (stream seconds, as `recall` prints them), or all of it, or what "
                                   "was said about TEXT. Deleted bytes are overwritten (SQLite secure_delete, the "
                                   "FTS index merged, the write-ahead log emptied).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--start", type=float, metavar="S")
    what.add_argument("--all", action="store_true")
    what.add_argument("--about", metavar="TEXT")
    p.add_argument("--end", type=float, metavar="E", help="with --start (default: the end of memory)")
    p.add_argument("--memory", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help='print {"deleted": {"clips", "episodes", "heard", "turns"}}')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.end is not None and args.start is None:
        print("omnilive: --end needs --start", flush=True)
        return 2
    opened = open_memory(args, CAPS, create=False)
    if opened is None:
        return 2
    _, _, store = opened
    try:
        if args.about:
            deleted = store.forget_about(args.about)
        elif args.all:
            deleted = store.forget(float("-inf"), float("inf"))
        else:
            deleted = store.forget(args.start, args.end if args.end is not None else float("inf"))
        stats = store.stats()
    finally:
        store.close()
    if opened[0].memory.url:  # the key frames `recall` wrote to this machine's cache (SQLite's scrub drops its own)
        shutil.rmtree(keyframe_dir(opened[0], args.memory) / "keyframes", ignore_errors=True)
    if args.json:
        print(json.dumps({"deleted": deleted, "memory": stats}))
    else:
        print("deleted " + ", ".join(f"{n} {k}" for k, n in deleted.items()) + f"; left {stats['clips'] + stats['episodes']} "
              f"moments seen and {stats['heard']} heard")
    return 0
