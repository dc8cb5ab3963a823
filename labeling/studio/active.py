"""Active-learning batches (pure, numpy only): the least confident tasks first, spread out.

Uncertainty alone fills a batch with near-copies: the sentences a model hesitates on come
in runs (one article's string of similar sentences, one template reworded by several
outlets), and ten of them teach the model little more than one does. `pick_diverse` walks
the candidates from the least confident up and passes over one whose near-duplicate group
is already in the batch, whose article already has `per_article` sentences in it, or whose
content-word stems (the ones near-duplicate grouping compares, labeling.ingest.stems)
overlap a chosen sentence's at Jaccard `max_jaccard` or more. tests/bench/bench_active.py
measures it against uncertainty and random sampling on the gold set.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable, Sequence

import numpy as np

from labeling.ingest.stems import content_stems

# Defaults chosen before measuring, tuned on no evaluation set: with 2 an article a batch of 50
# spans at least 25 articles; stems half shared (Jaccard 0.5) mark sentences saying mostly one thing.
PER_ARTICLE = 2
MAX_JACCARD = 0.5


def uncertainty_order(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Positions sorted by confidence, lowest (most uncertain) first; ties keep input order."""
    return np.argsort(np.asarray(scores, dtype=float), kind="stable")


def stem_sets(texts: Sequence[str]) -> list[frozenset[str]]:
    """Each text's content-word stems, as near-duplicate grouping compares sentences."""
    return [frozenset(content_stems(t)) for t in texts]


def _too_similar(stems: frozenset[str], chosen: list[frozenset[str]], postings: dict[str, list[int]],
                 max_jaccard: float) -> bool:
    # shared stems with every chosen sentence at once, through an inverted index: a batch of
    # hundreds stays linear in the candidate's stems instead of one set operation per member
    shared = Counter(j for s in stems for j in postings.get(s, ()))
    return any(inter >= max_jaccard * (len(stems) + len(chosen[j]) - inter) for j, inter in shared.items())


def pick_diverse(order: Sequence[int] | np.ndarray, groups: Sequence[Hashable],
                 articles: Sequence[Hashable | None], stems: Sequence[frozenset[str]], n: int,
                 per_article: int = PER_ARTICLE, max_jaccard: float = MAX_JACCARD) -> list[int]:
    """Up to `n` positions from `order` (most wanted first), in the order they were taken.

    A position is taken unless its group is already in the batch, its article (None: no
    article) already has `per_article` positions in it, or its stems reach `max_jaccard`
    with a taken one's (a sentence without content stems is similar to none). When fewer
    than `n` pass, the batch is filled with the passed-over positions in `order`, never a
    second member of a group: diversity reorders a batch, it does not leave it short.
    Raises ValueError when n < 1, per_article < 1, max_jaccard is outside (0, 1], or the
    sequences differ in length.
    """
    if n < 1:
        raise ValueError(f"batch size must be at least 1, got {n}")
    if per_article < 1:
        raise ValueError(f"per_article must be at least 1, got {per_article}")
    if not 0 < max_jaccard <= 1:
        raise ValueError(f"max_jaccard must be in (0, 1], got {max_jaccard}")
    if not len(groups) == len(articles) == len(stems):
        raise ValueError(f"groups, articles and stems differ in length ({len(groups)}, {len(articles)}, {len(stems)})")
    taken: list[int] = []
    chosen: list[frozenset[str]] = []
    postings: dict[str, list[int]] = {}
    in_batch: set[Hashable] = set()
    per: Counter = Counter()
    passed_over: list[int] = []
    for i in map(int, order):
        if len(taken) == n:
            break
        if groups[i] in in_batch:
            continue
        article = articles[i]
        if (article is not None and per[article] >= per_article) or _too_similar(stems[i], chosen, postings, max_jaccard):
            passed_over.append(i)
            continue
        for s in stems[i]:
            postings.setdefault(s, []).append(len(chosen))
        chosen.append(stems[i])
        taken.append(i)
        in_batch.add(groups[i])
        per[article] += 1
    for i in passed_over:
        if len(taken) == n:
            break
        if groups[i] not in in_batch:
            taken.append(i)
            in_batch.add(groups[i])
    return taken


def select_uncertain_diverse(scores: Sequence[float] | np.ndarray, groups: Sequence[Hashable],
                             articles: Sequence[Hashable | None], texts: Sequence[str], n: int,
                             per_article: int = PER_ARTICLE, max_jaccard: float = MAX_JACCARD) -> list[int]:
    """The "uncertainty+diversity" batch: `pick_diverse` over the positions ordered by confidence
    (`scores`, lowest first, as labeling.studio.tasks.confidence gives them) and the texts' stems.
    Returns up to `n` positions, least confident first. Errors: as pick_diverse, and ValueError
    when scores and texts differ in length from groups.
    """
    if not len(scores) == len(texts) == len(groups):
        raise ValueError(f"scores, texts and groups differ in length ({len(scores)}, {len(texts)}, {len(groups)})")
    return pick_diverse(uncertainty_order(scores), groups, articles, stem_sets(texts), n, per_article, max_jaccard)
