"""Offline language identification of sentences (py3langid, model inside the wheel).

Running the classifier costs ~0.1 ms a sentence, the largest single cost of ingestion,
so plain-ASCII sentences full of English function words take a fast path: such text
is English for any practical purpose, and the classifier agrees on it.
"""
from __future__ import annotations

import re

# Words frequent in English and rare as words in other languages written in Latin script.
_ENGLISH_MARKERS = frozenset(
    "the and of was were that with which said has have from this their would could been will "
    "are is it its for on by at as an be not who".split()
)
_STRONG_MARKERS = frozenset("the and was were that with which said has have from this their would could been".split())
_WORD = re.compile(r"[A-Za-z]+")
_LETTER = re.compile(r"[^\W\d_]")


class LanguageTagger:
    """Tags texts with ISO 639-1 codes; the py3langid model loads on first use (~1 s)."""

    def __init__(self) -> None:
        self._identifier = None

    def _model(self):
        if self._identifier is None:
            # Imported lazily: loading the model is the slow part, and not every command needs it.
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return self._identifier

    @staticmethod
    def looks_english(text: str) -> bool:
        """Fast path: ASCII text of at least 6 words, a fifth of them English markers."""
        if not text.isascii():
            return False
        tokens = [t.lower() for t in _WORD.findall(text)]
        if len(tokens) < 6:
            return False
        hits = [t for t in tokens if t in _ENGLISH_MARKERS]
        return len(hits) >= 0.2 * len(tokens) and any(t in _STRONG_MARKERS for t in hits)

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of `text`, or None when it has too few letters to tell."""
        if len(_LETTER.findall(text[:200])) < 3:
            return None
        if self.looks_english(text):
            return "en"
        lang, _prob = self._model().classify(text)
        return lang

    def tag(self, texts: list[str], inherit: list[bool] | None = None) -> list[str]:
        """Codes for one article's sentences.

        Short fragments and datelines ("Moscow-Sana", marked in `inherit`) fool any
        detector, so they, and texts of fewer than three words, take the article's most
        common language; "und" when nothing can be told.
        """
        inherit = inherit or [False] * len(texts)
        raw = [self.detect(t) if len(t.split()) >= 3 and not skip else None for t, skip in zip(texts, inherit)]
        known = [x for x in raw if x]
        majority = max(set(known), key=known.count) if known else None
        fallback = majority or next((self.detect(t) for t in texts if self.detect(t)), None) or "und"
        return [x or fallback for x in raw]
