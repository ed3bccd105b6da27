"""Scale-out benchmark (issue 16): N sessions against two `omnilive serve` processes that share one
PostgreSQL memory and one remote LLM (llama-cpp-python's OpenAI-compatible server on the embedded
Qwen2.5 GGUF), behind nginx (deploy/nginx.conf), all started here.

Each client streams 24 s of camera (1 fps JPEG) and microphone (16 kHz PCM16, two spoken questions)
in real time, as bench/load_bench.py does; nginx pins each token to a process. Reported per process:
turns answered, end of question speech -> first answer audio (median, p95), frames dropped, resident
memory, and the process's own stage busy seconds from /metrics. Then what forgetting costs on
PostgreSQL: one user's delete and the rewrite of their partition, with 5 and 20 users' talk
(1,000 and 8,000 utterances each: 8,000 is a day of continuous talk) in the database.

    .venv/bin/python bench/scale_bench.py [--sessions 1 2 4] [--llm qwen2.5-1.5b]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _common import ROOT, table
from load_bench import QUESTIONS, _inputs, client, metric, rss_mb

sys.path.insert(0, str(ROOT / "tests"))
from helpers import free_port  # noqa: E402
from postgres import Postgres  # noqa: E402

from omnilive.backends.llm import EMBEDDED  # noqa: E402


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def start_llm(settings, model: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                             str(EMBEDDED[model].path(settings.cache_dir)), "--model_alias", model, "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    wait_http(f"{url}/models", proc)
    return proc, url


def start_nginx(ports: list[int]) -> tuple[subprocess.Popen, str]:
    prefix = Path(tempfile.mkdtemp(prefix="omnilive-nginx-"))
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text().replace("@PREFIX@", str(prefix)).replace(
        "@LISTEN@", f"127.0.0.1:{port}").replace("@SERVERS@", " ".join(f"server 127.0.0.1:{p};" for p in ports))
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix), "-g", "daemon off;"])
    wait_http(f"http://127.0.0.1:{port}/health", proc, 30)
    return proc, f"ws://127.0.0.1:{port}"


def process_stats(url: str) -> dict:
    return {"busy": {s: metric(url, f'omnilive_stage_busy_seconds_total{{stage="{s}"}}')
                     for s in ("vision", "asr", "llm", "tts")},
            "dropped": metric(url, "omnilive_frames_dropped_total")}


def forget_cost(pg_url: str, users: int, rows_per_user: int) -> float:
    """Seconds to erase 30 utterances of one user (delete, then rewrite that user's partition of the
    heard table) while ``users`` memories of ``rows_per_user`` utterances each share the database."""
    from omnilive.memory.pg import PostgresMemoryDB

    dbs = [PostgresMemoryDB(pg_url, f"bench-forget-{users}-{u}", "bench", 8) for u in range(users)]
    try:
        for db in dbs:
            with db._transaction() as con, con.cursor() as cur:
                cur.executemany(
                    'INSERT INTO heard (memory_id, id, start, "end", kind, text, labels, speaker, score, language, '
                    "vector) VALUES (%s,%s,%s,%s,'speech',%s,'[]','background',1,'en',%s)",
                    [(db.memory_id, i, i * 11.0, i * 11.0 + 4, f"utterance {i}: something said about the weather "
                      "and the meeting tomorrow", bytes(768)) for i in range(rows_per_user)])
        started = time.perf_counter()
        dbs[0].delete_heard_items(list(range(30)), [])
        dbs[0].scrub()
        return time.perf_counter() - started
    finally:
        for db in dbs:
            db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--llm", default="qwen2.5-0.5b", choices=sorted(EMBEDDED))
    args = ap.parse_args()

    from omnilive.backends.registry import load_models
    from omnilive.config import load_settings

    settings = load_settings()
    pg = Postgres.start()
    procs: list[subprocess.Popen] = []
    try:
        llm, llm_url = start_llm(settings, args.llm)
        procs.append(llm)
        env = {**os.environ, "OMNILIVE_MEMORY__URL": pg.url, "OMNILIVE_LLM__BACKEND": "openai",
               "OMNILIVE_LLM__URL": llm_url, "OMNILIVE_LLM__MODEL": args.llm,
               "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        ports = [free_port(), free_port()]
        servers = [subprocess.Popen([sys.executable, "-m", "omnilive", "serve", "--port", str(p)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
        procs += servers
        for p, s in zip(ports, servers):
            wait_http(f"http://127.0.0.1:{p}/health", s)
        proxy, url = start_nginx(ports)
        procs.append(proxy)
        direct = [f"http://127.0.0.1:{p}" for p in ports]
        frames, audio, ends = _inputs(load_models(settings, ("tts",)).tts)
        rows = []
        for n in args.sessions:
            before = [process_stats(u) for u in direct]

            async def run_n():
                offsets = np.random.default_rng(n).uniform(0, 6.0, n) if n > 1 else [0.0]
                return await asyncio.gather(*(client(url, frames, audio, ends, d) for d in offsets))

            results = asyncio.run(run_n())
            after = [process_stats(u) for u in direct]
            for k, (u, s) in enumerate(zip(direct, servers)):
                mine = [r for r in results if r["process"].endswith(f":{s.pid}")]
                lat = sorted(x for r in mine for x in r["latencies"])
                busy = {st: round(after[k]["busy"][st] - before[k]["busy"][st], 1) for st in after[k]["busy"]}
                rows.append({"sessions": n, "process": k + 1, "its sessions": len(mine),
                             "answered": f"{len(lat)}/{len(mine) * len(QUESTIONS)}",
                             "median s": round(statistics.median(lat), 2) if lat else "",
                             "p95 s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2) if lat else "",
                             "frames dropped": int(after[k]["dropped"] - before[k]["dropped"]),
                             "busy s vision/asr/llm/tts": "/".join(str(busy[st]) for st in ("vision", "asr", "llm", "tts")),
                             "RSS MB": round(rss_mb(s.pid))})
                print(rows[-1], flush=True)
        table(rows, "Two processes, one PostgreSQL, one remote LLM: end of question speech -> first answer audio")
        cost = [{"users": users, "utterances each": rows_per, "one user's forget s": round(
                 forget_cost(pg.url, users, rows_per), 3)} for users, rows_per in ((5, 1000), (20, 8000))]
        table(cost, "What a forget costs on PostgreSQL (that user's partitions rewritten; no one else waits)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()


if __name__ == "__main__":
    main()
