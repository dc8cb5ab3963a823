"""Offline language tags."""
from __future__ import annotations

from labeling.ingest.pipeline import article_sentences
from labeling.ingest.language import LanguageOptions, LanguageTagger
from labeling.ingest.readers import Article


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


ENGLISH_ARTICLE = (
    "Ostland Premier Slams Velmar Over Border Incursion\n"
    "Ostland's prime minister accused Velmar on Monday of sending troops across the northern border.\n"
    "The government in Velmar denied the charge and said its soldiers had stayed on their side of the river.\n"
    "The two foreign ministers will meet in Kestria next week, according to a statement from the ministry.\n"
    "Les discussions se poursuivront la semaine prochaine \u00e0 Gen\u00e8ve, selon le minist\u00e8re des affaires \u00e9trang\u00e8res.\n"
    "\u041c\u0438\u043d\u0438\u0441\u0442\u0440 \u0437\u0430\u044f\u0432\u0438\u043b, \u0447\u0442\u043e \u043f\u0435\u0440\u0435\u0433\u043e\u0432\u043e\u0440\u044b \u0432\u043e\u0437\u043e\u0431\u043d\u043e\u0432\u044f\u0442\u0441\u044f \u043d\u0430 \u0441\u043b\u0435\u0434\u0443\u044e\u0449\u0435\u0439 \u043d\u0435\u0434\u0435\u043b\u0435.\n"
    "\u0414\u0430\u0442\u0430 \u0432\u0441\u0442\u0440\u0435\u0447\u0438 \u043f\u043e\u043a\u0430 \u043d\u0435 \u043e\u043f\u0440\u0435\u0434\u0435\u043b\u0435\u043d\u0430.\n"
)


def test_short_english_headlines_take_the_article_language_and_go_to_labeling(options):
    readout = ("Ostland-Velmar Foreign Ministers' Meeting\n"
               "On May 4 the foreign minister of Ostland held a meeting with the foreign minister of Velmar.\n")
    for text in (ENGLISH_ARTICLE, readout):
        head = article_sentences(Article(text=text, source_path="a.txt"), options)[0]
        assert head["kind"] == "headline" and head["lang"] == "en" and head["for_labeling"], head["text"]


def test_foreign_sentences_in_an_english_article_keep_their_language(options):
    records = article_sentences(Article(text=ENGLISH_ARTICLE, source_path="a.txt"), options)
    langs = {r["text"][:12]: (r["lang"], r["for_labeling"]) for r in records}
    assert langs["Les discussi"] == ("fr", False)
    assert langs["\u041c\u0438\u043d\u0438\u0441\u0442\u0440 \u0437\u0430\u044f\u0432"] == ("ru", False)
    # A short sentence in the same script follows the article's Russian, not a guess (bg, mk).
    assert langs["\u0414\u0430\u0442\u0430 \u0432\u0441\u0442\u0440\u0435\u0447\u0438"] == ("ru", False)


def test_classifier_only_answers_with_candidate_languages():
    tagger = LanguageTagger(LanguageOptions(candidates=["en", "fr", "de"]))
    for text in ("Norrland-Kestria Summit Meeting", "Lokalni Srbi su u utorak protestovali ispred op\u0161tine."):
        assert tagger.classify(text)[0] in {"en", "fr", "de"}


def test_unsure_long_text_takes_the_article_language_but_a_confident_one_does_not():
    tagger = LanguageTagger(LanguageOptions(min_confidence=1.01))  # nothing is confident enough to override
    english = "The minister said that the talks with the Federation were going well."
    french = "Les discussions se poursuivront la semaine prochaine \u00e0 Gen\u00e8ve."
    assert tagger.tag([english, english, french]) == ["en", "en", "en"]
    assert LanguageTagger().tag([english, english, french]) == ["en", "en", "fr"]


def test_related_languages_sharing_the_probability_still_override_english():
    # bs/hr/sr split the probability, so no single one is confident; English is still ruled out.
    south_slavic = "Mje\u0161tani su u utorak prosvjedovali ispred op\u0107ine u Velmaru, tra\u017ee\u0107i pu\u0161tanje uhi\u0107enih ribara."
    english = "The minister said that the talks with the Federation were going well on Monday."
    tagger = LanguageTagger()
    assert tagger.classify(south_slavic)[1] < tagger.options.min_confidence
    assert tagger.tag([english, english, south_slavic])[2] in {"bs", "hr", "sr"}


def test_detection_switched_off_tags_und_and_loads_no_model():
    tagger = LanguageTagger(LanguageOptions(detect=False))
    assert tagger.tag(["Министр заявил, что переговоры возобновятся.", "Talks resume in Geneva."]) == ["und", "und"]
    assert tagger._identifier is None
