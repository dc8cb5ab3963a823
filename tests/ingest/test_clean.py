"""Boilerplate removal on a scraped page written for the project (tests/ingest/fixtures)."""
from __future__ import annotations

import pytest

from labeling.ingest.boilerplate import line_reason
from labeling.ingest.clean import clean_article

BODY = [
    "The Republic of Ostland warned on Tuesday that it would deploy additional naval units",
    "Defence Minister Petra Kallis told reporters.",
    "Kallis added that the fleet had been put on alert.",
    "The neighbouring Federation rejected the accusations as baseless.",
    "Officials in the Federation said talks could resume next week",
    "No. 5 berth remains closed.",
    '"But nobody wants a repeat of last year."',
]


def test_messy_scrape_keeps_every_body_line(messy_path):
    result = clean_article(messy_path.read_text(encoding="utf-8"))
    for fragment in BODY:
        assert fragment in result.text


def test_messy_scrape_drops_boilerplate_with_reasons(messy_path):
    result = clean_article(messy_path.read_text(encoding="utf-8"))
    for junk in ("menuicon", "Home »", "By Maria", "09:42", "newsletter", "©", "READ MORE", "See also",
                 "You may also like", "Leave a Comment", "cookies"):
        assert junk not in result.text, junk
    assert result.dropped == {"header": 1, "icons": 1, "breadcrumb": 1, "repeated": 1, "byline": 1, "timestamp": 1,
                              "social": 1, "caption": 2, "read-more": 3, "comments": 1, "site-notice": 1}
    assert ("byline", "By Maria Ostrova") in result.dropped_lines


def test_header_gives_date_and_url_and_headline_is_found(messy_path):
    result = clean_article(messy_path.read_text(encoding="utf-8"))
    assert result.header == {"date": "2023-03-14", "url": "https://example-news.test/world/2023/03/14/harbour-standoff"}
    assert result.headline == "Coastal states trade warnings over disputed harbour"
    assert result.lines[0].kind == "headline"
    assert result.text.count("Coastal states trade warnings") == 1


def test_offsets_of_kept_lines_point_into_cleaned_text(messy_path):
    result = clean_article(messy_path.read_text(encoding="utf-8"))
    for line in result.lines:
        assert result.text[line.start:line.start + len(line.text)] == line.text


def test_comment_list_after_footer_marker_is_dropped_but_prose_resumes():
    page = "\n".join([
        "Ministers meet to discuss the border dispute",
        "The two ministers met in Vienna on Monday and agreed to keep talking about the border.",
        "Related articles",
        "Navy chief steps down after a long career in the service",
        "Border villages fear another winter of shelling and blockades by the rival armies",
        "The talks will continue next month in Vienna, a spokesman for the foreign ministry said in a written statement to the press.",
    ])
    result = clean_article(page)
    assert "Navy chief" not in result.text and "Border villages" not in result.text
    assert "The talks will continue next month" in result.text
    assert result.dropped["after-footer"] == 2


def test_title_from_input_marks_the_headline_and_removes_its_repeat():
    result = clean_article("Talks resume in Geneva\nTalks resume in Geneva\nDiplomats met again on Monday in Geneva.",
                           title="Talks resume in Geneva")
    assert [l.kind for l in result.lines] == ["headline", "body"]
    assert result.dropped["repeated"] == 1


def test_line_rules_leave_news_prose_alone():
    for prose in ("Lavrov's comments come amid fears of a military buildup.",
                  "He said the site of the talks had not been chosen yet.",
                  "The Kremlin denied the report on Thursday."):
        assert line_reason(prose) is None, prose


def test_article_with_only_boilerplate_cleans_to_empty_text():
    result = clean_article("Home » News\nAccept cookies\n© 2024 Site")
    assert result.text == "" and result.lines == []
    assert sum(result.dropped.values()) == 3


def _headline(page: str) -> str | None:
    return clean_article(page).headline


def test_spaced_menu_line_before_the_headline_is_not_the_headline():
    page = ("date 2024-05-04 https://wire.test/world/kestria-recalls-envoy\n"
            "Home | World | Europe | Markets\nSign in   Subscribe   Search\n\n"
            "Kestria recalls its envoy from Marovia over border incident\n"
            "KESTRIA CITY, May 4 - Kestria recalled its ambassador to Marovia on Saturday after a border guard was injured.\n")
    result = clean_article(page)
    assert result.headline == "Kestria recalls its envoy from Marovia over border incident"
    assert "Sign in" not in result.text and result.dropped["menu"] == 1


def test_capitalised_section_menu_does_not_hide_a_short_headline():
    page = ("NEWS  SPORTS  ENTERTAINMENT  OPINION  E-PAPER\n\u2630 Menu   \U0001f50d   f   \u25b6\nWORLD\n\n"
            "Velmar: 2 hurt as patrol boat rams trawler off Norrland\n\n"
            "By Ana Ruiz   |   Published May 4, 2024 10:15 AM\n"
            "Two fishermen were injured on Saturday when a Velmar patrol boat rammed their trawler near Norrland.\n")
    result = clean_article(page)
    assert result.headline == "Velmar: 2 hurt as patrol boat rams trawler off Norrland"
    assert result.lines[0].kind == "headline" and "NEWS" not in result.text and "WORLD" not in result.text


@pytest.mark.parametrize("menu", ["Accueil | Monde | \u00c9conomie | Sport | Culture",
                                  "Politics \u00b7 Europe \u00b7 04.05.2024, 10:12",
                                  "Startseite  Politik  Wirtschaft  Sport"])
def test_separated_menus_and_section_datelines_are_dropped(menu):
    page = f"{menu}\nOstland and Velmar sign a fisheries accord in Kestria\nThe two governments signed the accord on Monday after months of talks.\n"
    result = clean_article(page)
    assert result.headline == "Ostland and Velmar sign a fisheries accord in Kestria"
    assert menu.split()[0] not in result.text


def test_headline_repeated_on_the_page_beats_an_earlier_teaser():
    page = ("Live coverage continues all day from the summit venue\n"
            "Norrland and Kestria agree on a maritime boundary\n"
            "Norrland and Kestria agree on a maritime boundary\n"
            "Negotiators from both countries initialled the text in Velmar on Tuesday evening.\n")
    assert _headline(page) == "Norrland and Kestria agree on a maritime boundary"


def test_agency_credits_and_standards_lines_are_dropped_but_prose_is_kept():
    page = ("Ostland premier visits Velmar for border talks\n"
            "The premier met her counterpart for three hours on Friday, officials said. "
            "(Reporting by Lena Marsh in Velmar; Editing by Ivo Brandt)\n"
            "The talks will resume next month in Kestria, the foreign ministry said in a statement.\n"
            "(Additional reporting by Omar Sefa; Writing by Dana Cole; editing by Tomas Gray)\n"
            "Our Standards: The Example Wire Trust Principles.\n")
    result = clean_article(page)
    assert "Reporting by" not in result.text and "reporting by" not in result.text
    assert "Trust Principles" not in result.text
    assert "The premier met her counterpart for three hours on Friday, officials said." in result.text
    assert "the foreign ministry said in a statement." in result.text
    assert result.dropped["credits"] == 2 and result.dropped["site-notice"] == 1


@pytest.mark.parametrize("line", ["\u00c0 lire aussi : Velmar rouvre son ambassade \u00e0 Kestria",
                                  "Lesen Sie auch: Ostland schlie\u00dft die Grenze",
                                  "\u0427\u0438\u0442\u0430\u0439\u0442\u0435 \u0442\u0430\u043a\u0436\u0435: \u041e\u0441\u0442\u043b\u0430\u043d\u0434 \u0437\u0430\u043a\u0440\u044b\u043b \u0433\u0440\u0430\u043d\u0438\u0446\u0443",
                                  "Read also: Velmar reopens its embassy in Kestria."])
def test_read_more_lines_in_other_languages_are_dropped(line):
    assert line_reason(line) == "read-more"
