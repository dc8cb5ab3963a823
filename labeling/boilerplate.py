"""Line-level boilerplate rules for text scraped without structure.

Each rule is general (a shape or a phrase family seen across news sites), never the
exact string of one page. `line_reason` returns why a line is boilerplate, or None.
The context rules that need the whole page (headline, repeats, footer) live in clean.py.
"""
from __future__ import annotations

import re

# A line "ends like a sentence": terminal punctuation, optionally followed by closing
# quotes or brackets (`returning."`, `Europe." .`).
SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*(?:\s*\.)?$")
WORD = re.compile(r"\w+(?:['’.\-]\w+)*")

_ICON = re.compile(r"\w*icons?\b|\bicon\w*", re.IGNORECASE)
_BREADCRUMB = re.compile(r"^(home\s*[»›>|/]|home[A-Z]|home$)|\s[»›]\s.*\s[»›]\s", re.IGNORECASE)
_BYLINE = re.compile(r"^(by|written by|author:?|posted by|reporting by)\s+[\w.'’\- ,]{1,60}$", re.IGNORECASE)
_MONTHS = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?"
_DATETIME_TOKEN = re.compile(
    r"^(\d{4}-\d{2}-\d{2}(t[\d:.]+z?)?|\d{1,2}[:.]\d{2}([:.]\d{2})?|\d{1,2}[./]\d{1,2}([./]\d{2,4})?|"
    r"\d{1,4},?|" + _MONTHS + r"|(am|pm|a\.m\.|p\.m\.|gmt|utc|msk)|[•·|\-–—/,])$",
    re.IGNORECASE,
)
_HAS_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|\d{1,2}\.\d{1,2}\b|\b" + _MONTHS[:-5] + r"\b", re.IGNORECASE)
_CAPTION = re.compile(r"©|\(c\)\s*\d{4}|\b(image|photo|picture|video) (source|credit)s?\s*:|\bphoto\s*:|getty images|"
                      r"\bREUTERS\s*/|\bAFP\s*/|\bAP Photo\b|\bcopyright holder", re.IGNORECASE)
_RIGHTS = re.compile(r"all rights reserved|copyright\s*(©|\d{4})|rights to this material", re.IGNORECASE)
_SITE_NOTICE = re.compile(
    r"cookie|privacy (policy|notice|&|and)|terms (of|and) (use|service|conditions)|akismet|"
    r"comment data is processed|\b(this|our) (web)?site\b|not necessarily (reflect|imply|represent|endorse)|"
    r"views expressed|\bopt[- ]out\b|javascript|ad ?blocker|disable your ad",
    re.IGNORECASE,
)
_RELATED = re.compile(
    r"^(read more|see also|also read|related( (articles?|news|stories|posts|topics|content))?|you may (also )?like|"
    r"you might (also )?like|more (from|on|stories|news)|recommended( for you)?|most (read|popular|viewed)|"
    r"trending|editor'?s picks?|read next|watch|listen|latest( news)?|top stories)\b",
    re.IGNORECASE,
)
_READ_MORE_INLINE = re.compile(r"\bREAD MORE\s*:|\bRead more\s*:|\bRead also\s*:", re.IGNORECASE)
_COMMENTS = re.compile(
    r"^(leave a (comment|reply)|post a comment|add (a )?comment|show comments|\d+\s+comments?|comments?\s*(\(\d+\))?$|"
    r"do you want to leave a comment|discussion$|be the first to comment|join the (conversation|discussion))",
    re.IGNORECASE,
)
_SOCIAL = re.compile(
    r"\b(subscribe (to|now|for)|newsletter|(register|sign (up|in)|log ?in)\s*$|register and/or|follow (us|\S+ news|\S+) on|"
    r"share (this|on|via)|get short url|click here|download (the|our) app)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://\S+|www\.\S+")
_COUNTER = re.compile(r"^[•·\-–\s]*[\d\s.,:kKmM]+$")
_BULLET = re.compile(r"^\s*[•·▪►■□●○]\s*")
_SOURCE_LINE = re.compile(r"^(source|sources|via|credit|tags?|topics?|categories|filed under)\s*:", re.IGNORECASE)
_STANDALONE_DATELINE = re.compile(r"^[A-Z][a-z]+(?:\s*[-–—]\s*|,\s+)[A-Z][A-Za-z]+\.?$")

_CAPTION_HINTS = ("©", "(c)", "image", "photo", "picture", "video", "getty", "reuters", "afp", "ap photo", "copyright")
_NOTICE_HINTS = ("cookie", "privacy", "terms", "akismet", "comment data", "site", "necessarily", "views expressed",
                 "opt", "javascript", "blocker")

# A menu, notice or caption is never this long; longer lines are article text (and
# skipping the phrase rules keeps a 50 MB single-line article fast).
MAX_BOILERPLATE_CHARS = 2000

# Markers after which the rest of a page is comment lists, teasers or footers.
FOOTER_MARKER = re.compile(
    r"^(you may (also )?like|you might (also )?like|leave a (comment|reply)|do you want to leave a comment|"
    r"related (articles|news|stories|posts)|more (stories|news) from|read next|most (read|popular)|comments\s*\(\d+\)|"
    r"post a comment|join the (conversation|discussion))",
    re.IGNORECASE,
)


def words(line: str) -> list[str]:
    """The word tokens of a line (letters or digits, inner apostrophes, dots and hyphens kept)."""
    return WORD.findall(line)


def ends_like_sentence(line: str) -> bool:
    """True when the line ends with terminal punctuation (closing quotes allowed)."""
    return bool(SENTENCE_END.search(line.rstrip()))


def is_standalone_dateline(line: str) -> bool:
    """A line that is only a place and an agency, such as `Moscow-Sana`."""
    return bool(_STANDALONE_DATELINE.match(line.strip()))


def _is_timestamp(line: str) -> bool:
    if not _HAS_DATETIME.search(line):
        return False
    rest = [t for t in _BULLET.sub("", line).split() if not _DATETIME_TOKEN.match(t)]
    # What is left besides dates and times is at most a section label ("News/Politics").
    return len(rest) <= 2 and not ends_like_sentence(line)


def line_reason(line: str) -> str | None:
    """Why `line` (stripped, non-empty) is boilerplate on its own, or None to keep it.

    Reasons: icons, breadcrumb, byline, timestamp, caption, copyright, site-notice,
    read-more, comments, social, counter, link. Long prose lines are only dropped by
    phrase rules that do not occur in news prose (cookies, ©, "READ MORE:").
    """
    if len(line) > MAX_BOILERPLATE_CHARS:
        return None
    n_words = len(words(line))
    low = line.lower()
    # Cheap substring checks guard the costly case-insensitive regexes (most lines are prose).
    if "icon" in low and len(_ICON.findall(line)) >= 3 and len(_ICON.findall(line)) >= 0.3 * max(n_words, 1):
        return "icons"
    if _COUNTER.match(line):
        return "counter"
    if _BREADCRUMB.search(line) and n_words <= 25:
        return "breadcrumb"
    if any(k in low for k in _CAPTION_HINTS) and _CAPTION.search(line):
        return "caption"
    if ("rights" in low or "copyright" in low) and _RIGHTS.search(line):
        return "copyright"
    if any(k in low for k in _NOTICE_HINTS) and _SITE_NOTICE.search(line):
        return "site-notice"
    if _READ_MORE_INLINE.search(line) or (_RELATED.match(_BULLET.sub("", line)) and not ends_like_sentence(line)):
        return "read-more"
    if _COMMENTS.match(_BULLET.sub("", line)):
        return "comments"
    if _BYLINE.match(line) and n_words <= 6:
        return "byline"
    if n_words <= 12 and _is_timestamp(line):
        return "timestamp"
    if _SOURCE_LINE.match(line) and n_words <= 8:
        return "source-line"
    if n_words <= 15 and _SOCIAL.search(line):
        return "social"
    if _URL.search(line) and n_words <= 15:
        return "link"
    return None
