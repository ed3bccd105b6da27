"""The embedded LLM's token rate as a live server calls it: from one thread, from threads that
take turns (each session asks from a thread of its own), and after the sentence embedder (PyTorch)
has run. llama.cpp built with OpenMP (as scripts/install.sh builds it) gives each calling thread
an OpenMP team of its own, and the torch wheel's ``libgomp.so.1`` is the one it loads by that
name: a second team, from either, made every later token 25-35 % slower here. Each row runs after
the rows above it.

    .venv/bin/python bench/llm_threads_bench.py [--tokens 24] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import llama_cpp
from _common import table

from omnilive.backends.base import ChatMessage
from omnilive.backends.registry import load_models
from omnilive.config import load_settings
from omnilive.reasoning.facts import SYSTEM


def ms_per_token(llm, tokens: int) -> float:
    msgs = [ChatMessage("system", SYSTEM), ChatMessage("user", "Tell me about the river Danube.")]
    times = [time.perf_counter() for _ in llm.stream(msgs, max_tokens=tokens)]
    return 1000 * (times[-1] - times[0]) / (len(times) - 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    models = load_models(load_settings())
    llm = models.llm
    threads = [ThreadPoolExecutor(1) for _ in range(3)]
    on = lambda i: threads[i].submit(ms_per_token, llm, args.tokens).result()  # noqa: E731
    embedded = lambda: (models.text_embedding.embed(["a cup"]), on(0))[1]  # noqa: E731
    rows = []
    for name, run in [("one thread", lambda: on(0)),  # (in this order: what one row did stays done)
                      ("one thread, after a sentence embedding", embedded),
                      ("three threads taking turns", lambda: [on(i) for i in range(3)][-1])]:
        got = [run() for _ in range(args.rounds)]
        rows.append({"calls": name, "ms per token, median": round(statistics.median(got)),
                     "all": " ".join(str(round(g)) for g in got)})
    build = "OpenMP" if "OPENMP = 1" in llama_cpp.llama_print_system_info().decode() else "its own threads"
    table(rows, f"embedded LLM decode, {args.tokens} tokens (llama.cpp: {build})")


if __name__ == "__main__":
    main()
