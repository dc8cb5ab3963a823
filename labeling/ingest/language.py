"""Offline language identification of sentences (py3langid, model inside the wheel).

The classifier costs ~0.1 ms a call, more than all the rest of ingestion per sentence,
and it is unreliable on short strings (an English headline comes out as Nigerian Pidgin,
a dateline as Extremaduran). So:
- plain-ASCII text with enough English function words is English without a call
  (the classifier agrees on such text);
- text in a non-Latin script (Cyrillic, Arabic, CJK, ...) is always classified: the
  script alone rules English out;
- other text is classified among a configurable set of news languages, and may
  override the article's language only when long enough and confident;
- short strings, headlines' neighbours and datelines take the article's language
  (its most common confident language).
"""
from __future__ import annotations

from labeling.config import StrictModel

# Words frequent in English and rare as words in other languages written in Latin script.
_ENGLISH_MARKERS = frozenset(
    "the and of was were that with which said has have from this their would could been will "
    "are is it its for on by at as an be not who to in".split()
)
_STRONG_MARKERS = frozenset("the and was were that with which said has have from this their would could been".split())
# ASCII punctuation to spaces, so that str.split() gives the words (much faster than a regex).
_PUNCT = str.maketrans({c: " " for c in "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'0123456789"})
_SAMPLE_CHARS = 4000
# Letters above this code point are not Latin script (Latin Extended-B ends at U+024F).
_LATIN_END = 0x024F

# Languages a news corpus realistically holds; the rest of py3langid's 142 (Latin,
# Extremaduran, Nigerian Pidgin, ...) only ever win on short English strings by accident.
NEWS_LANGUAGES = (
    "en fr de es it pt nl sv da no fi pl cs sk hu ro bg hr sr bs sl uk ru be el tr ar fa ur ps he hi bn "
    "zh ja ko vi th id ms tl sw ka hy az kk uz lt lv et sq mk am so ha"
).split()


_SURE_ENGLISH = ("en", True, None)  # one shared tuple: a 50 MB article has 600k such sentences


class LanguageOptions(StrictModel):
    """Language tagging settings (see configs/ingest.yaml)."""

    candidates: list[str] = NEWS_LANGUAGES
    min_words: int = 5  # Latin-script texts shorter than this take the article's language
    # A classified language overrides the article's only above this probability, or when English
    # is below 1 - this (related languages such as bs/hr/sr share the probability).
    min_confidence: float = 0.8
    # Off: every sentence is "und" and no model is loaded (the predictor scores every sentence
    # whatever its language, and detection is the costliest step of splitting).
    detect: bool = True


def _script(text: str) -> int | None:
    """The Unicode block (code point // 256) of the first non-Latin letter, or None for Latin text."""
    return next((ord(c) >> 8 for c in text if ord(c) > _LATIN_END and c.isalpha()), None)


class LanguageTagger:
    """Tags texts with ISO 639-1 codes; the py3langid model loads on first use (~1 s)."""

    def __init__(self, options: LanguageOptions | None = None) -> None:
        self.options = options or LanguageOptions()
        self._identifier = None

    def _model(self):
        if self._identifier is None:
            # Imported lazily: loading the model is the slow part, and not every command needs it.
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(self.options.candidates)
            self._identifier = identifier
        return self._identifier

    @staticmethod
    def looks_english(text: str) -> bool:
        """Fast path: ASCII text of at least 6 words, a fifth of them English markers."""
        if not text.isascii():
            return False
        # A sample decides for long paragraphs: a 50 MB line must not become a list of 9 million words.
        tokens = text[:_SAMPLE_CHARS].lower().translate(_PUNCT).split()
        if len(tokens) < 6:
            return False
        hits = sum(map(_ENGLISH_MARKERS.__contains__, tokens))  # counted in C
        # Strong markers are markers, so "a strong marker among the hits" is one among the tokens.
        return hits >= 0.2 * len(tokens) and not _STRONG_MARKERS.isdisjoint(tokens)

    def classify(self, text: str) -> tuple[str, float]:
        """(ISO 639-1 code, probability) from the model, among the candidate languages."""
        lang, prob = self._model().classify(text)
        return lang, prob

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of `text` on its own, or None when it has too few letters to tell."""
        if sum(c.isalpha() for c in text[:200]) < 3:
            return None
        if self.looks_english(text):
            return "en"
        return self.classify(text)[0]

    def _first_pass(self, text: str, inherit: bool) -> tuple[str | None, bool, int | None]:
        """(language or None, confident?, script) for one text before the article's language is known."""
        if inherit:
            return None, False, None
        if self.looks_english(text):
            return "en", True, None
        if sum(c.isalpha() for c in text[:200]) < 3:
            return None, False, None
        script = _script(text)
        n_words = len(text.split())
        if script is not None:
            # The script alone rules English out, but languages sharing a script (ru/bg/mk/uk) need
            # twice the words to tell apart.
            return self.classify(text)[0], n_words >= 2 * self.options.min_words, script
        if n_words < self.options.min_words:
            return None, False, None
        lang, prob = self.classify(text)
        if prob < self.options.min_confidence and lang != "en":
            # Related languages split the probability (bs/hr/sr): what matters is that English is unlikely.
            english = dict(self._model().rank(text)).get("en", 0.0)
            return lang, english <= 1 - self.options.min_confidence, None
        return lang, prob >= self.options.min_confidence, None

    def tag(self, texts: list[str], inherit: list[bool] | None = None,
            paragraphs: list[str] | None = None) -> list[str]:
        """Codes for one article's sentences, in order.

        `inherit` marks texts (datelines) that take the article's language whatever they
        look like. `paragraphs` gives, per text, the line it was split from: an ASCII
        sentence of a line that looks English as a whole is English without a check of
        its own (a third of the work on news text, where a line holds ~3 sentences).
        The article's language is the most common confident tag; Latin-script texts that
        are short, unsure or marked take it; short texts in another script take the language
        of all the article's texts in that script read together; "und" when nothing can be told.
        """
        if not self.options.detect:
            return ["und"] * len(texts)
        inherit = inherit or [False] * len(texts)
        english_line: dict[int, bool] = {}
        first = []
        for i, (text, skip) in enumerate(zip(texts, inherit)):
            if paragraphs is not None and not skip and text.isascii():
                line = paragraphs[i]
                if id(line) not in english_line:
                    english_line[id(line)] = self.looks_english(line)
                if english_line[id(line)]:
                    first.append(_SURE_ENGLISH)
                    continue
            first.append(self._first_pass(text, skip))
        article = _most_common([lang for lang, sure, _ in first if sure]) or _most_common(
            [lang for lang, _, _ in first if lang]) or "und"
        # All texts of one script together are long enough to tell its languages apart.
        by_script = {script: self.classify(" ".join(t for t, (_, _, sc) in zip(texts, first) if sc == script))[0]
                     for script in sorted({sc for _, _, sc in first if sc is not None})}
        out = []
        for lang, sure, script in first:
            if sure:
                out.append(lang)
            elif script is not None:
                out.append(by_script[script])
            else:
                out.append(article)
        return out


def _most_common(langs: list[str]) -> str | None:
    # Ties go to the alphabetically first code, so tags never depend on set order.
    return max(sorted(set(langs)), key=langs.count) if langs else None
