"""Parallel chunk processing for the predictor: split and score chunks in worker processes.

Cleaning, sentence splitting and the baseline's n-gram extraction are Python-level and
hold the GIL, so the baseline scales with processes, not threads. Chunks go to forked
workers and come back in input order, with a bounded number in flight.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa

from training.model_dir import Scorer, output_frame
from training.transformer_scorer import available_cores


def score_chunk(chunk: Sequence[Any], scorer: Scorer, schema: pa.Schema) -> pa.Table:
    """Score every sentence row of a chunk in one `predict_proba` call; returns the output rows."""
    rows = [row for unit in chunk for row in unit.rows]
    tags = list(scorer.tags)
    probs = scorer.predict_proba([r["text"] for r in rows])
    scored = output_frame(tags, scorer.thresholds, probs)
    columns = {
        "article_id": [r["article_id"] for r in rows],
        "sentence_id": [r["sentence_id"] for r in rows],
        "index": [r["index"] for r in rows],
        "text": [r["text"] for r in rows],
        "labels": scored["labels"].tolist(),
    }
    for tag in tags:
        columns[tag] = scored[tag].to_numpy(dtype=float)
    return pa.Table.from_pydict(columns, schema=schema)


@dataclass
class ChunkResult:
    """What scoring one chunk produced: the output rows, its input errors, how many articles."""

    table: pa.Table
    errors: list[dict[str, Any]]
    articles: int


def process_chunk(items: Sequence[Any], to_unit: Callable[[Any], Any], scorer: Scorer, schema: pa.Schema) -> ChunkResult:
    """Split a chunk's items into units and score them; pure, so it can run in a worker process."""
    units = [to_unit(item) for item in items]
    return ChunkResult(score_chunk(units, scorer, schema), [u.error for u in units if u.error is not None],
                       sum(u.is_article for u in units))


def _worker_loop(tasks: Any, results: Any, to_unit: Callable[[Any], Any], scorer: Scorer, schema: pa.Schema,
                 threads: int) -> None:
    # A Rust tokenizer whose thread pool ran in the parent can deadlock in a forked child
    # (the tokenizers library warns of it, unless TOKENIZERS_PARALLELISM is set); a worker's
    # share of the cores is too small to gain from those threads anyway.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if hasattr(scorer, "set_threads"):
        scorer.set_threads(threads)  # the workers share the cores instead of each taking all
    for seq, items in iter(tasks.get, None):
        try:
            results.put((seq, process_chunk(items, to_unit, scorer, schema), None))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it with this text
            results.put((seq, None, f"{type(exc).__name__}: {exc}"))


def run_chunks(chunk_iter: Iterable[list[Any]], to_unit: Callable[[Any], Any], scorer: Scorer, schema: pa.Schema,
               workers: int) -> Iterator[tuple[list[Any], ChunkResult]]:
    """Yield (items, result) per chunk, in input order.

    With `workers` > 1, chunks are split and scored in that many forked processes (the
    Python-level cleaning, splitting and n-gram extraction are CPU-bound and hold the GIL);
    at most two chunks per worker are in flight, so memory stays flat. A failing worker
    raises RuntimeError here.
    """
    if workers <= 1:
        for items in chunk_iter:
            yield items, process_chunk(items, to_unit, scorer, schema)
        return
    ctx = mp.get_context("fork")
    tasks, results = ctx.Queue(), ctx.Queue()
    threads = max(1, available_cores() // workers)
    procs = [ctx.Process(target=_worker_loop, args=(tasks, results, to_unit, scorer, schema, threads), daemon=True)
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    try:
        yield from _ordered(iter(chunk_iter), tasks, results, procs, 2 * workers)
        for _ in procs:
            tasks.put(None)
        for proc in procs:
            proc.join(timeout=30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()


def _ordered(chunk_iter: Iterator[list[Any]], tasks: Any, results: Any, procs: list, in_flight: int) -> Iterator[tuple[list[Any], ChunkResult]]:
    pending: dict[int, list[Any]] = {}
    done: dict[int, ChunkResult] = {}
    sent = emitted = 0
    exhausted = False
    while True:
        while not exhausted and len(pending) < in_flight:
            items = next(chunk_iter, None)
            if items is None:
                exhausted = True
            else:
                tasks.put((sent, items))
                pending[sent] = items
                sent += 1
        if not pending:
            return
        while emitted not in done:
            try:
                seq, result, error = results.get(timeout=2)
            except queue.Empty:
                dead = [p.exitcode for p in procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"a scoring worker died (exit code {dead[0]}); is the machine out of memory?") from None
                continue
            if error is not None:
                raise RuntimeError(f"scoring failed in a worker: {error}")
            done[seq] = result
        yield pending.pop(emitted), done.pop(emitted)
        emitted += 1


def default_workers(scorer: Scorer) -> int:
    """Worker processes for a scorer.

    The baseline's cleaning, splitting and n-gram extraction hold the GIL, so it scales with
    processes (up to 8). The transformer scores in-process: ONNX Runtime already uses every
    core, and 95% of its time is inside the graph, so 2 workers of 1 thread measured no
    faster than 1 process of 2 threads (246-251 vs 229-247 sentences/s, 4-layer model, 2
    cores). `--workers N` still splits its cores between N forked workers.
    """
    if scorer.kind == "baseline":
        return max(1, min(available_cores(), 8))
    return 1
