"""Near-duplicate sentence groups across articles: MinHash signatures, LSH banding, verification.

The same quote carried by several outlets differs in small edits and translation
("NATO refuses to consider our proposals" / "NATO is refusing to constructively consider
our proposals"), so sentences are compared as sets of content-word stems (stop words
removed, words cut to 5 characters: `refusing`/`refuses` -> `refus`).

Signatures are datasketch MinHash signatures (its affine32 permutations over a stable
32-bit id per stem), but computed for thousands of sentences at once with numpy instead
of one MinHash object per sentence, which was the largest cost of ingestion. Exact
repeats (same words) are joined through a hash map and never hashed again. The signatures are banded (LSH, 2 rows
a band: high recall at the low Jaccard that paraphrases reach); colliding pairs are first
screened by the Jaccard the signatures estimate (vectorised), then verified exactly on
the stem sets (products of rows of a sparse sentence x stem matrix): enough shared stems,
Jaccard and overlap (share of the shorter sentence).

Memory per sentence is ~300 bytes (a 16-bit signature row, its stem ids, its key and an
exact-repeat entry), and about as much again while `finish` holds the sparse stem matrix,
so a corpus of millions of sentences fits.
"""
from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, islice

import numpy as np
from datasketch import MinHash
from scipy import sparse

from labeling.config import StrictModel
from labeling.ingest.stems import content_stems, fmix32, stem_id, stem_ids, stems_of, words

__all__ = ["GroupIndex", "GroupIds", "GroupOptions", "GroupReport", "assign_groups", "content_stems", "group_id_for",
           "stem_id", "stem_ids"]

_GROWTH = 1.25
_START_ROWS = 4096
# Sentences hashed together in one numpy pass (small batches keep the temporaries, and so the heap, small).
_BATCH = 1024
# Pairs whose signatures estimate a Jaccard this many standard errors below min_jaccard are
# not verified: at 64 permutations and 0.3 that is an estimate under 0.16, which a pair at
# the threshold reaches with probability ~0.006 and a pair at 0.4 with ~5e-5.
_SCREEN_SIGMAS = 2.5
# Candidate pairs verified per numpy pass (bounds the temporary arrays).
_PAIR_CHUNK = 65536


def group_id_for(key: str) -> str:
    """Stable group id derived from the group's smallest member key."""
    return "g-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


class GroupOptions(StrictModel):
    """Near-duplicate thresholds (see configs/ingest.yaml)."""

    num_perm: int = 64
    rows_per_band: int = 2
    min_shared: int = 4
    min_jaccard: float = 0.3
    min_overlap: float = 0.6


@dataclass
class GroupReport:
    """Summary of grouping: counts and the largest multi-member groups."""

    sentences: int = 0
    groups: int = 0
    multi_groups: int = 0
    grouped_sentences: int = 0
    largest: list[dict] = field(default_factory=list)  # group_id, size, articles, example


class GroupIndex:
    """Streaming near-duplicate index: `add` sentences one by one, then `finish` once."""

    def __init__(self, options: GroupOptions | None = None) -> None:
        self.options = options or GroupOptions()
        o = self.options
        if o.num_perm % o.rows_per_band:
            raise ValueError(f"num_perm ({o.num_perm}) must be a multiple of rows_per_band ({o.rows_per_band})")
        # datasketch's own permutation parameters: signatures equal MinHash(..., hashfunc=stem_id).
        perm = MinHash(num_perm=o.num_perm, seed=7, hashfunc=stem_id).permutations
        self._a, self._b = perm[0].astype(np.uint32), perm[1].astype(np.uint32)
        # Low 16 bits of each MinHash value: a band of 2 rows still has 2**32 keys and agreement
        # estimates stay exact up to 1/65536 chance collisions, at half the memory per sentence.
        self._sigs = np.zeros((_START_ROWS, o.num_perm), dtype=np.uint16)
        self._articles = np.zeros(_START_ROWS, dtype=np.int32)
        self._exact_of = np.zeros(_START_ROWS, dtype=np.int32)  # first sentence with the same words
        self._stems = array("I")  # stem ids of all hashed sentences, end to end
        self._offsets = array("q", [0])
        self._key_blob = bytearray()  # keys as UTF-8, end to end: ~4x smaller than a list of str
        self._key_offsets = array("q", [0])
        self._hashed = array("q")  # positions of the sentences with a signature row, in row order
        self._exact: dict[int, int] = {}
        self._pending: list[int] = []  # positions added but not yet hashed ...
        self._pending_stems: list[str] = []  # ... and their stems, end to end

    def __len__(self) -> int:
        return len(self._key_offsets) - 1

    def key(self, i: int) -> str:
        """The key sentence `i` was added under."""
        return self._key_blob[self._key_offsets[i]:self._key_offsets[i + 1]].decode("utf-8")

    def _grow(self, n: int, m: int) -> None:
        # In-place realloc (mremap for large arrays): no second copy at the peak.
        if n >= len(self._articles):
            size = int(len(self._articles) * _GROWTH) + _START_ROWS
            self._articles.resize(size, refcheck=False)
            self._exact_of.resize(size, refcheck=False)
        if m >= len(self._sigs):
            self._sigs.resize((int(len(self._sigs) * _GROWTH) + _START_ROWS, self._sigs.shape[1]), refcheck=False)

    def signatures(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """MinHash signatures (uint32, a row per sentence) from stem ids laid end to end.

        Inputs: the stem ids of several sentences concatenated and each sentence's count
        (all counts >= 1). Equal to datasketch's MinHash(num_perm, seed=7, hashfunc=stem_id).
        """
        phv = fmix32(ids)[:, None] * self._a[None, :] + self._b[None, :]  # uint32: wraparound is the modulo
        return np.minimum.reduceat(phv, np.cumsum(lengths) - lengths, axis=0)

    def _flush(self) -> None:
        if not self._pending:
            return
        ids = stem_ids(self._pending_stems)
        pos = np.asarray(self._pending, dtype=np.int64)
        off = np.frombuffer(self._offsets, dtype=np.int64)
        lengths = off[pos + 1] - off[pos]
        first_row = len(self._hashed) - len(pos)  # pending sentences hold the last signature rows
        self._sigs[first_row:len(self._hashed)] = self.signatures(ids, lengths).astype(np.uint16)
        # Each sentence's stem ids in ascending order: rows of a canonical sparse matrix for verification.
        keys = (np.repeat(np.arange(len(pos), dtype=np.uint64), lengths) << np.uint64(32)) | ids
        keys.sort()
        self._stems.frombytes((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32).tobytes())
        del off  # release the buffer: the array grows again
        self._pending, self._pending_stems = [], []

    def add(self, key: str, text: str, article: int = 0) -> int:
        """Index one sentence under `key` (its sentence id); returns its position."""
        return self.add_many([key], [text], article)

    def add_many(self, keys: Sequence[str], texts: Sequence[str], article: int = 0) -> int:
        """Index the sentences of one article under their keys; returns the first one's position."""
        start = len(self)
        count = len(keys)
        self._grow(start + count, len(self._hashed) + count)
        self._articles[start:start + count] = article
        encoded = [key.encode("utf-8") for key in keys]
        self._key_blob += b"".join(encoded)
        self._key_offsets.extend(islice(accumulate(map(len, encoded), initial=self._key_offsets[-1]), 1, None))
        token_lists = [words(text) for text in texts]
        # Python's hash is stable within one run, which is all the exact map needs.
        setdefault = self._exact.setdefault
        firsts = [setdefault(hash(" ".join(tokens)), n) for n, tokens in enumerate(token_lists, start)]
        self._exact_of[start:start + count] = firsts
        offsets, hashed, pending, pending_stems = self._offsets, self._hashed, self._pending, self._pending_stems
        for n, (tokens, first) in enumerate(zip(token_lists, firsts), start):
            stems = stems_of(tokens) if first == n else ()  # a repeat is joined by the exact map
            offsets.append(offsets[-1] + len(stems))
            if stems:
                hashed.append(n)
                pending.append(n)
                pending_stems.extend(stems)
        if len(pending) >= _BATCH:
            self._flush()
        return start

    def _stem_matrix(self) -> sparse.csr_matrix:
        """Sentences x stem ids, a 1 per content stem (rows of unhashed repeats are empty)."""
        off = np.frombuffer(self._offsets, dtype=np.int64)
        stems = np.frombuffer(self._stems, dtype=np.uint32).astype(np.int64)
        matrix = sparse.csr_matrix((np.ones(len(stems), dtype=np.int8), stems, off.copy()), shape=(len(self), 2**32))
        matrix.has_sorted_indices = True  # sorted per sentence when flushed
        return matrix

    def _similar(self, a: np.ndarray, b: np.ndarray, matrix: sparse.csr_matrix | None = None) -> np.ndarray:
        """Exact verification of pairs (a[k], b[k]) on their stem sets, vectorised: a bool per pair."""
        o = self.options
        matrix = self._stem_matrix() if matrix is None else matrix
        off = np.frombuffer(self._offsets, dtype=np.int64)
        la, lb = off[a + 1] - off[a], off[b + 1] - off[b]
        # Products of 0/1 rows with sorted columns: a linear merge per pair, no sort.
        inter = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1, dtype=np.int64)).ravel()
        shorter = np.minimum(la, lb)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((shorter > 0) & (inter >= np.minimum(o.min_shared, shorter))
                    & (inter >= o.min_jaccard * (la + lb - inter)) & (inter >= o.min_overlap * shorter))

    def _band_keys(self, m: int, j: int) -> np.ndarray:
        r = self.options.rows_per_band
        block = self._sigs[:m, j * r:(j + 1) * r].astype(np.uint64)
        key = block[:, 0]
        for k in range(1, r):  # 16 bits a row: exact up to two rows, a polynomial combine beyond
            key = (key << np.uint64(16)) | block[:, k] if r <= 2 else key * np.uint64(0x9E3779B97F4A7C15) + block[:, k]
        return key

    def _band_order(self, keys: np.ndarray) -> np.ndarray:
        """Stable argsort of one band's keys; a plain sort of (key, row) when both fit 64 bits."""
        m = len(keys)
        if self.options.rows_per_band <= 2 and m < 2**32:
            packed = (keys << np.uint64(32)) | np.arange(m, dtype=np.uint64)
            packed.sort()
            return (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
        return np.argsort(keys, kind="stable")

    def _candidate_pairs(self, m: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Signature rows (bucket leader, member) in one band whose signatures estimate a high enough Jaccard."""
        keys = self._band_keys(m, j)
        order = self._band_order(keys)
        values = keys[order]
        new = np.r_[True, values[1:] != values[:-1]]
        leader_pos = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
        members = ~new
        a, b = order[leader_pos[members]], order[members]
        a, b = np.minimum(a, b), np.maximum(a, b)
        o = self.options
        floor = o.min_jaccard - _SCREEN_SIGMAS * (o.min_jaccard * (1 - o.min_jaccard) / o.num_perm) ** 0.5
        keep = np.zeros(len(a), dtype=bool)
        for c in range(0, len(a), _PAIR_CHUNK):  # chunks bound the (pairs x num_perm) temporaries
            agree = np.count_nonzero(self._sigs[a[c:c + _PAIR_CHUNK]] == self._sigs[b[c:c + _PAIR_CHUNK]], axis=1)
            keep[c:c + _PAIR_CHUNK] = agree >= floor * o.num_perm
        return a[keep], b[keep]

    def _unions(self) -> dict[int, int]:
        """Union-find parents of the sentences that verified near-duplicate pairs joined (others are roots)."""
        o = self.options
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while (p := parent.get(x, x)) != x:
                parent[x] = x = parent.get(p, p)  # path halving
            return x

        m = len(self._hashed)
        if m < 2:
            return {}
        # A pair colliding in several bands is verified once: one unique over all bands' screened pairs
        # (screening keeps a small share of the collisions, so holding them all costs little).
        pairs = np.unique(np.concatenate([np.zeros(0, dtype=np.int64)] + [
            a * m + b for a, b in (self._candidate_pairs(m, j) for j in range(o.num_perm // o.rows_per_band))]))
        positions = np.frombuffer(self._hashed, dtype=np.int64)
        matrix = self._stem_matrix()
        for chunk in range(0, len(pairs), _PAIR_CHUNK):
            a, b = positions[pairs[chunk:chunk + _PAIR_CHUNK] // m], positions[pairs[chunk:chunk + _PAIR_CHUNK] % m]
            ok = self._similar(a, b, matrix)
            for x, y in zip(a[ok].tolist(), b[ok].tolist()):
                ra, rb = find(x), find(y)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        return {x: find(x) for x in list(parent)}

    def finish(self, top: int = 10) -> tuple[GroupIds, GroupReport]:
        """Group all added sentences; returns (group id per position, report).

        Memory: a 4-byte root per sentence; group ids are derived when read, and only
        multi-member groups keep a table entry.
        """
        self._flush()
        n = len(self)
        rep = np.arange(n, dtype=np.int32)
        joined = self._unions()
        if joined:
            rep[np.fromiter(joined.keys(), dtype=np.int64, count=len(joined))] = list(joined.values())
        roots = rep[self._exact_of[:n]]  # exact repeats follow their first occurrence
        sizes = np.bincount(roots, minlength=n)
        members = np.flatnonzero(sizes[roots] > 1)
        smallest: dict[int, str] = {}
        articles: dict[int, set[int]] = {}
        for i, r in zip(members.tolist(), roots[members].tolist()):
            key = self.key(i)
            if r not in smallest or key < smallest[r]:
                smallest[r] = key
            articles.setdefault(r, set()).add(int(self._articles[i]))
        multi = {r: group_id_for(key) for r, key in smallest.items()}
        largest = sorted(multi, key=lambda r: (-len(articles[r]), -int(sizes[r]), multi[r]))[:top]
        report = GroupReport(
            sentences=n, groups=int(np.count_nonzero(sizes)), multi_groups=len(multi), grouped_sentences=len(members),
            largest=[{"group_id": multi[r], "size": int(sizes[r]), "articles": len(articles[r]), "example": None}
                     for r in largest],
        )
        return GroupIds(self, roots, multi), report


class GroupIds(Sequence):
    """Group id per sentence position, derived on demand (singletons from their own key)."""

    def __init__(self, index: GroupIndex, roots: np.ndarray, multi: dict[int, str]) -> None:
        self._index, self._roots, self._multi = index, roots, multi

    def __len__(self) -> int:
        return len(self._roots)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._multi.get(int(self._roots[i])) or group_id_for(self._index.key(i))

    def joined(self) -> Iterator[tuple[int, str]]:
        """(position, group id) of the sentences in multi-member groups, in position order."""
        if not self._multi:
            return
        roots = self._roots
        in_multi = np.isin(roots, np.fromiter(self._multi, dtype=roots.dtype, count=len(self._multi)))
        for i, r in zip(np.flatnonzero(in_multi).tolist(), roots[in_multi].tolist()):
            yield i, self._multi[r]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self._roots), 65536):
            for i, r in enumerate(self._roots[start:start + 65536].tolist(), start):
                yield self._multi.get(r) or group_id_for(self._index.key(i))


def assign_groups(records: list[dict], options: GroupOptions | None = None) -> GroupReport:
    """Set `group_id` on every sentence record in place; near-duplicates share one.

    Inputs: records with `sentence_id`, `text` and (optionally) `article_id`.
    Output: a GroupReport; the largest groups carry an example text.
    Raises KeyError naming the field when a record lacks `sentence_id` or `text`.
    """
    index = GroupIndex(options)
    article_no: dict[str, int] = {}
    for i, rec in enumerate(records):
        for name in ("sentence_id", "text"):
            if name not in rec:
                raise KeyError(f"record {i}: missing field {name!r}")
        art = article_no.setdefault(str(rec.get("article_id")), len(article_no))
        index.add(rec["sentence_id"], rec["text"], art)
    ids, report = index.finish()
    examples = {row["group_id"]: row for row in report.largest}
    for rec, gid in zip(records, ids):
        rec["group_id"] = gid
        if gid in examples and examples[gid]["example"] is None:
            examples[gid]["example"] = rec["text"]
    return report
