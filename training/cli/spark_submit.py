"""spark-submit entry script: `stance predict ... --engine spark` with the master spark-submit set.

    export PYSPARK_DRIVER_PYTHON=build-venv/bin/python PYSPARK_PYTHON=./venv/bin/python
    spark-submit --master spark://HOST:7077 --archives stance-venv.tar.gz#venv \
        training/cli/spark_submit.py INPUT... --model URI --out OUT.parquet

The whole sequence (packing the executors' virtualenv, what differs on YARN and Kubernetes)
is in README.md, section "On Spark: `--engine spark`"; tests/predict/test_spark_cluster.py
runs it on a real standalone cluster. It lives in the CLI (the library's Spark engine,
training.predict.spark, never imports the CLI).
"""
from __future__ import annotations

import sys
from typing import Sequence

from training.cli import build_app


def main(argv: Sequence[str] | None = None) -> None:
    """Run `stance predict ARGV... --engine spark`."""
    args = list(sys.argv[1:] if argv is None else argv)
    build_app()(["predict", *args, "--engine", "spark"], prog_name="stance")


if __name__ == "__main__":
    main()
