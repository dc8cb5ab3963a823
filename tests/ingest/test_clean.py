"""Boilerplate removal on a scraped page written for the project (tests/ingest/fixtures)."""
from __future__ import annotations

from labeling.boilerplate import line_reason
from labeling.clean import clean_article

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
