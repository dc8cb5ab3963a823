import numpy as np
import pytest

from labeling.studio.active import pick_diverse, select_uncertain_diverse, stem_sets, uncertainty_order
from labeling.studio.tasks import group_sentences, select_groups
from tests.studio.helpers import sentence


def _text(i: int) -> str:
    # four content stems of its own per sentence (stems are cut to 5 characters), one shared
    return f"Report {i:03d}ka {i:03d}lo {i:03d}mu {i:03d}ne."


def _pool(n: int, groups=None, articles=None, texts=None):
    return (list(groups or [f"g{i}" for i in range(n)]), list(articles or [f"a{i}" for i in range(n)]),
            list(texts or [_text(i) for i in range(n)]))


def test_unconstrained_batch_keeps_the_uncertainty_order():
    scores = [0.9, 0.1, 0.5, 0.05, 0.7, 0.3]
    groups, articles, texts = _pool(6)
    assert select_uncertain_diverse(scores, groups, articles, texts, 4) == [3, 1, 5, 2]


def test_batch_never_holds_two_members_of_one_group_even_when_filling_up():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    groups, articles, texts = _pool(5, groups=["g", "g", "h", "g", "h"])
    picked = select_uncertain_diverse(scores, groups, articles, texts, 5)
    assert picked == [0, 2]  # short rather than a second member of g or h
    assert len({groups[i] for i in picked}) == len(picked)


def test_an_article_gives_at_most_per_article_until_the_rest_run_out():
    # the five least confident sentences all come from article A
    scores = [0.01, 0.02, 0.03, 0.04, 0.05, 0.5, 0.6, 0.7]
    groups, articles, texts = _pool(8, articles=["A"] * 5 + ["B", "C", "D"])
    assert select_uncertain_diverse(scores, groups, articles, texts, 4) == [0, 1, 5, 6]
    # with no other article left, the batch is filled with A's remaining sentences in order
    assert select_uncertain_diverse(scores, groups, articles, texts, 7) == [0, 1, 5, 6, 7, 2, 3]
    assert select_uncertain_diverse(scores, groups, articles, texts, 4, per_article=1) == [0, 5, 6, 7]


def test_a_sentence_saying_mostly_the_same_as_a_chosen_one_waits():
    texts = ["NATO refuses to consider our security proposals, the ministry said.",
             "NATO refuses to consider our security proposals again, the ministry said on Monday.",
             "Shelling resumed overnight near the border town.",
             "Both sides agreed to a prisoner exchange next week."]
    groups, articles, _ = _pool(4)
    assert select_uncertain_diverse([0.1, 0.2, 0.3, 0.4], groups, articles, texts, 3) == [0, 2, 3]
    assert select_uncertain_diverse([0.1, 0.2, 0.3, 0.4], groups, articles, texts, 3, max_jaccard=1.0) == [0, 1, 2]


def test_sentences_without_content_stems_are_similar_to_none():
    texts = ["It is.", "No.", "So it was, 12.", _text(1)]
    assert stem_sets(texts)[:3] == [frozenset()] * 3
    groups, articles, _ = _pool(4)
    assert select_uncertain_diverse([0.1, 0.2, 0.3, 0.4], groups, articles, texts, 4) == [0, 1, 2, 3]


def test_missing_articles_are_not_capped():
    groups, _, texts = _pool(4)
    assert pick_diverse(np.arange(4), groups, [None] * 4, stem_sets(texts), 4) == [0, 1, 2, 3]


def test_ties_keep_input_order():
    assert uncertainty_order([0.2, 0.1, 0.2, 0.1]).tolist() == [1, 3, 0, 2]


def test_bad_arguments_are_refused():
    groups, articles, texts = _pool(3)
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        select_uncertain_diverse([0.1] * 3, groups, articles, texts, 0)
    with pytest.raises(ValueError, match="per_article must be at least 1"):
        select_uncertain_diverse([0.1] * 3, groups, articles, texts, 1, per_article=0)
    with pytest.raises(ValueError, match=r"max_jaccard must be in \(0, 1\]"):
        select_uncertain_diverse([0.1] * 3, groups, articles, texts, 1, max_jaccard=0)
    with pytest.raises(ValueError, match="differ in length"):
        select_uncertain_diverse([0.1] * 2, groups, articles, texts, 1)


def test_select_groups_offers_the_strategy_and_needs_scores():
    records = [sentence(i, article=1 if i < 4 else i) for i in range(8)]
    groups, _ = group_sentences((f"in.jsonl:{i + 1}", r) for i, r in enumerate(records))
    scores = {g.sentence_id: s for g, s in zip(groups, [0.01, 0.02, 0.03, 0.04, 0.5, 0.6, 0.7, 0.8])}
    picked = select_groups(groups, 4, "uncertainty+diversity", scores)
    # article 1 holds the four least confident: two of them, then the next articles
    assert {g.sentence_id for g in picked} == {groups[i].sentence_id for i in (0, 1, 4, 5)}
    assert {g.sentence_id for g in select_groups(groups, 4, "uncertainty", scores)} == \
        {groups[i].sentence_id for i in range(4)}
    with pytest.raises(ValueError, match="uncertainty\\+diversity sampling needs model scores"):
        select_groups(groups, 2, "uncertainty+diversity")
