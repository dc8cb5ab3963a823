"""Text preprocessing shared by training and prediction.

The version is stored in every model artifact; bump it whenever `normalize_text`
changes, so that a model is never fed text prepared differently from its training data.
"""
from __future__ import annotations

import unicodedata

PREPROCESS_VERSION = "1"

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u00a0": " "})


def normalize_text(text: str) -> str:
    """NFKC-normalise, unify curly quotes and collapse white space."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return " ".join(text.split())
