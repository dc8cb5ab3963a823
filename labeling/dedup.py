"""Near-duplicate sentence groups across articles: MinHash signatures, LSH banding, verification.

The same quote carried by several outlets differs in small edits and translation
("NATO refuses to consider our proposals" / "NATO is refusing to constructively consider
our proposals"), so sentences are compared as sets of content-word stems (stop words
removed, words cut to 5 characters: `refusing`/`refuses` -> `refus`). datasketch MinHash
signatures are banded (LSH, 2 rows a band: high recall at the low Jaccard that
paraphrases reach); colliding pairs are verified exactly on the stem sets: enough shared
stems, Jaccard and overlap (share of the shorter sentence) above thresholds.

Memory per sentence is a fixed-size numpy row plus its stems (no Python object per
sentence beyond its key), so a corpus of millions of sentences fits.
"""
from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field

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
_GROWTH = 1.5


def content_stems(text: str, prefix: int = 5) -> list[str]:
    """Distinct content-word stems of `text`: lowercase, stop words dropped, cut to `prefix` chars."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or (word.isdigit() and len(word) < 3):
            continue  # small numbers are list markers and counters, not content
        out.add(word[:prefix])
    return sorted(out)


def _normalized(text: str) -> str:
    return " ".join(t.lower() for t in _WORD.findall(text))


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
        # One MinHash reused (cleared per sentence): building one costs more than hashing a sentence.
        # crc32 is a fast C hash; datasketch's affine32 scheme mixes it before permuting.
        self._minhash = MinHash(num_perm=o.num_perm, seed=7, hashfunc=zlib.crc32)
        self._bands = np.zeros((1024, o.num_perm // o.rows_per_band), dtype=np.uint64)
        self._stems = np.zeros(8192, dtype=np.int64)
        self._offsets = [0]
        self._articles = np.zeros(1024, dtype=np.int64)
        self._keys: list[str] = []
        self._exact: dict[int, int] = {}
        self._exact_of = np.full(1024, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._keys)

    def _grow(self, n: int, n_stems: int) -> None:
        if n >= len(self._bands):
            size = int(len(self._bands) * _GROWTH) + 1
            self._bands = np.resize(self._bands, (size, self._bands.shape[1]))
            self._articles = np.resize(self._articles, size)
            self._exact_of = np.resize(self._exact_of, size)
        need = self._offsets[-1] + n_stems
        if need > len(self._stems):
            self._stems = np.resize(self._stems, max(need, int(len(self._stems) * _GROWTH)))

    def _signature(self, stems: list[str]) -> np.ndarray:
        m = self._minhash
        m.clear()
        m.update_batch([s.encode("utf-8") for s in stems])
        hv = np.ascontiguousarray(m.hashvalues, dtype=np.uint32)
        r = self.options.rows_per_band
        if r == 2:
            return hv.view(np.uint64)
        return np.array([hash(hv[i:i + r].tobytes()) & 0x7FFFFFFFFFFFFFFF for i in range(0, len(hv), r)], dtype=np.uint64)

    def add(self, key: str, text: str, article: int = 0) -> int:
        """Index one sentence under `key` (its sentence id); returns its position."""
        n = len(self._keys)
        stems = content_stems(text)
        self._grow(n, len(stems))
        self._keys.append(key)
        self._articles[n] = article
        start = self._offsets[-1]
        # Python's hash is stable within one run, which is all the exact verification needs.
        self._stems[start:start + len(stems)] = [hash(s) for s in stems]
        self._offsets.append(start + len(stems))
        exact = hash(_normalized(text))
        self._exact_of[n] = self._exact.setdefault(exact, n)
        if stems and self._exact_of[n] == n:
            self._bands[n] = self._signature(stems)
        else:  # no content words, or an exact repeat (joined by the exact map): keep out of LSH
            self._bands[n] = np.iinfo(np.uint64).max - np.arange(self._bands.shape[1], dtype=np.uint64) - n * 131
        return n

    def _similar(self, a: int, b: int) -> bool:
        o = self.options
        sa = set(self._stems[self._offsets[a]:self._offsets[a + 1]].tolist())
        sb = set(self._stems[self._offsets[b]:self._offsets[b + 1]].tolist())
        if not sa or not sb:
            return False
        inter = len(sa & sb)
        return (inter >= min(o.min_shared, len(sa), len(sb)) and inter / len(sa | sb) >= o.min_jaccard
                and inter / min(len(sa), len(sb)) >= o.min_overlap)

    def finish(self, top: int = 10) -> tuple[list[str], GroupReport]:
        """Group all added sentences; returns (group id per position, report)."""
        n = len(self._keys)
        parent = np.arange(n)

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return int(x)

        for i in range(n):
            if self._exact_of[i] != i:
                parent[find(i)] = find(int(self._exact_of[i]))
        for j in range(self._bands.shape[1]):
            column = self._bands[:n, j]
            order = np.argsort(column, kind="stable")
            values = column[order]
            starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
            ends = np.r_[starts[1:], n]
            for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
                leader = int(order[s])
                for m in order[s + 1:e].tolist():
                    ra, rb = find(leader), find(m)
                    if ra != rb and self._similar(leader, m):
                        parent[max(ra, rb)] = min(ra, rb)
        roots = [find(i) for i in range(n)]
        smallest: dict[int, str] = {}
        for i, r in enumerate(roots):
            if r not in smallest or self._keys[i] < smallest[r]:
                smallest[r] = self._keys[i]
        ids = [group_id_for(smallest[r]) for r in roots]
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
