"""Character n-gram counts hashed in NumPy: scikit-learn's char analyzer is a Python loop
per n-gram (about 2,000 sentences/s), this is one vectorised pass over all texts.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

_SEP = 0  # code point that never occurs in normalised text: marks document boundaries
_MULT = np.uint64(0x100000001B3)  # FNV-1a prime: cheap, well-mixed rolling hash


class CharNgramHasher(TransformerMixin, BaseEstimator):
    """Texts -> sparse (n, n_features) counts of lowercased character n-grams.

    Each text is padded with a space on both sides, so word starts and ends form their own
    n-grams (like `char_wb`). fit keeps only the buckets seen in training, renumbered
    densely: unseen n-grams carry no weight anyway, and a narrow matrix keeps the
    logistic-regression solver fast.
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), n_features: int = 2 ** 20):
        self.ngram_range = ngram_range
        self.n_features = n_features

    def fit(self, texts: Sequence[str], y=None) -> "CharNgramHasher":
        """Record which hash buckets occur in `texts`; returns self."""
        _, buckets = self._hash(list(texts))
        used = np.unique(buckets)
        self.index_ = np.full(self.n_features, -1, dtype=np.int64)
        self.index_[used] = np.arange(len(used))
        self.n_columns_ = len(used)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(len(texts), number of buckets seen in fit) float CSR matrix of n-gram counts."""
        texts = list(texts)
        if not texts:
            return sp.csr_matrix((0, self.n_columns_))
        rows, buckets = self._hash(texts)
        cols = self.index_[buckets]
        keep = cols >= 0
        counts = sp.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])),
                               shape=(len(texts), self.n_columns_))
        return counts.tocsr()

    def _hash(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document index, hash bucket) of every n-gram of every text."""
        if not texts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # NUL separates the documents: one inside a text (a CSV export's padding) would split it
        # in two and shift every row after it, so it is dropped (no other text changes its n-grams).
        joined = "\x00".join(f" {t.lower().replace(chr(0), '')} " for t in texts) + "\x00"
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        is_sep = codes == _SEP
        doc_of = np.cumsum(is_sep) - is_sep  # document index of each position
        seps_before = np.concatenate([[0], np.cumsum(is_sep)])
        rows, cols = [], []
        lo, hi = self.ngram_range
        with np.errstate(over="ignore"):  # the hash relies on uint64 wrap-around
            h = np.full(len(codes), np.uint64(0xCBF29CE484222325))
            for n in range(1, hi + 1):
                h = (h[:len(codes) - n + 1] ^ codes[n - 1:]) * _MULT
                if n < lo:
                    continue
                # keep windows that contain no document separator
                ok = seps_before[n:len(codes) + 1] - seps_before[:len(codes) - n + 1] == 0
                rows.append(doc_of[:len(ok)][ok])
                cols.append((h[ok] % np.uint64(self.n_features)).astype(np.int64))
        return np.concatenate(rows), np.concatenate(cols)
