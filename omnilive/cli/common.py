"""What the memory verbs (ingest, recall, ask) share: settings, models and the memory directory."""

from __future__ import annotations

import argparse
import json
import sys

from ..backends.base import ModelUnavailable
from ..backends.registry import Models, load_models
from ..config import Settings, load_settings
from ..memory.db import memory_exists
from ..memory.errors import MemoryLocked, MemoryMismatch
from ..memory.store import MemoryStore


def question_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str,
                    json_help: str) -> argparse.ArgumentParser:
    """A verb that asks a memory a question: QUESTION, --memory DIR, --json."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("question")
    p.add_argument("--memory", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help=json_help)
    return p


def open_memory(args: argparse.Namespace, capabilities: tuple[str, ...], *, create: bool,
                settings: Settings | None = None) -> tuple[Settings, Models, MemoryStore] | None:
    """Load what a verb needs and open ``--memory``; None (after saying why on stderr) if it can't."""
    settings = settings or load_settings(args.config)
    try:
        if not create and not memory_exists(args.memory, settings.memory.url):
            print(f"omnilive: no memory in {args.memory} (create one with `omnilive ingest`)", file=sys.stderr)
            return None
        models = load_models(settings, capabilities)
        return settings, models, MemoryStore.open(args.memory, models.visual, settings.memory, models.text_embedding)
    except (ModelUnavailable, MemoryMismatch, MemoryLocked, ConnectionError) as exc:
        print(f"omnilive: {exc}", file=sys.stderr)
        return None


def file_failed(args: argparse.Namespace, path: str, exc: Exception) -> None:
    """One file of a batch could not be read: say so (and, with --json, as that file's line)."""
    print(f"omnilive: {path}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps({"file": path, "error": str(exc)}), flush=True)
