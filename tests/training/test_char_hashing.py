"""NumPy character n-gram hashing: counts match a plain Python count."""
from __future__ import annotations

from collections import Counter

import numpy as np

from training.char_hashing import CharNgramHasher


def _python_ngrams(text: str, lo: int, hi: int) -> Counter:
    padded = f" {text.lower()} "
    return Counter(padded[i:i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1))


def test_counts_match_python_ngrams_per_document():
    texts = ["Russia accused NATO.", "Ab", "Über Äpfel"]
    hasher = CharNgramHasher((2, 4), 2 ** 22).fit(texts)
    x = hasher.transform(texts).toarray()
    for i, text in enumerate(texts):
        expected = sorted(_python_ngrams(text, 2, 4).values())
        assert sorted(v for v in x[i] if v) == expected  # no collisions at 2**22 buckets for these few


def test_unseen_ngrams_are_dropped_and_empty_input_is_fine():
    hasher = CharNgramHasher((3, 3)).fit(["abc"])
    assert hasher.n_columns_ == 3  # " ab", "abc", "bc "
    assert hasher.transform(["xyz"]).nnz == 0
    assert hasher.transform(["abc"]).sum() == 3
    assert hasher.transform([]).shape == (0, 3)


def test_documents_do_not_share_ngrams_across_boundaries():
    hasher = CharNgramHasher((2, 2)).fit(["ab", "cd"])
    x = hasher.transform(["ab", "cd"]).toarray()
    assert x.sum(axis=1).tolist() == [3, 3]
    assert np.all((x[0] > 0) != (x[1] > 0))


def test_a_nul_inside_a_text_neither_splits_it_nor_shifts_the_rows_after_it():
    texts = ["Russia accused NATO.", "Talks resumed."]
    hasher = CharNgramHasher((2, 4), 2 ** 22).fit(texts)
    with_nul = hasher.transform(["Russia\x00 accused\x00\x00 NATO.", "Talks resumed."]).toarray()
    assert with_nul.shape == (2, hasher.n_columns_)
    assert np.array_equal(with_nul, hasher.transform(["Russia accused NATO.", "Talks resumed."]).toarray())
