"""`omnilive serve`: the live assistant in the browser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the live assistant (open the printed URL in a browser)",
                       description="Serve the page and the live WebSocket sessions on the configured models.")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; camera and "
                   "microphone need HTTPS anywhere but localhost)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..config import load_settings
    from ..server.app import create_app

    app = create_app(load_settings(args.config))
    print(f"omnilive: loading models, then serving http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", ws_max_size=4 << 20)
    return 0
