"""Rule-based sentence splitting that survives scraped news text.

Every kept line is its own unit (headlines and standalone datelines stay whole); a
dateline prefix (`Stockholm. December 2. INTERFAX - `) becomes its own unit; body lines
are split at terminal punctuation, including glued boundaries (`Council.Lavrov added`),
but not after abbreviations (`U.S.`, `Dec. 2`, `Gen.`, `No. 5`), initials, or a closing
quote followed by its attribution (`...returning." Lavrov said.`).

One left-to-right regex scan per line with constant look-around per candidate:
linear in the text length, so a 50 MB single-line article splits in seconds.
Offsets are exact: `text[start:end]` is the sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from labeling.ingest.clean import CleanLine

_CANDIDATE = re.compile(r"[.!?…]+")
_CLOSERS = "\"”’'»)]"
_OPENERS = "\"“‘'«(["
_NEXT_WORD = re.compile(r"[\"“‘'«(\[]?(\w[\w'’\-]*)")
_ATTRIBUTION = re.compile(
    r"(?:(?:[A-Z][\w'’\-]*|the|a|an|his|her|its|their)\s+){0,5}"
    r"(?:said|says|added|adds|told|stressed|noted|claimed|wrote|explained|warned|asked|insisted|declared|"
    r"continued|concluded|emphasized|emphasised|stated|went on)\b"
)
_DATELINE = re.compile(
    r"(?:[A-Z][\w'’\-]*\.?|\d{1,2}(?:st|nd|rd|th)?\.?|\([A-Za-z][\w /]*\))"
    r"(?:,?\s+(?:[A-Z][\w'’\-]*\.?|\d{1,2}(?:st|nd|rd|th)?\.?|\([A-Za-z][\w /]*\))|,\s*[A-Z]{2,}\w*){0,7}"
    r"\s*,?\s*[-–—]{1,2}(?=\s+[\"“A-Z])"
)
_DATELINE_EVIDENCE = re.compile(r"\b[A-Z]{3,}\b|\(|\d")
# Title abbreviations: never end a sentence.
_TITLES = frozenset(
    "mr mrs ms dr gen lt col maj sgt capt cmdr adm gov sen rep rev prof st mt ft pres supt hon messrs "
    "vs cf approx dept est fig al".split()
)
# End a sentence only before a word that usually starts one.
_SOFT = frozenset("inc corp ltd co jr sr etc bros".split())
# Abbreviations before numbers: `Dec. 2`, `No. 5`, `Art. 5`, `p. 12`.
_BEFORE_NUMBER = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec no nos art vol p pp ch sec".split())
_STARTERS = frozenset(
    "the a an it he she they we i this that these those there but and in on at for if when while as after "
    "before his her its their our my however meanwhile yet so since according".split()
)
_ABBREVIATIONS = _TITLES | _SOFT | _BEFORE_NUMBER
_TIMEZONES = frozenset("gmt utc est edt pst pdt cet cest msk et pt bst".split())


@dataclass(slots=True)
class Span:
    """A sentence: offsets into the cleaned text and its kind."""

    start: int
    end: int
    kind: str
    line: int = 0  # index of the cleaned line it comes from


def _token_before(text: str, pos: int) -> str:
    """The non-space token ending at `pos` (at most 40 characters back: constant time)."""
    return text[text.rfind(" ", max(0, pos - 40), pos) + 1:pos]


def _is_abbreviation(text: str, dot: int, nxt: str) -> bool:
    """Is the period at `dot` part of an abbreviation, given the next word `nxt`?"""
    token = _token_before(text, dot).lstrip(_OPENERS)
    core = token.rstrip(".").lower()
    if not core:
        return False
    next_lower = nxt.lower()
    if core in _TITLES:
        return True
    if core in _BEFORE_NUMBER:
        return nxt[:1].isdigit()
    if core in _SOFT:
        return next_lower not in _STARTERS
    if len(core) == 1 and core.isalpha():
        return True  # an initial: `J. Smith`, `George W. Bush`
    if "." in core:  # dotted: U.S, a.m, e.g
        if core in ("a.m", "p.m"):
            return next_lower in _TIMEZONES or not nxt[:1].isupper()
        return next_lower not in _STARTERS
    return False


def _boundary_after(text: str, m: re.Match, end: int) -> tuple[int, int] | None:
    """Decide whether the punctuation match ends a sentence.

    Returns (sentence end, next sentence start) or None for no boundary.
    """
    p = m.end()
    if p - m.start() == 1 and p + 1 < end and text[p] == " " and text[p + 1].isupper():
        # Fast path, most boundaries: `word. Next` after a plain word that is no abbreviation.
        if text[m.start()] in "!?":
            return p, p + 1
        token = text[text.rfind(" ", max(0, m.start() - 40), m.start()) + 1:m.start()]
        if text[m.start()] == "." and len(token) > 1 and token.isalpha() and token.lower() not in _ABBREVIATIONS:
            return p, p + 1
    punct = m.group(0)
    e = p
    while e < end and text[e] in _CLOSERS:
        # A straight quote glued to a word opens the next sentence (`agreements."It`).
        if text[e] in "\"'" and e + 1 < end and text[e + 1].isalnum():
            break
        e += 1
    if e >= end:
        return None  # the line end is a boundary anyway
    s = e
    while s < end and text[s].isspace():
        s += 1
    glued = s == e
    nm = _NEXT_WORD.match(text, s)
    nxt = nm.group(1) if nm else text[s:s + 1]
    if not nxt or not (nxt[0].isupper() or nxt[0].isdigit() or text[s] in _OPENERS):
        return None
    if "…" in punct or "..." in punct:
        before = text[m.start() - 1] if m.start() > 0 else " "
        if before.isspace() or glued or not nxt[0].isupper():
            return None
    if glued:
        # `Council.Lavrov`: only after a lowercase word, so `U.S.Army` and `3.5` stay whole.
        word = _token_before(text, m.start()).lstrip(_OPENERS)
        if len(punct) != 1 or not re.fullmatch(r"\w*[a-z]{2}", word) or nxt[0].isdigit():
            return None
    if punct == "." and _is_abbreviation(text, m.start(), nxt):
        return None
    if e > p and _ATTRIBUTION.match(text, s):
        return None  # `returning." Lavrov said.` is one sentence
    return e, s


def _split_line(text: str, start: int, end: int, line: int) -> list[Span]:
    spans: list[Span] = []
    sent_start = start
    for m in _CANDIDATE.finditer(text, start, end):
        if m.start() < sent_start:
            continue  # closing quotes already taken by the previous sentence
        decided = _boundary_after(text, m, end)
        if decided is None:
            continue
        sent_end, next_start = decided
        if sent_end > sent_start and not text[sent_start:sent_end].isspace():
            spans.append(Span(sent_start, sent_end, "body", line))
        sent_start = next_start
    if end > sent_start and not text[sent_start:end].isspace():
        spans.append(Span(sent_start, end, "body", line))
    return spans


def split_lines(text: str, lines: list[CleanLine]) -> list[Span]:
    """Split the cleaned text into sentence spans, line by line.

    Inputs: the cleaned text and its kept lines (offsets and kinds from clean_article).
    Output: spans in text order; headline and dateline lines are single spans, a
    dateline prefix of a body line is split off, body lines are split into sentences.
    """
    spans: list[Span] = []
    for no, line in enumerate(lines):
        start, end = line.start, line.start + len(line.text)
        if line.kind != "body":
            spans.append(Span(start, end, line.kind, no))
            continue
        dm = _DATELINE.match(text, start, end)
        if dm and _DATELINE_EVIDENCE.search(dm.group(0)) and len(dm.group(0)) <= 80:
            spans.append(Span(start, dm.end(), "dateline", no))
            start = dm.end()
            while start < end and text[start].isspace():
                start += 1
        spans.extend(_split_line(text, start, end, no))
    return spans


def split_text(text: str) -> list[str]:
    """Convenience for tests and callers with plain text: each line is a body line."""
    lines, offset = [], 0
    for part in text.split("\n"):
        if part.strip():
            lines.append(CleanLine(part, offset, "body"))
        offset += len(part) + 1
    return [text[s.start:s.end] for s in split_lines(text, lines)]
