"""Cleaning one article: header, boilerplate lines, headline; counts what is dropped.

Rules run in three passes over the lines of the article:
1. a leading header of `key value` lines (`date 2021-12-02 URL`) is parsed into metadata;
2. each line is checked on its own (labeling.ingest.boilerplate: menus, cookies, bylines, ...);
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

from labeling.ingest import boilerplate as bp
from labeling.config import StrictModel

_HEADER = re.compile(r"^(date|url|title|source|id|author)\s*:?\s+(\S.*)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_HEADER_URL = re.compile(r"https?://\S+")
# Invisible characters that scrapers leave in text; they would break offsets and matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_ASCII_SPACES = re.compile(r"[ \t\v\f\x1c-\x1f]{2,}|[\t\v\f\x1c-\x1f]")
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
    nul_bytes: int = 0  # NUL characters stripped from the raw text


def normalize_line(line: str) -> str:
    """NFC, invisible characters removed, runs of spaces collapsed, ends stripped."""
    if line.isascii():
        # The common case: no Unicode work, and no copy at all unless spaces need collapsing.
        # (Substring and isprintable tests are C scans; a regex search here cost more than the rest.)
        needs = "  " in line or not line.isprintable()  # tabs and other control whitespace are unprintable
        return (_ASCII_SPACES.sub(" ", line) if needs else line).strip()
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
    if len(line) > bp.LONG_LINE_CHARS:
        return line  # long repeats are exact copies: the line itself (no copy of a 50 MB line)
    return " ".join(bp.words(line.lower()))


def _similar(a: str, b: str) -> float:
    sa, sb = set(a.split()), set(b.split())
    return len(sa & sb) / max(1, len(sa | sb))


@dataclass
class _Line:
    """What the context rules need of a line, computed once."""

    text: str
    n_words: int
    punct: bool
    key: str
    reason: str | None = None


def _slug_words(url: str | None) -> set[str]:
    if not url:
        return set()
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    return {w for w in re.split(r"[^a-z0-9]+", path.lower()) if len(w) > 2 and not w.isdigit()}


def _find_headline(lines: list[_Line], title: str | None, url: str | None, options: CleanOptions) -> int | None:
    """The headline's index: the given title, else the best headline-shaped line before any prose.

    Scraped pages repeat the headline and put its words in the URL slug; a candidate with
    either sign beats the first candidate (which may be a teaser or a section title).
    """
    if title:
        tkey = _key(title)
        return next((i for i, x in enumerate(lines) if x.reason is None and x.key == tkey), None)
    candidates: list[int] = []
    for i, x in enumerate(lines):
        if x.reason is not None:
            continue
        if x.punct and x.n_words >= options.min_prose_words:
            break
        if options.min_headline_words <= x.n_words <= options.max_headline_words and not x.punct:
            candidates.append(i)
    if not candidates:
        return None
    slug = _slug_words(url)
    keys = [lines[i].key for i in candidates]

    def score(i: int) -> int:
        words = set(lines[i].key.split())
        repeated = keys.count(lines[i].key) > 1 or any(x.key == lines[i].key for x in lines[i + 1:i + 6] if x.reason)
        in_slug = len(words & slug) >= max(2, 0.4 * len(words)) if slug else False
        return 2 * repeated + in_slug

    return max(candidates, key=lambda i: (score(i), -i))


def _context_reasons(lines: list[_Line], title: str | None, url: str | None, options: CleanOptions) -> int | None:
    """Fill in reasons that need the whole page; returns the headline's line index."""
    head = _find_headline(lines, title, url, options)
    headline = lines[head].key if head is not None else (_key(title) if title else None)
    seen: set[str] = set()
    in_footer = False
    for i, x in enumerate(lines):
        key = x.key or x.text
        if x.n_words <= 12 and bp.FOOTER_MARKER.match(x.text):
            in_footer = True
        if x.reason is not None or i == head:
            seen.add(key)
            continue
        n, punct = x.n_words, x.punct
        if key in seen:
            x.reason = "repeated"
        elif headline and not punct and n <= options.max_headline_words and _similar(x.key, headline) >= options.headline_similarity:
            x.reason = "repeated-headline"
        elif head is not None and i < head and not (punct and n >= options.min_prose_words):
            x.reason = "navigation"
        elif in_footer and not (punct and n >= options.resume_prose_words):
            x.reason = "after-footer"
        elif not punct and n <= options.max_menu_words and not bp.is_standalone_dateline(x.text):
            x.reason = "menu"
        if in_footer and x.reason is None:
            in_footer = False  # real prose resumed: the marker was a widget inside the article
        seen.add(key)
    return head


def _line_info(raw: str, line: str) -> _Line:
    key = _key(line)
    n_words = len(key.split()) if len(line) <= bp.LONG_LINE_CHARS else bp.count_words(line)
    punct = bp.ends_like_sentence(line)
    reason = bp.line_reason(line, n_words, punct)
    if reason is None and bp.is_menu(raw, line, n_words):
        reason = "menu"
    return _Line(line, n_words, punct, key, reason)


def _split_raw(raw: str) -> list[tuple[str, str]]:
    """(raw line, normalized line) pairs of the non-empty lines."""
    out = []
    for part in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = normalize_line(part)
        if line:
            out.append((part, line))
    return out


def clean_article(raw: str, title: str | None = None, options: CleanOptions | None = None) -> CleanResult:
    """Clean one article's raw text.

    Inputs: the raw text (any newline style), an optional known title, thresholds.
    Output: CleanResult with the cleaned text (kept lines joined by newlines), the kept
    lines with offsets and kinds, the headline, header metadata (date, url, ...), and
    the dropped lines counted by reason. NUL characters (a C string's end inside a CSV
    field, padding from a bad export) are stripped and counted. Never raises on odd text;
    an article with no kept line gives an empty cleaned text.
    """
    options = options or CleanOptions()
    nul_bytes = raw.count("\x00")
    if nul_bytes:
        raw = raw.replace("\x00", "")
    pairs = _split_raw(raw)
    header, n_header = _parse_header([line for _, line in pairs[:8]])
    result = CleanResult(text="", lines=[], header=header, nul_bytes=nul_bytes)
    for _, line in pairs[:n_header]:
        result.dropped["header"] += 1
        result.dropped_lines.append(("header", line))
    lines = [_line_info(r, x) for r, x in pairs[n_header:]]
    title = title or header.get("title")
    head = _context_reasons(lines, title, header.get("url"), options)
    parts: list[str] = []
    offset = 0
    for i, x in enumerate(lines):
        text = x.text
        if x.reason is None and i != head and "by" in text[-300:].lower():
            # "... said. (Reporting by A; Editing by B)": the credits are cut, the prose kept.
            tail = bp.CREDITS_TAIL.search(text, max(0, len(text) - 300))
            if tail and tail.start() > 0:
                result.dropped["credits"] += 1
                result.dropped_lines.append(("credits", text[tail.start():].strip()))
                text = text[:tail.start()]
        if x.reason is not None:
            result.dropped[x.reason] += 1
            result.dropped_lines.append((x.reason, text))
            continue
        kind = "headline" if i == head else ("dateline" if bp.is_standalone_dateline(text) else "body")
        result.lines.append(CleanLine(text=text, start=offset, kind=kind))
        parts.append(text)
        offset += len(text) + 1
    result.text = "\n".join(parts)
    result.headline = lines[head].text if head is not None else None
    return result
