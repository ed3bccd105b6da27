"""Warm a fresh server up before its first user. Each model's first call, and the word lists the
reasoning loads on first use, cost time once per process; without this the first user of a
fresh server paid it in their first answers (bench/load_bench.py, the first session: memory
answers 0.84-1.05 s vs 0.44-0.56 s for the next session; the instruction filter took 0.52 s
instead of 0.02 s, grounding 0.38 s instead of 0.05 s)."""

from __future__ import annotations

import logging
import time

from ..backends.registry import Models, warm_up_models

log = logging.getLogger(__name__)


def load_lexicons() -> None:
    """lemminflect's lemma dictionary (0.3-0.7 s: the instruction filter, "is it a noun?") and
    wordfreq's frequency list with the ImageNet hypernyms (0.5 s: naming what was seen)."""
    from lemminflect import getAllLemmas

    from ..reasoning.words import name_of

    getAllLemmas("keys")
    name_of("tabby")


def warm_up(models: Models) -> None:
    started = time.perf_counter()
    warm_up_models(models)
    load_lexicons()
    log.info("warmed up in %.1f s", time.perf_counter() - started)
