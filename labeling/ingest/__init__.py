"""Ingestion: raw articles in, clean, language-tagged, de-duplicated sentence records out.

- `readers`: text, HTML, JSONL, CSV and Parquet inputs as articles, every bad input reported
- `clean` and `boilerplate`: drop menus, cookie lines, bylines and other page furniture
- `sentences`: the sentence splitter (with headline and dateline detection)
- `language`: the offline language detector
- `stems` and `dedup`: near-duplicate groups across articles
- `pipeline`: `run_ingest` and `article_sentences`, which compose the steps (`stance ingest`)
"""
