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
    r"\d{1,4}|" + _MONTHS + r"|(am|pm|a\.m\.|p\.m\.|gmt|utc|msk)|[•·|\-–—/,])$",
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
# "Read more:" and its usual translations (French, German, Spanish, Russian, Arabic), followed by a colon.
_READ_MORE_INLINE = re.compile(
    r"\b(read more|read also|also read|(à )?lire aussi|voir aussi|lesen sie (auch|mehr)|lee también|leer más|"
    r"читайте также|смотрите также)\s*:|اقرأ أيضا",
    re.IGNORECASE,
)
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
# Agency credits: "(Reporting by A in B; Editing by C)", "Writing by D".
_CREDITS = re.compile(r"^\(?\s*(additional )?(reporting|writing|editing|compiled|translated|research|graphics)\s+by\b",
                      re.IGNORECASE)
CREDITS_TAIL = re.compile(r"\s*\(\s*(additional )?(reporting|writing|editing)\s+by\b[^()]*\)$", re.IGNORECASE)
_STANDARDS = re.compile(r"\bour standards\b|\btrust principles\b|\beditorial (standards|guidelines|policy)\b|"
                        r"\bcorrections? policy\b", re.IGNORECASE)
# Words of site navigation; a short line made mostly of them is a menu ("Sign in Subscribe Search").
_NAV_WORDS = frozenset(
    "home news world politics business markets economy opinion sport sports video videos live tv radio podcasts "
    "culture lifestyle entertainment science tech technology health travel weather regions local national nation "
    "international search menu sign in up log login logout register subscribe subscription account my e-paper "
    "epaper newsletters more latest accueil politique économie société culture connexion rechercher actualités "
    "monde sécurité international startseite nachrichten inicio noticias mundo".split()
)
# Separators of menu items: " | ", " · ", " • ", " » ", " › ", or runs of 2+ spaces / tabs in the raw line.
_MENU_SEP = re.compile(r"\s+[|·•»›/]\s+|\s*\t\s*| {2,}")
_STANDALONE_DATELINE = re.compile(r"^[A-Z][a-z]+(?:\s*[-–—]\s*|,\s+)[A-Z][A-Za-z]+\.?$")

_CAPTION_HINTS = ("©", "(c)", "image", "photo", "picture", "video", "getty", "reuters", "afp", "ap photo", "copyright")
_NOTICE_HINTS = ("cookie", "privacy", "terms", "akismet", "comment data", "site", "necessarily", "views expressed",
                 "opt", "javascript", "blocker", "standards", "principles", "editorial", "policy")
# A menu, notice or caption is never this long; longer lines are article text (and
# skipping the phrase rules keeps a 50 MB single-line article fast).
MAX_BOILERPLATE_CHARS = 2000
# Lines longer than this are counted by whitespace: they hold 40+ words either way, past every
# threshold that decides on a word count.
LONG_LINE_CHARS = 300

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


def count_words(line: str) -> int:
    """Number of word tokens; long lines are counted by whitespace (they are prose either way)."""
    if len(line) > LONG_LINE_CHARS:
        return line.count(" ") + 1  # normalized lines have single spaces; no token list for a 50 MB line
    return len(WORD.findall(line))


def ends_like_sentence(line: str) -> bool:
    """True when the line ends with terminal punctuation (closing quotes allowed)."""
    return bool(SENTENCE_END.search(line[-12:].rstrip()))


def is_standalone_dateline(line: str) -> bool:
    """A line that is only a place and an agency, such as `Moscow-Sana`."""
    return bool(_STANDALONE_DATELINE.match(line.strip()))


def is_menu(raw: str, line: str, n_words: int) -> bool:
    """A line of navigation items: separated short items, or mostly navigation words.

    `raw` is the line before spaces were collapsed (runs of spaces separate menu items),
    `line` the normalized line. Lines ending like a sentence are never menus.
    """
    if n_words > 15 or ends_like_sentence(line):
        return False
    items = [x for x in _MENU_SEP.split(raw.strip()) if x.strip()]
    if len(items) >= 3 and all(len(x.split()) <= 3 for x in items):
        return True
    tokens = [t.lower() for t in WORD.findall(line)]
    return len(tokens) >= 2 and sum(t in _NAV_WORDS for t in tokens) >= 0.75 * len(tokens)


def _is_timestamp(line: str) -> bool:
    if not _HAS_DATETIME.search(line):
        return False
    rest = [t for t in _BULLET.sub("", line).split() if not _DATETIME_TOKEN.match(t.rstrip(",;"))]
    # What is left besides dates and times is at most a section label ("News/Politics").
    return len(rest) <= 2 and not ends_like_sentence(line)


def _phrase_reason(line: str, low: str, n_words: int) -> str | None:
    """Rules for phrases that never occur in news prose: apply to lines of any length."""
    if "icon" in low:
        icons = len(_ICON.findall(line))
        if icons >= 3 and icons >= 0.3 * max(n_words, 1):
            return "icons"
    if any(map(low.__contains__, _CAPTION_HINTS)) and _CAPTION.search(line):
        return "caption"
    if ("rights" in low or "copyright" in low) and _RIGHTS.search(line):
        return "copyright"
    if any(map(low.__contains__, _NOTICE_HINTS)) and (_SITE_NOTICE.search(line) or _STANDARDS.search(line)):
        return "site-notice"
    if ("read" in low or ":" in low or "اقرأ" in low) and _READ_MORE_INLINE.search(line):
        return "read-more"
    if "by" in low and n_words <= 60 and _CREDITS.match(line):
        return "credits"
    return None


def line_reason(line: str, n_words: int | None = None, punct: bool | None = None) -> str | None:
    """Why `line` (stripped, non-empty) is boilerplate on its own, or None to keep it.

    `n_words` and `punct` (ends like a sentence) may be passed when already known.
    Reasons: icons, caption, copyright, site-notice, read-more, credits, counter,
    breadcrumb, comments, byline, timestamp, source-line, social, link. Long prose lines
    are only dropped by phrase rules that do not occur in news prose (cookies, ©,
    "READ MORE:", "Reporting by").
    """
    if len(line) > MAX_BOILERPLATE_CHARS:
        return None
    n_words = count_words(line) if n_words is None else n_words
    punct = ends_like_sentence(line) if punct is None else punct
    low = line.lower()
    reason = _phrase_reason(line, low, n_words)
    if reason or (punct and n_words > 25):
        return reason  # every rule below is for short lines
    bare = line.lstrip("•·▪►■□●○ ")
    if _COUNTER.match(line):
        return "counter"
    if n_words <= 25 and _BREADCRUMB.search(line):
        return "breadcrumb"
    if not punct and _RELATED.match(bare):
        return "read-more"
    if _COMMENTS.match(bare):
        return "comments"
    if n_words <= 6 and _BYLINE.match(line):
        return "byline"
    if n_words <= 12 and _is_timestamp(line):
        return "timestamp"
    if n_words <= 8 and _SOURCE_LINE.match(line):
        return "source-line"
    if n_words <= 15 and _SOCIAL.search(line):
        return "social"
    if n_words <= 15 and ("http" in low or "www." in low) and _URL.search(line):
        return "link"
    return None
