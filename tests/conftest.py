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
    # greedy decoding: the embedded LLM's answers (e.g. the browser test's long story) are the same
    # on every run, so a test never depends on a lucky sample
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"temperature": 0.0})})


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
