"""Per-article summary of scored sentences: counts and shares per tag, dominant stance,
and the top sentences per tag.

Works on the predictor's per-sentence rows (Arrow tables with `article_id`, `sentence_id`,
`text`, `labels` and one score column per tag). Memory holds one small accumulator per
article that has not been flushed yet, never the sentences themselves.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import pyarrow as pa

DEFAULT_TOP_N = 3


def summary_schema(tags: Sequence[str]) -> pa.Schema:
    """Columns: article_id, sentences, count_<tag>..., share_<tag>..., dominant, top_<tag>...

    `top_<tag>` lists the texts of the highest-scoring sentences labelled with the tag.
    """
    fields = [pa.field("article_id", pa.string()), pa.field("sentences", pa.int64())]
    fields += [pa.field(f"count_{t}", pa.int64()) for t in tags]
    fields += [pa.field(f"share_{t}", pa.float64()) for t in tags]
    fields += [pa.field("dominant", pa.string())]
    fields += [pa.field(f"top_{t}", pa.list_(pa.string())) for t in tags]
    return pa.schema(fields)


@dataclass
class _Article:
    sentences: int = 0
    counts: list[int] = field(default_factory=list)
    score_sums: list[float] = field(default_factory=list)
    # per tag, a min-heap of (score, -order, text) so ties keep the earlier sentence
    top: list[list[tuple[float, int, str]]] = field(default_factory=list)


@dataclass
class SummaryBuilder:
    """Accumulates scored rows per article; `flush()` returns the finished summary rows.

    Rows without an `article_id` (e.g. bare sentence records) belong to no article and are
    not summarised.
    """

    tags: Sequence[str]
    top_n: int = DEFAULT_TOP_N
    _articles: dict[str, _Article] = field(default_factory=dict)
    _order: int = 0

    def add(self, table: pa.Table) -> None:
        """Add one table of scored sentence rows."""
        k = len(self.tags)
        for row in table.select(["article_id", "text", "labels", *self.tags]).to_pylist():
            article_id = row["article_id"]
            if article_id is None:
                continue
            acc = self._articles.get(article_id)
            if acc is None:
                acc = _Article(counts=[0] * k, score_sums=[0.0] * k, top=[[] for _ in range(k)])
                self._articles[article_id] = acc
            acc.sentences += 1
            self._order += 1
            labels = set(row["labels"] or ())
            for j, tag in enumerate(self.tags):
                score = float(row[tag])
                acc.score_sums[j] += score
                if tag in labels:
                    acc.counts[j] += 1
                    entry = (score, -self._order, row["text"])
                    if len(acc.top[j]) < self.top_n:
                        heapq.heappush(acc.top[j], entry)
                    else:
                        heapq.heappushpop(acc.top[j], entry)

    def flush(self) -> pa.Table:
        """Summary rows for every article added since the last flush (in first-seen order)."""
        records = [self._record(article_id, acc) for article_id, acc in self._articles.items()]
        self._articles = {}
        return pa.Table.from_pylist(records, schema=summary_schema(self.tags))

    def _record(self, article_id: str, acc: _Article) -> dict:
        record: dict = {"article_id": article_id, "sentences": acc.sentences}
        for j, tag in enumerate(self.tags):
            record[f"count_{tag}"] = acc.counts[j]
        for j, tag in enumerate(self.tags):
            record[f"share_{tag}"] = acc.counts[j] / acc.sentences if acc.sentences else 0.0
        record["dominant"] = dominant_tag(self.tags, acc.counts, acc.score_sums)
        for j, tag in enumerate(self.tags):
            record[f"top_{tag}"] = [text for _, _, text in sorted(acc.top[j], reverse=True)]
        return record


def dominant_tag(tags: Sequence[str], counts: Sequence[int], score_sums: Sequence[float]) -> str | None:
    """The tag on most sentences; ties go to the larger summed score, then schema order.

    Returns None when no sentence carries any tag (the article takes no stance).
    """
    if not any(counts):
        return None
    best = max(range(len(tags)), key=lambda j: (counts[j], score_sums[j], -j))
    return tags[best]


def summarize(tables: Iterable[pa.Table], tags: Sequence[str], whole_articles: bool, top_n: int = DEFAULT_TOP_N) -> Iterator[pa.Table]:
    """Summary tables for a stream of scored tables.

    With `whole_articles` (each table holds complete articles, as the predictor's article
    mode guarantees) a summary is yielded after every table, so memory stays flat;
    otherwise articles may span tables and everything is yielded at the end.
    """
    builder = SummaryBuilder(tags, top_n)
    for table in tables:
        builder.add(table)
        if whole_articles:
            yield builder.flush()
    if not whole_articles:
        yield builder.flush()
