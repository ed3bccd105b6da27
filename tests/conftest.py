"""Shared fixtures: the evaluation data (read in place) and one set of real models per test run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EVALDATA = Path(os.environ.get("OMNILIVE_EVALDATA", ROOT.parent / "shared" / "evaldata"))


@pytest.fixture(scope="session")
def evaldata() -> Path:
    if not (EVALDATA / "README.md").exists():
        pytest.fail(f"evaluation data not found at {EVALDATA}; set OMNILIVE_EVALDATA")
    return EVALDATA


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    from omnilive.config import load_settings

    settings = load_settings()
    # greedy decoding and a deterministic voice: the embedded LLM's answers (e.g. the browser test's
    # long story) and every spoken test sentence are the same on every run, so a test never depends on
    # a lucky sample (a random rendering of "Wait, what else ..." paused long enough to end a turn or not)
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"temperature": 0.0}),
                                       "tts": settings.tts.model_copy(update={"deterministic": True})})


@pytest.fixture(scope="session")
def models(settings):
    from omnilive.backends.registry import load_models

    return load_models(settings)


@pytest.fixture(scope="session")
def asr_items(evaldata):
    rows = [json.loads(l) for l in (evaldata / "speech" / "asr_eval.jsonl").read_text().splitlines() if l.strip()]
    return {r["id"]: r for r in rows}


def read_wav(path: Path) -> np.ndarray:
    from omnilive.perception.media import read_audio

    return read_audio(path)


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the whole run (tests/postgres.py)."""
    from postgres import Postgres

    server = Postgres.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def mem(request, settings, tmp_path):
    """Where a memory test keeps its memory, once in SQLite files and once in PostgreSQL:
    ``mem.where`` (a directory or a memory name) and ``mem.cfg`` (the memory settings)."""
    from types import SimpleNamespace

    if request.param == "sqlite":
        return SimpleNamespace(kind="sqlite", where=tmp_path / "memory", cfg=settings.memory, url=None)
    from postgres import memory_name

    url = request.getfixturevalue("postgres").url
    return SimpleNamespace(kind="postgresql", where=memory_name(), url=url,
                           cfg=settings.memory.model_copy(update={"url": url}))
