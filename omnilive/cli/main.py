"""`omnilive` command line. Each verb lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import logging
import sys

from ..redaction import install_log_redaction
from . import ask_cmd, forget_cmd, ingest_cmd, mcp_cmd, models_cmd, recall_cmd, replay_cmd, serve_cmd, transcribe_cmd

VERBS = (serve_cmd, replay_cmd, transcribe_cmd, ingest_cmd, recall_cmd, ask_cmd, forget_cmd, mcp_cmd, models_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnilive",
        description="A live assistant that watches, listens, remembers and answers out loud.",
    )
    parser.add_argument("--config", metavar="TOML", help="configuration file (default: $OMNILIVE_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        verb.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    install_log_redaction()  # passwords in memory.url, API keys: never in a log line
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
