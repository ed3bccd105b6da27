"""`omnilive mcp --memory DIR`: a memory's MCP server over stdio, for desktop MCP clients."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from .common import open_memory

CAPS = ("vad", "text_embedding", "visual", "llm")  # `ask` is a session turn (runtime/asking.py); recall, watches


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="serve a memory to MCP clients over stdio",
                       description="Serve the memory in --memory DIR as an MCP server on stdin/stdout: tools ask, "
                                   "recall (with key frames), timeline, list_watches, add_watch, cancel_watch and "
                                   "forget (confirm=true), and the resource omnilive://moments/recent. Models load "
                                   "once; logs go to stderr.")
    p.add_argument("--memory", required=True, metavar="DIR", help="memory directory (or, with memory.url, its name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with _stdout_to_stderr():  # stdout carries the protocol: nothing printed while models load may reach it
        opened = open_memory(args, CAPS, create=False)
    if opened is None:
        return 2
    settings, models, store = opened
    from ..server.mcp_server import serve_stdio

    try:
        serve_stdio(models, settings, store)
    finally:
        store.close()
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Python's and native libraries' writes to stdout go to stderr for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
