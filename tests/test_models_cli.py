"""`omnilive models`: every capability loads on a fresh install; a missing model says what to do."""

import json
import os
import subprocess
import sys

from omnilive.backends.registry import CAPABILITIES


def omnilive(*args, env=None):
    return subprocess.run([sys.executable, "-m", "omnilive", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_models_json_lists_every_capability_and_all_load():
    proc = omnilive("models", "--json")
    rows = json.loads(proc.stdout)
    assert [r["capability"] for r in rows] == list(CAPABILITIES)
    for r in rows:
        assert {"capability", "backend", "source", "ok"} <= r.keys()
        assert r["ok"] is True, r
        assert "http" not in r["source"]  # embedded defaults come from installed packages
    assert proc.returncode == 0, proc.stderr


def test_unset_server_url_and_missing_path_fail_clearly(tmp_path):
    proc = omnilive("models", "--json", env={
        "OMNILIVE_LLM__BACKEND": "openai",
        "OMNILIVE_ASR__MODEL": str(tmp_path / "no-such-whisper"),
        "OMNILIVE_SOUND_EVENTS__BACKEND": "none",
    })
    assert proc.returncode == 1
    rows = {r["capability"]: r for r in json.loads(proc.stdout)}
    assert rows["llm"]["ok"] is False and "OMNILIVE_LLM__URL" in rows["llm"]["error"]
    assert rows["asr"]["ok"] is False and "asr.model" in rows["asr"]["error"]
    assert rows["sound_events"]["ok"] is True and rows["sound_events"]["source"] == "disabled"
    assert rows["vad"]["ok"] is True


def test_every_verb_has_help():
    for verb in ([], ["models"], ["replay"]):
        proc = omnilive(*verb, "--help")
        assert proc.returncode == 0 and "usage: omnilive" in proc.stdout


def test_warm_up_calls_every_model_without_a_failure(models, caplog):
    """A fresh server runs each model once before its first user (runtime/warmup.py); a call that
    no longer fits a model's interface is only logged there (the server still starts), so it is
    caught here instead of as a slow first answer."""
    import logging

    from omnilive.runtime.warmup import warm_up

    with caplog.at_level(logging.INFO, logger="omnilive"):
        warm_up(models)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "warmed up in" in caplog.text
