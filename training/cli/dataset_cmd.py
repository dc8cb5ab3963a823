"""`stance dataset build`: grouped, stratified train/validation/test splits of labeled sentences."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from labeling.config import CONFIG_DIR, load_config
from labeling.schema import load_schema
from training.cli.common import config_opt, user_errors


def _counts_table(meta: dict[str, Any]) -> Table:
    table = Table(title=Text(f"dataset {meta['fingerprint']}  ({meta['source']})"))  # a path: text, not markup
    table.add_column("split")
    table.add_column("rows", justify="right")
    keys = list(meta["tags"]) + ["none"]
    for key in keys:
        table.add_column(key, justify="right")
    for name, counts in meta["tag_counts"].items():
        table.add_row(name, str(meta["sizes"][name]), *(str(counts[k]) for k in keys))
    return table


def dataset_build(
    source: Path = typer.Argument(..., help="Labeled JSONL, a snapshot directory, or data/annotations/ (newest snapshot)."),
    out: Path = typer.Option(..., "--out", help="Output directory for the DatasetDict (replaced atomically)."),
    config: Optional[Path] = config_opt("Split ratios and seed", "dataset.yaml"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the split seed."),
) -> None:
    """Split labeled sentences into train/validation/test without group or article leakage."""
    from training.dataset import DatasetConfig, save_dataset
    from training.train import prepare_splits

    console = Console()
    with user_errors(console):
        cfg = load_config(DatasetConfig, config, {"seed": seed}, default=CONFIG_DIR / "dataset.yaml")
        splits, meta = prepare_splits(source, load_schema().names, cfg)
        save_dataset(splits, meta, out)
    console.print(_counts_table(meta))
    console.print(Text.assemble("saved to ", (str(out), "bold"), f" (fingerprint {meta['fingerprint']})"))


def register(app: typer.Typer) -> None:
    """Add `dataset build` to the top-level app."""
    dataset_app = typer.Typer(help="Build grouped, stratified train/validation/test splits.", no_args_is_help=True)
    dataset_app.command("build")(dataset_build)
    app.add_typer(dataset_app, name="dataset")
