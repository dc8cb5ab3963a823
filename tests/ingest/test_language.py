"""Offline language tags."""
from __future__ import annotations

from labeling.language import LanguageTagger


def test_languages_are_detected_offline():
    tagger = LanguageTagger()
    assert tagger.detect("Министр заявил, что переговоры возобновятся на следующей неделе.") == "ru"
    assert tagger.detect("Le ministre a déclaré que les négociations reprendront à Genève.") == "fr"
    assert tagger.detect("Ostland refused to withdraw its ships from the harbour.") == "en"


def test_fast_path_agrees_with_the_model_on_english():
    tagger = LanguageTagger()
    text = "The minister said that the talks with the Federation were going well."
    assert tagger.looks_english(text)
    assert tagger._model().classify(text)[0] == "en"
    assert not tagger.looks_english("Der Minister sagte, die Gespräche seien gut verlaufen.")


def test_fragments_and_datelines_take_the_article_language():
    tagger = LanguageTagger()
    texts = ["VELMAR (Wire) -", "Ostland refused to withdraw its ships from the harbour.", "Ok"]
    assert tagger.tag(texts, [True, False, False]) == ["en", "en", "en"]
