"""The TF-IDF + logistic-regression baseline: train it and save it (training.baseline_scorer scores it).

Word and character n-grams feed one-vs-rest logistic regression with balanced class
weights (rare tags such as denial would otherwise never fire). C is chosen by grouped
cross-validation on train; per-tag thresholds are tuned on validation.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import joblib
import numpy as np
from datasets import Dataset
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from labeling.config import DEFAULT_SEED, StrictModel
from labeling.io import atomic_open, atomic_path
from training.baseline_scorer import PIPELINE_FILE
from training.char_hashing import CharNgramHasher
from training.cv import grouped_kfold
from training.dataset import cluster_ids
from training.labeled import label_matrix
from training.metrics import micro_macro_f1
from training.model_dir import META_FILE
from training.preprocess import PREPROCESS_VERSION, normalize_text
from training.results import TrainResult
from training.thresholds import apply_thresholds, tune_thresholds


class BaselineConfig(StrictModel):
    """Hyper-parameters of the baseline (configs/baseline.yaml overrides these defaults)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    min_df: int = 1
    max_word_features: int = 50_000
    char_buckets: int = 2 ** 20
    c_grid: list[float] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    default_c: float = 4.0
    cv_folds: int = 3
    max_iter: int = 2000
    seed: int = DEFAULT_SEED


def _features(cfg: BaselineConfig) -> FeatureUnion:
    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=cfg.word_ngrams, min_df=cfg.min_df,
                                 max_features=cfg.max_word_features, sublinear_tf=True, lowercase=True)),
        # character n-grams are robust to inflection ("accus-es/-ed"); hashed in NumPy because
        # scikit-learn's char analyzer caps scoring near 2,000 sentences/s
        ("char", Pipeline([("hash", CharNgramHasher(cfg.char_ngrams, cfg.char_buckets)),
                           ("tfidf", TfidfTransformer(sublinear_tf=True))])),
    ])


def _classifier(cfg: BaselineConfig, c: float) -> OneVsRestClassifier:
    # dual liblinear: far more features than sentences, where the dual problem is much smaller
    return OneVsRestClassifier(LogisticRegression(C=c, class_weight="balanced", solver="liblinear", dual=True,
                                                  max_iter=cfg.max_iter, random_state=cfg.seed))


def build_pipeline(cfg: BaselineConfig, c: float) -> Pipeline:
    """An unfitted baseline pipeline (features + classifier) with regularisation strength `c`."""
    return Pipeline([("features", _features(cfg)), ("clf", _classifier(cfg, c))])


def _proba(clf: OneVsRestClassifier, x) -> np.ndarray:
    return np.asarray(clf.predict_proba(x), dtype=float)


def choose_c(rows: Sequence[dict], y: np.ndarray, tags: Sequence[str], cfg: BaselineConfig) -> tuple[float, list[dict]]:
    """Pick C by grouped K-fold on train: out-of-fold probabilities per C, thresholds tuned on
    them, macro-F1 compared. Returns (best C, [{"step", "C", "cv_macro_f1"}]).

    Falls back to cfg.default_c when there are fewer groups than folds.
    """
    n_clusters = int(cluster_ids(rows).max()) + 1
    k = min(cfg.cv_folds, n_clusters)
    if k < 2:
        return cfg.default_c, []
    texts = [r["text"] for r in rows]
    oof = {c: np.zeros(y.shape, dtype=float) for c in cfg.c_grid}
    for train_idx, test_idx in grouped_kfold(rows, tags, k, cfg.seed):
        # vectorise once per fold, reuse for every C: the vectoriser dominates fit time
        feats = _features(cfg)
        x_train = feats.fit_transform([texts[i] for i in train_idx])
        x_test = feats.transform([texts[i] for i in test_idx])
        for c in cfg.c_grid:
            clf = _classifier(cfg, c).fit(x_train, y[train_idx])
            oof[c][test_idx] = _proba(clf, x_test)
    history = []
    for step, c in enumerate(cfg.c_grid):
        pred = apply_thresholds(oof[c], tune_thresholds(y, oof[c]))
        history.append({"step": step, "C": c, "cv_macro_f1": micro_macro_f1(y, pred)[1]})
    best = max(history, key=lambda h: (h["cv_macro_f1"], -abs(np.log(h["C"]))))
    return best["C"], history


def _rows(ds: Dataset | Sequence[dict]) -> list[dict]:
    return [{**r, "text": normalize_text(r["text"])} for r in ds]


def train_baseline(train: Dataset, validation: Dataset, tags: list[str], cfg: BaselineConfig,
                   out_dir: Path) -> TrainResult:
    """Fit the baseline on `train`, tune thresholds on `validation`, write a model directory.

    Rows need `text`, `labels` (tag names), `group_id`, `article_id`. Writes
    out_dir/meta.json (kind "baseline") and out_dir/pipeline.joblib. Returns a TrainResult
    whose history holds the C search and whose params hold the chosen C.
    Raises ValueError when train or validation is empty.
    """
    if len(train) == 0 or len(validation) == 0:
        raise ValueError(f"baseline needs non-empty train and validation (got {len(train)} and {len(validation)})")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    train_rows, val_rows = _rows(train), _rows(validation)
    y_train, y_val = label_matrix(train_rows, tags), label_matrix(val_rows, tags)
    best_c, history = choose_c(train_rows, y_train, tags, cfg)
    pipeline = build_pipeline(cfg, best_c)
    pipeline.fit([r["text"] for r in train_rows], y_train)
    thresholds = tune_thresholds(y_val, np.asarray(pipeline.predict_proba([r["text"] for r in val_rows])))
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / PIPELINE_FILE) as tmp:
        joblib.dump(pipeline, tmp)
    meta = {
        "kind": "baseline", "tags": list(tags),
        "thresholds": {t: float(v) for t, v in zip(tags, thresholds)},
        "preprocess_version": PREPROCESS_VERSION, "C": best_c, "config": cfg.model_dump(mode="json"),
    }
    with atomic_open(out_dir / META_FILE) as fh:
        json.dump(meta, fh, indent=2)
    return TrainResult(model_dir=out_dir, history=history, params={"C": best_c, "cv_folds": cfg.cv_folds},
                       train_seconds=seconds, sentences_per_second=len(train_rows) / seconds if seconds else 0.0)

