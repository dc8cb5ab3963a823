"""Near-duplicate sentence groups across articles: MinHash signatures, LSH banding, verification.

The same quote carried by several outlets differs in small edits and translation
("NATO refuses to consider our proposals" / "NATO is refusing to constructively consider
our proposals"), so sentences are compared as sets of content-word stems (stop words
removed, words cut to 5 characters: `refusing`/`refuses` -> `refus`).

Signatures are datasketch MinHash signatures (its affine32 permutations over a stable
32-bit id per stem), but computed for thousands of sentences at once with numpy instead
of one MinHash object per sentence, which was the largest cost of ingestion. Exact repeats (same words) are
joined through a hash map and never hashed again. The signatures are banded (LSH, 2 rows
a band: high recall at the low Jaccard that paraphrases reach); colliding pairs are first
screened by the Jaccard the signatures estimate (vectorised), then verified exactly on
the stem sets: enough shared stems, Jaccard and overlap (share of the shorter sentence).

Memory per sentence is a fixed-size numpy row, its stem hashes and its key, so a corpus
of millions of sentences fits.
"""
from __future__ import annotations

import hashlib
import re
from array import array
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np
from datasketch import MinHash

from labeling.config import StrictModel

_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "a an the and or but of to in on at by for with from as into about over after before than then that this these "
    "those there here is are was were be been being has have had do does did will would shall should can could may "
    "might must not no it its he she they them his her their our we us you your i me my who whom which what when "
    "where why how also said says say just only very more most such so if while".split()
)
# Stop words and small numbers (list markers and counters) are not content.
_DROP = _STOP | {str(i) for i in range(100)} | {f"{i:02d}" for i in range(10)}
_GROWTH = 1.5
STEM_CHARS = 5  # stems are words cut to this many characters
_POWERS = np.array([0x9E3779B97F4A7C15 ** (i + 1) % 2**64 for i in range(STEM_CHARS)], dtype=np.uint64)
# Sentences hashed together in one numpy pass.
_BATCH = 4096
# Pairs whose signatures estimate a Jaccard this many standard errors below min_jaccard are
# not verified: at 64 permutations and 0.3 that is an estimate under 0.16, which a pair at
# the threshold reaches with probability ~0.006 and a pair at 0.4 with ~5e-5.
_SCREEN_SIGMAS = 2.5
# Candidate pairs verified per numpy pass (bounds the temporary arrays).
_PAIR_CHUNK = 200_000


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stems_of(words: list[str], prefix: int = STEM_CHARS) -> set[str]:
    # Set difference and map run in C: this is per sentence, on the hot path.
    return set(map(itemgetter(slice(0, prefix)), set(words) - _DROP))


def content_stems(text: str, prefix: int = STEM_CHARS) -> list[str]:
    """Distinct content-word stems of `text`: lowercase, stop words dropped, cut to `prefix` chars."""
    return sorted(_stems_of(_words(text), prefix))


def group_id_for(key: str) -> str:
    """Stable group id derived from the group's smallest member key."""
    return "g-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated index ranges [s, s + l) for each (s, l), without a Python loop."""
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total, dtype=np.int64)


def stem_ids(stems: list[str]) -> np.ndarray:
    """Stable 32-bit ids of stems (at most STEM_CHARS characters), for many stems in one numpy pass.

    A polynomial over the code points, mixed with MurmurHash3's 64-bit finalizer; the
    same in every run and process (Python's str hash is not), so groups are reproducible.
    """
    points = np.array(stems, dtype=f"<U{STEM_CHARS}").view(np.uint32).reshape(len(stems), STEM_CHARS)
    h = (points.astype(np.uint64) * _POWERS).sum(axis=1, dtype=np.uint64)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def stem_id(stem: bytes | str) -> int:
    """One stem's id (datasketch `hashfunc` form: accepts the UTF-8 bytes too)."""
    return int(stem_ids([stem.decode("utf-8") if isinstance(stem, bytes) else stem])[0])


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before its affine permutations."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


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
        self._sigs = np.zeros((1024, o.num_perm), dtype=np.uint32)
        self._articles = np.zeros(1024, dtype=np.int64)
        self._exact_of = np.zeros(1024, dtype=np.int64)
        self._stems = array("I")  # stem ids of all hashed sentences, end to end
        self._offsets = array("q", [0])
        self._keys: list[str] = []
        self._exact: dict[int, int] = {}
        self._pending: list[int] = []  # positions added but not yet hashed ...
        self._pending_stems: list[str] = []  # ... and their stems, end to end

    def __len__(self) -> int:
        return len(self._keys)

    def _grow(self, n: int) -> None:
        if n >= len(self._sigs):
            size = int(len(self._sigs) * _GROWTH) + 1
            self._sigs = np.resize(self._sigs, (size, self._sigs.shape[1]))
            self._articles = np.resize(self._articles, size)
            self._exact_of = np.resize(self._exact_of, size)

    def signatures(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """MinHash signatures (uint32, a row per sentence) from stem ids laid end to end.

        Inputs: the stem ids of several sentences concatenated and each sentence's count
        (all counts >= 1). Equal to datasketch's MinHash(num_perm, seed=7, hashfunc=stem_id).
        """
        phv = _fmix32(ids)[:, None] * self._a[None, :] + self._b[None, :]  # uint32: wraparound is the modulo
        return np.minimum.reduceat(phv, np.cumsum(lengths) - lengths, axis=0)

    def _flush(self) -> None:
        if not self._pending:
            return
        ids = stem_ids(self._pending_stems)
        self._stems.frombytes(ids.tobytes())
        pos = np.asarray(self._pending, dtype=np.int64)
        off = np.frombuffer(self._offsets, dtype=np.int64)
        self._sigs[pos] = self.signatures(ids, off[pos + 1] - off[pos])
        del off  # release the buffer: the array grows again
        self._pending, self._pending_stems = [], []

    def add(self, key: str, text: str, article: int = 0) -> int:
        """Index one sentence under `key` (its sentence id); returns its position."""
        n = len(self._keys)
        self._grow(n)
        self._keys.append(key)
        self._articles[n] = article
        words = _words(text)
        # Python's hash is stable within one run, which is all the exact map needs.
        first = self._exact.setdefault(hash(" ".join(words)), n)
        self._exact_of[n] = first
        stems = _stems_of(words) if first == n else ()  # a repeat is joined by the exact map
        self._offsets.append(self._offsets[-1] + len(stems))
        if stems:
            self._pending.append(n)
            self._pending_stems.extend(stems)
            if len(self._pending) >= _BATCH:
                self._flush()
        return n

    def _similar(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact verification of pairs (a[k], b[k]) on their stem sets, vectorised: a bool per pair."""
        o = self.options
        off = np.frombuffer(self._offsets, dtype=np.int64)
        stems = np.frombuffer(self._stems, dtype=np.uint32)
        la, lb = off[a + 1] - off[a], off[b + 1] - off[b]
        pair = np.arange(len(a), dtype=np.uint64)
        # Stems are distinct within a sentence, so a (pair, stem) key seen twice is a shared stem.
        keys = np.concatenate([(np.repeat(pair, la) << np.uint64(32)) | stems[_ranges(off[a], la)],
                               (np.repeat(pair, lb) << np.uint64(32)) | stems[_ranges(off[b], lb)]])
        keys.sort()
        shared = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
        inter = np.bincount(shared.astype(np.int64), minlength=len(a))
        shorter = np.minimum(la, lb)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((shorter > 0) & (inter >= np.minimum(o.min_shared, shorter))
                    & (inter >= o.min_jaccard * (la + lb - inter)) & (inter >= o.min_overlap * shorter))

    def _band_keys(self, rows: np.ndarray, j: int) -> np.ndarray:
        r = self.options.rows_per_band
        block = self._sigs[rows, j * r:(j + 1) * r].astype(np.uint64)
        key = block[:, 0]
        for k in range(1, r):  # polynomial combine, wrapping in uint64
            key = key * np.uint64(0x9E3779B97F4A7C15) + block[:, k]
        return key

    def _candidate_pairs(self, rows: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (bucket leader, member) of one band whose signatures estimate a high enough Jaccard."""
        keys = self._band_keys(rows, j)
        order = np.argsort(keys, kind="stable")
        values = keys[order]
        new = np.r_[True, values[1:] != values[:-1]]
        leader_pos = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
        members = ~new
        a, b = rows[order[leader_pos[members]]], rows[order[members]]
        a, b = np.minimum(a, b), np.maximum(a, b)
        o = self.options
        floor = o.min_jaccard - _SCREEN_SIGMAS * (o.min_jaccard * (1 - o.min_jaccard) / o.num_perm) ** 0.5
        keep = (self._sigs[a] == self._sigs[b]).mean(axis=1) >= floor
        return a[keep], b[keep]

    def finish(self, top: int = 10) -> tuple[list[str], GroupReport]:
        """Group all added sentences; returns (group id per position, report)."""
        self._flush()
        o, n = self.options, len(self._keys)
        parent = list(range(n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, first in enumerate(self._exact_of[:n].tolist()):
            if first != i:
                parent[find(i)] = find(first)
        off = np.frombuffer(self._offsets, dtype=np.int64)
        rows = np.flatnonzero(off[1:n + 1] > off[:n])  # hashed sentences only
        if len(rows) > 1:
            # A pair colliding in several bands is verified once: unique over all bands.
            pairs = np.unique(np.concatenate([a * n + b for a, b in (self._candidate_pairs(rows, j) for j in
                                                                       range(o.num_perm // o.rows_per_band))]))
            for chunk in range(0, len(pairs), _PAIR_CHUNK):
                a, b = pairs[chunk:chunk + _PAIR_CHUNK] // n, pairs[chunk:chunk + _PAIR_CHUNK] % n
                ok = self._similar(a, b)
                for x, y in zip(a[ok].tolist(), b[ok].tolist()):
                    ra, rb = find(x), find(y)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        roots = [find(i) for i in range(n)]
        smallest: dict[int, str] = {}
        for key, r in zip(self._keys, roots):
            if r not in smallest or key < smallest[r]:
                smallest[r] = key
        gid = {r: group_id_for(key) for r, key in smallest.items()}
        ids = [gid[r] for r in roots]
        return ids, self._report(ids, top)

    def _report(self, ids: list[str], top: int) -> GroupReport:
        sizes: dict[str, int] = {}
        for g in ids:
            sizes[g] = sizes.get(g, 0) + 1
        articles: dict[str, set[int]] = {}
        for i, g in enumerate(ids):
            if sizes[g] > 1:
                articles.setdefault(g, set()).add(int(self._articles[i]))
        multi = {g: s for g, s in sizes.items() if s > 1}
        largest = sorted(multi, key=lambda g: (-len(articles[g]), -multi[g], g))[:top]
        return GroupReport(
            sentences=len(ids), groups=len(sizes), multi_groups=len(multi), grouped_sentences=sum(multi.values()),
            largest=[{"group_id": g, "size": multi[g], "articles": len(articles[g]), "example": None} for g in largest],
        )


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
