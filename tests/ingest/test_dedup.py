"""Near-duplicate groups: the same quote across outlets shares a group id."""
from __future__ import annotations

import pytest

from labeling.ingest.dedup import GroupIndex, assign_groups, content_stems

OUTLETS = [
    "Ostland refuses to consider our proposals to reduce tension and prevent dangerous incidents, Kallis said.",
    "\u201cOstland is refusing to constructively consider our proposals to de-escalate tensions and prevent dangerous incidents,\u201d the minister said.",
    "Kallis said on Tuesday that Ostland refuses to consider proposals to ease tensions and prevent dangerous incidents from happening.",
]
UNRELATED = [
    "Fishing quotas for the northern coast were raised by ten percent this spring.",
    "Kallis said on Tuesday that the harbour would reopen for tourists in May.",
]


def _records(texts):
    return [{"sentence_id": f"s-{i:016x}", "article_id": f"a-{i}", "text": t} for i, t in enumerate(texts)]


def test_paraphrased_quote_from_three_outlets_shares_one_group():
    records = _records(OUTLETS + UNRELATED)
    report = assign_groups(records)
    groups = [r["group_id"] for r in records]
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[0], groups[3], groups[4]}) == 3
    assert report.multi_groups == 1 and report.largest[0]["size"] == 3 and report.largest[0]["articles"] == 3
    assert report.largest[0]["example"] == OUTLETS[0]


def test_group_ids_are_stable_and_independent_of_order():
    forward = _records(OUTLETS + UNRELATED)
    backward = list(reversed(_records(OUTLETS + UNRELATED)))
    assign_groups(forward)
    assign_groups(backward)
    by_id = {r["sentence_id"]: r["group_id"] for r in backward}
    assert all(by_id[r["sentence_id"]] == r["group_id"] for r in forward)
    assert all(r["group_id"].startswith("g-") and len(r["group_id"]) == 18 for r in forward)


def test_exact_duplicates_without_content_words_are_grouped():
    records = _records(["It was.", "it was", "They were."])
    assign_groups(records)
    assert records[0]["group_id"] == records[1]["group_id"] != records[2]["group_id"]


def test_stems_drop_stop_words_and_cut_words():
    assert content_stems("NATO is refusing the proposals") == ["nato", "propo", "refus"]


def test_missing_field_is_an_error_naming_it():
    with pytest.raises(KeyError, match="record 0: missing field 'sentence_id'"):
        assign_groups([{"text": "x"}])


def test_index_rejects_bands_that_do_not_divide_permutations():
    from labeling.ingest.dedup import GroupOptions

    with pytest.raises(ValueError, match="multiple of rows_per_band"):
        GroupIndex(GroupOptions(num_perm=63, rows_per_band=2))


def test_batched_signatures_equal_datasketch_minhash():
    import numpy as np
    from datasketch import MinHash

    from labeling.ingest.dedup import stem_id, stem_ids

    index = GroupIndex()
    stems = [content_stems(t) for t in OUTLETS]
    batch = index.signatures(stem_ids([s for row in stems for s in row]), np.array([len(row) for row in stems]))
    for row, signature in zip(stems, batch):
        expected = MinHash(num_perm=64, seed=7, hashfunc=stem_id)
        expected.update_batch([s.encode("utf-8") for s in row])
        assert (expected.hashvalues == signature).all()


def test_vectorised_verification_matches_set_arithmetic():
    import numpy as np

    from labeling.ingest.dedup import GroupOptions

    texts = OUTLETS + UNRELATED + ["Ostland refuses to consider proposals, Kallis said on Tuesday in the harbour."]
    index = GroupIndex(GroupOptions())
    for i, text in enumerate(texts):
        index.add(f"s{i}", text, i)
    index._flush()
    a, b = np.triu_indices(len(texts), 1)
    got = index._similar(a, b)
    o = index.options
    for x, y, ok in zip(a.tolist(), b.tolist(), got.tolist()):
        sa, sb = set(content_stems(texts[x])), set(content_stems(texts[y]))
        inter = len(sa & sb)
        want = (inter >= min(o.min_shared, len(sa), len(sb)) and inter / len(sa | sb) >= o.min_jaccard
                and inter / min(len(sa), len(sb)) >= o.min_overlap)
        assert ok == want, (texts[x], texts[y])


def test_bands_of_three_rows_still_group_the_shared_quote():
    from labeling.ingest.dedup import GroupOptions

    records = _records(OUTLETS[:2] + UNRELATED)
    assign_groups(records, GroupOptions(num_perm=96, rows_per_band=3))
    assert records[0]["group_id"] == records[1]["group_id"] != records[2]["group_id"]
