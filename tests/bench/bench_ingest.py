"""Benchmark: ingestion throughput (MB/s, sentences/s) and peak memory on generated corpora.

Each corpus size runs in its own subprocess (one core, fresh interpreter) so ru_maxrss is
that size's peak alone; memory is flat when the larger corpus peaks near the smaller one.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

PLACES = ["Ostland", "the Federation", "Velmar", "Norrland", "the Republic", "Kestria", "the Alliance", "Marovia"]
PEOPLE = ["Petra Kallis", "Arno Weiss", "Lena Marsh", "Ivo Brandt", "Dana Cole", "Omar Sefa", "Tomas Gray"]
VERBS = ["warned", "said", "claimed", "denied", "announced", "stressed", "insisted", "argued", "told reporters"]
FUNCTION = ["the", "of", "and", "to", "in", "a", "on", "that", "for", "with", "by", "was", "were", "would", "has",
            "its", "after", "from", "at", "as", "over", "which", "their", "had", "been", "could"]
JUNK = ["Home » World » Europe", "Subscribe to our newsletter", "By {p}", "{d} Mar, 2023 09:{d}",
        "READ MORE: {a} recalls its ambassador", "You may also like", "Leave a Comment",
        "This site uses cookies to improve your experience. Accept Read More", "© 2023 Example News Ltd.",
        "Sign in   Subscribe   Search", "(Reporting by {p}; Editing by {p})"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


class _Corpus:
    """Open, Zipf-like vocabulary as in real news (random sentences share few content words)
    plus a pool of quotes that several articles carry with small edits (near-duplicates)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = [_word(rng) for _ in range(20000)]
        self.cum_weights = list(itertools.accumulate(1 / (i + 10) for i in range(len(self.vocab))))
        self.quotes = [self.sentence() for _ in range(300)]

    def content(self, k: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.cum_weights, k=k)

    def sentence(self) -> str:
        rng = self.rng
        words = self.content(rng.randint(6, 12)) + rng.choices(FUNCTION, k=rng.randint(6, 10))
        rng.shuffle(words)
        return f"{rng.choice(PEOPLE)} {rng.choice(VERBS)} that {' '.join(words)} in {rng.choice(PLACES)}."

    def quote(self) -> str:
        words = self.rng.choice(self.quotes).split()
        words[self.rng.randrange(2, len(words) - 1)] = self.content(1)[0]  # a small edit per outlet
        return " ".join(words)


def _article(corpus: _Corpus) -> str:
    rng = corpus.rng
    a, b = rng.sample(PLACES, 2)
    lines = [f" date 2023-03-{rng.randint(10, 28)} https://example.test/{rng.randint(1, 10**9)}",
             f"{a} and {b} trade warnings over {_word(rng)}"]
    lines += [j.format(p=rng.choice(PEOPLE), d=rng.randint(10, 59), a=a) for j in rng.sample(JUNK, 4)]
    for _ in range(rng.randint(6, 14)):
        sents = [corpus.quote() if rng.random() < 0.05 else corpus.sentence() for _ in range(3)]
        if rng.random() < 0.3:
            sents[0] = sents[0][:-1] + "." + sents[1]  # glued boundary
            sents.pop(1)
        lines.append(" ".join(sents))
    return "\n".join(lines) + "\n"


def generate(root: Path, megabytes: float, seed: int = 0) -> int:
    """Write txt articles under `root` until `megabytes` of text; returns the byte count."""
    corpus = _Corpus(random.Random(seed))
    root.mkdir(parents=True, exist_ok=True)
    total, i = 0, 0
    while total < megabytes * 1e6:
        text = _article(corpus)
        (root / f"{i:06d}.txt").write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
        i += 1
    return total


RUNS = 3

_CHILD = """
import json, resource, sys, time
from labeling.ingest.pipeline import IngestOptions, run_ingest
options = IngestOptions()
options.tagger()._model()  # model load is a fixed cost, not throughput
t0, c0 = time.perf_counter(), time.process_time()
s = run_ingest([sys.argv[1]], sys.argv[2], options)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "sentences": s.sentences, "articles": s.articles, "bytes": s.bytes_in,
                  "groups": s.groups.multi_groups, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measure(root: Path, out: Path) -> dict:
    # taskset pins the child to one core where available: the target is per core.
    cmd = [sys.executable, "-c", _CHILD, str(root), str(out)]
    pinned = ["taskset", "-c", "0", *cmd]
    try:
        res = subprocess.run(pinned, capture_output=True, text=True, check=True)
    except FileNotFoundError:
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    """Measure ingestion at two corpus sizes; returns {"title", "rows", "notes"}."""
    sizes = [1.0, 4.0] if quick else [5.0, 20.0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            root = Path(tmp) / f"corpus_{mb:g}"
            generate(root, mb)
            if hasattr(os, "sync"):
                os.sync()  # the generator's dirty pages are written back now, not during the timed runs
            # The median of three runs (each a fresh process): one slow run on a shared machine is noise.
            runs = sorted((_measure(root, Path(tmp) / f"out_{mb:g}.jsonl") for _ in range(RUNS)), key=lambda r: r["seconds"])
            m = runs[len(runs) // 2]
            rows.append({"corpus_mb": round(m["bytes"] / 1e6, 1), "articles": m["articles"], "sentences": m["sentences"],
                         "seconds": round(m["seconds"], 1), "mb_per_s": round(m["bytes"] / 1e6 / m["seconds"], 2),
                         "cpu_mb_per_s": round(m["bytes"] / 1e6 / m["cpu_seconds"], 2),
                         "sentences_per_s": round(m["sentences"] / m["seconds"]), "dup_groups": m["groups"],
                         "peak_rss_mb": round(m["peak_rss_mb"])})
    growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = [
        f"target >= 2 MB/s on one core: measured {rows[-1]['mb_per_s']} MB/s wall, {rows[-1]['cpu_mb_per_s']} MB/s "
        f"of CPU time on the {rows[-1]['corpus_mb']} MB corpus (load average {load:.1f} on {os.cpu_count()} cores: "
        "on a shared machine wall time includes waiting for the core, CPU time does not)",
        f"memory: peak RSS x{growth:.2f} for x{rows[-1]['corpus_mb'] / rows[0]['corpus_mb']:.0f} the text "
        "(records are spooled to disk; the near-duplicate index keeps ~300 bytes per sentence, twice that while "
        "groups are verified; ~190 MB is the "
        "fixed cost of the language model and libraries)",
        "synthetic scraped articles written as txt files: boilerplate lines, glued sentences, an open Zipf-like "
        "vocabulary and 5% of sentences quoting a shared pool with small edits (near-duplicates); model load excluded",
        f"each row is the median of {RUNS} runs, each in a fresh process pinned to one core",
    ]
    return {"title": "Ingestion throughput (stance ingest)", "rows": rows, "notes": notes}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
