"""Train the embedded instruction filter and write omnilive/data/intent/model.npz.

    .venv/bin/python scripts/train_intent.py      # prints held-apart accuracy

Logistic regression (scikit-learn, a dependency of sentence-transformers; only needed here) over
the MiniLM embedding plus the cue features of omnilive/reasoning/intent.py. Data: bench/_intent_data.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _intent_data import held_out, training  # noqa: E402
from _common import EVALDATA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from omnilive.backends.registry import load_models  # noqa: E402
from omnilive.config import load_settings  # noqa: E402
from omnilive.reasoning.intent import features  # noqa: E402

OUT = ROOT / "omnilive" / "data" / "intent" / "model.npz"


def main() -> None:
    embedder = load_models(load_settings(), ("text_embedding",)).text_embedding
    texts, labels = training(EVALDATA)
    x, y = features(embedder, texts), np.array(labels)
    clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x, y)
    np.savez(OUT, w=clf.coef_[0].astype(np.float32), b=np.float32(clf.intercept_[0]))
    print(f"trained on {len(y)} utterances ({y.sum()} for the assistant); wrote {OUT}")
    for name, (t, lab) in held_out(EVALDATA).items():
        pred = clf.predict(features(embedder, t))
        lab = np.array(lab)
        print(f"{name}: accuracy {np.mean(pred == lab):.1%} "
              f"(assistant requests recognised {np.mean(pred[lab == 1] == 1):.1%}, "
              f"background rejected {np.mean(pred[lab == 0] == 0):.1%}, n={len(lab)})")


if __name__ == "__main__":
    main()
