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



def test_push_next_with_the_strategy_spreads_a_batch_over_articles(tmp_path):
    """`stance label push --model M --next 4`, a real tiny baseline: plain uncertainty takes three or
    more of article 1's six uncertain sentences, uncertainty+diversity two, then one of each other article."""
    import json

    from tests.helpers import cli_invoker, train_tiny_baseline
    from tests.studio.helpers import TEXTS, write_sentences

    rows = [{"text": t, "labels": labels, "group_id": f"g-{i}", "article_id": f"a-{i}"}
            for i, (t, labels) in enumerate([(TEXTS[0], ["escalation"]), (TEXTS[1], ["de-escalation"]),
                                             (TEXTS[2], ["accusation"]), (TEXTS[3], ["denial"]), (TEXTS[4], [])] * 3)]
    model = train_tiny_baseline(rows[:10], rows[10:], tmp_path / "model", c_grid=[1.0], max_word_features=500,
                                char_buckets=2 ** 10, char_ngrams=(3, 4))
    # article 1: sentences unlike anything trained on; articles 2 and 3: training sentences (confident)
    novel = ["Rebels shelled the airport overnight.", "Parliament approved the budget on Friday.",
             "Farmers blocked highways over grain prices.", "The envoy toured flooded villages.",
             "Satellite images showed new runways.", "Voters queued for hours in the capital."]
    records = [sentence(i, text=t) for i, t in enumerate(novel)]
    records += [sentence(6, article=2, text=TEXTS[0]), sentence(7, article=3, text=TEXTS[1])]
    src = write_sentences(tmp_path / "s.jsonl", records)

    def articles(strategy: str) -> list[str]:
        out = tmp_path / f"{strategy}.json"
        res = cli_invoker("label")("push", src, "--to-file", out, "--model", model, "--next", 4, "--strategy", strategy)
        assert res.exit_code == 0, res.output
        tasks = json.loads(out.read_text())
        assert len(tasks) == 4 and all(t["predictions"] for t in tasks)
        return sorted(t["data"]["article_id"] for t in tasks)

    first = records[0]["article_id"]
    assert articles("uncertainty").count(first) >= 3  # the setting is one where diversity has work to do
    assert articles("uncertainty+diversity") == sorted([first] * 2 + [records[6]["article_id"], records[7]["article_id"]])


def test_select_groups_takes_groups_without_text_or_article():
    """The ML backend builds groups from Label Studio tasks, which may lack fields push writes."""
    from labeling.studio.tasks import Group

    groups = [Group(representative={"sentence_id": f"s{i}", "group_id": f"g{i}"}) for i in range(3)]
    picked = select_groups(groups, 2, "uncertainty+diversity", {"s0": 0.5, "s1": 0.1, "s2": 0.3})
    assert {g.sentence_id for g in picked} == {"s1", "s2"}
