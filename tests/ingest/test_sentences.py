"""Sentence splitting on scraped news text."""
from __future__ import annotations

import time

import pytest

from labeling.ingest.clean import clean_article
from labeling.ingest.sentences import split_lines, split_text


def test_glued_boundaries_are_split():
    text = "It met at the Council.Kallis added that the fleet was ready.It sailed at noon."
    assert split_text(text) == ["It met at the Council.", "Kallis added that the fleet was ready.", "It sailed at noon."]


def test_glued_opening_quote_starts_the_next_sentence():
    text = 'He expects answers on the accords."It will be interesting," the minister said.'
    assert split_text(text) == ["He expects answers on the accords.", '"It will be interesting," the minister said.']


@pytest.mark.parametrize("text", [
    "The U.S. Navy said Gen. Weiss met Mr. Olsen in St. Petersburg on Dec. 2 at 10 a.m. local time.",
    "Berth No. 5 and Art. 12 of the treaty were cited by Dr. J. Smith and Sen. Brown.",
    "Growth was 2.5 percent, Jan. 3 figures from Ostland Corp. showed.",
])
def test_abbreviations_do_not_end_sentences(text):
    assert split_text(text) == [text]


def test_quote_followed_by_attribution_stays_one_sentence():
    for text in ('"A nightmare scenario is returning," Lavrov said.',
                 '"The situation is calm." Weiss said it twice.',
                 "\u201cNobody wants a war,\u201d the minister added."):
        assert split_text(text) == [text]


def test_closing_quote_stays_with_its_sentence_and_next_quote_starts_a_new_one():
    text = "\u201cWe refuse.\u201d \u201cWe will talk.\u201d The U.S. The end."
    assert split_text(text) == ["\u201cWe refuse.\u201d", "\u201cWe will talk.\u201d", "The U.S.", "The end."]


def test_dateline_and_headline_are_their_own_units():
    result = clean_article("Harbour talks collapse after one day\n"
                           "VELMAR, March 14 (Wire) - Talks on the harbour collapsed on Tuesday. Both sides left.")
    spans = split_lines(result.text, result.lines)
    assert [(s.kind, result.text[s.start:s.end]) for s in spans] == [
        ("headline", "Harbour talks collapse after one day"),
        ("dateline", "VELMAR, March 14 (Wire) -"),
        ("body", "Talks on the harbour collapsed on Tuesday."),
        ("body", "Both sides left."),
    ]


def test_offsets_are_exact(messy_path):
    result = clean_article(messy_path.read_text(encoding="utf-8"))
    spans = split_lines(result.text, result.lines)
    assert len(spans) >= 8
    for s in spans:
        piece = result.text[s.start:s.end]
        assert piece == piece.strip() and piece


def test_splitting_is_linear_in_text_length():
    unit = "Kallis said the fleet was ready.Weiss met Mr. Olsen on Dec. 2 in the U.S. capital. "
    small, large = unit * 2000, unit * 16000

    def timed(text):
        t0 = time.perf_counter()
        n = len(split_text(text))
        return time.perf_counter() - t0, n

    t_small, n_small = timed(small)
    t_large, n_large = timed(large)
    assert n_large == 8 * n_small
    # 8x the text must not take anywhere near 64x the time (quadratic); generous for noisy CI.
    assert t_large < 8 * t_small * 3 + 0.5
