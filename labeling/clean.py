"""Cleaning one article: header, boilerplate lines, headline; counts what is dropped.

Rules run in three passes over the lines of the article:
1. a leading header of `key value` lines (`date 2021-12-02 URL`) is parsed into metadata;
2. each line is checked on its own (labeling.boilerplate: menus, cookies, bylines, ...);
3. page context: the headline is found (the given title, or the first long line without
   sentence punctuation that comes before any prose), non-prose lines before it are
   navigation, repeats of earlier lines and of the headline are dropped, short lines
   without sentence punctuation are menu items, and everything after a footer marker
   ("You may also like", "Leave a comment") is dropped unless real prose resumes.
The kept lines are joined with newlines into the cleaned text that sentence offsets
point into.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from labeling import boilerplate as bp
from labeling.config import StrictModel

_HEADER = re.compile(r"^(date|url|title|source|id|author)\s*:?\s+(\S.*)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_HEADER_URL = re.compile(r"https?://\S+")
# Invisible characters that scrapers leave in text; they would break offsets and matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


class CleanOptions(StrictModel):
    """Thresholds for the context rules (see configs/ingest.yaml)."""

    max_menu_words: int = 12
    min_headline_words: int = 4
    max_headline_words: int = 40
    min_prose_words: int = 8
    resume_prose_words: int = 20
    headline_similarity: float = 0.5


@dataclass
class CleanLine:
    """A kept line: its text, its start offset in the cleaned text, and its kind."""

    text: str
    start: int
    kind: str  # headline, dateline or body


@dataclass
class CleanResult:
    """The cleaned article text, its kept lines, header metadata and what was dropped."""

    text: str
    lines: list[CleanLine]
    headline: str | None = None
    header: dict[str, str] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    dropped_lines: list[tuple[str, str]] = field(default_factory=list)


def normalize_line(line: str) -> str:
    """NFC, invisible characters removed, runs of spaces collapsed, ends stripped."""
    line = unicodedata.normalize("NFC", line).translate(_INVISIBLE)
    return _SPACES.sub(" ", line).strip()


def _parse_header(lines: list[str]) -> tuple[dict[str, str], int]:
    header: dict[str, str] = {}
    n = 0
    for line in lines:
        m = _HEADER.match(line)
        if not m:
            break
        key, value = m.group(1).lower(), m.group(2)
        url = _HEADER_URL.search(value)
        if key == "date":
            date = _ISO_DATE.search(value)
            if not date:
                break
            header["date"] = date.group(0)
            if url:
                header["url"] = url.group(0)
        elif key == "url":
            if not url:
                break
            header["url"] = url.group(0)
        else:
            header[key] = value
        n += 1
    return header, n


def _key(line: str) -> str:
    return " ".join(w.lower() for w in bp.words(line))


def _similar(a: str, b: str) -> float:
    sa, sb = set(_key(a).split()), set(_key(b).split())
    return len(sa & sb) / max(1, len(sa | sb))


def _is_prose(line: str, options: CleanOptions) -> bool:
    return bp.ends_like_sentence(line) and len(bp.words(line)) >= options.min_prose_words


def _find_headline(lines: list[str], reasons: list[str | None], title: str | None, options: CleanOptions) -> int | None:
    for i, line in enumerate(lines):
        if reasons[i] is not None:
            continue
        if title and _key(line) == _key(title):
            return i
        if title:
            continue
        if _is_prose(line, options):
            return None
        n = len(bp.words(line))
        if options.min_headline_words <= n <= options.max_headline_words and not bp.ends_like_sentence(line):
            return i
    return None


def _context_reasons(lines: list[str], reasons: list[str | None], title: str | None, options: CleanOptions) -> int | None:
    """Fill in reasons that need the whole page; returns the headline's line index."""
    head = _find_headline(lines, reasons, title, options)
    headline = lines[head] if head is not None else title
    seen: set[str] = set()
    in_footer = False
    for i, line in enumerate(lines):
        key = _key(line) or line
        if bp.FOOTER_MARKER.match(line):
            in_footer = True
        if reasons[i] is not None:
            seen.add(key)
            continue
        if i == head:
            seen.add(key)
            continue
        n = len(bp.words(line))
        punct = bp.ends_like_sentence(line)
        if key in seen:
            reasons[i] = "repeated"
        elif headline and not punct and _similar(line, headline) >= options.headline_similarity:
            reasons[i] = "repeated-headline"
        elif head is not None and i < head and not _is_prose(line, options):
            reasons[i] = "navigation"
        elif in_footer and not (punct and n >= options.resume_prose_words):
            reasons[i] = "after-footer"
        elif not punct and n <= options.max_menu_words and not bp.is_standalone_dateline(line):
            reasons[i] = "menu"
        if in_footer and reasons[i] is None:
            in_footer = False  # real prose resumed: the marker was a widget inside the article
        seen.add(key)
    return head


def clean_article(raw: str, title: str | None = None, options: CleanOptions | None = None) -> CleanResult:
    """Clean one article's raw text.

    Inputs: the raw text (any newline style), an optional known title, thresholds.
    Output: CleanResult with the cleaned text (kept lines joined by newlines), the kept
    lines with offsets and kinds, the headline, header metadata (date, url, ...), and
    the dropped lines counted by reason. Never raises on odd text; an article with no
    kept line gives an empty cleaned text.
    """
    options = options or CleanOptions()
    raw_lines = [normalize_line(x) for x in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    raw_lines = [x for x in raw_lines if x]
    header, n_header = _parse_header(raw_lines)
    result = CleanResult(text="", lines=[], header=header)
    for line in raw_lines[:n_header]:
        result.dropped["header"] += 1
        result.dropped_lines.append(("header", line))
    lines = raw_lines[n_header:]
    title = title or header.get("title")
    reasons = [bp.line_reason(line) for line in lines]
    head = _context_reasons(lines, reasons, title, options)
    parts: list[str] = []
    offset = 0
    for i, line in enumerate(lines):
        if reasons[i] is not None:
            result.dropped[reasons[i]] += 1
            result.dropped_lines.append((reasons[i], line))
            continue
        kind = "headline" if i == head else ("dateline" if bp.is_standalone_dateline(line) else "body")
        result.lines.append(CleanLine(text=line, start=offset, kind=kind))
        parts.append(line)
        offset += len(line) + 1
    result.text = "\n".join(parts)
    result.headline = lines[head] if head is not None else None
    return result
