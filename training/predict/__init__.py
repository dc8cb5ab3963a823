"""The predictor behind `stance predict`: score new articles or sentence records with a model.

- `engine`: the local engine (input units, chunks, resume check, the `predict` entry point)
- `inputs`: sentence records from JSONL, CSV or Parquet, every bad record reported
- `output`: the resumable partial output and the atomic JSONL/CSV/Parquet writers
- `workers`: the bounded, in-order fan-out of splitting and scoring to processes
- `summary`: the per-article summary (counts, shares, dominant tag, top sentences)
- `spark`: the same job on Apache Spark (also the spark-submit script)

It needs only the model-directory contract (training.model_dir) and a Scorer; models
are loaded by training.registry, never by the predictor itself.
"""
