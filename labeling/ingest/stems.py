"""Content-word stems of sentences and their stable 32-bit ids (for near-duplicate detection).

Sentences are compared as sets of stems: lowercase words without stop words or small
numbers, cut to 5 characters (`refusing`/`refuses` -> `refus`). Stem ids are computed
for many stems in one numpy pass and are the same in every run and process.
"""
from __future__ import annotations

import re
from operator import itemgetter

import numpy as np

STEM_CHARS = 5  # stems are words cut to this many characters
_WORD = re.compile(r"\w+")
_ASCII_NON_WORD = str.maketrans({chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")})
_STOP = frozenset(
    "a an the and or but of to in on at by for with from as into about over after before than then that this these "
    "those there here is are was were be been being has have had do does did will would shall should can could may "
    "might must not no it its he she they them his her their our we us you your i me my who whom which what when "
    "where why how also said says say just only very more most such so if while".split()
)
# Stop words and small numbers (list markers and counters) are not content.
_DROP = _STOP | {str(i) for i in range(100)} | {f"{i:02d}" for i in range(10)}
_POWERS = np.array([0x9E3779B97F4A7C15 ** (i + 1) % 2**64 for i in range(STEM_CHARS)], dtype=np.uint64)


def words(text: str) -> list[str]:
    """Lowercase word tokens of `text` (runs of \\w characters)."""
    low = text.lower()
    if low.isascii():
        # ASCII \w is [a-z0-9_]: every other character to a space, then a C split (~30% faster).
        return low.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(low)


def stems_of(tokens: list[str], prefix: int = STEM_CHARS) -> set[str]:
    """Distinct stems of lowercase tokens (set difference and map run in C: this is the hot path)."""
    return set(map(itemgetter(slice(0, prefix)), set(tokens) - _DROP))


def content_stems(text: str, prefix: int = STEM_CHARS) -> list[str]:
    """Distinct content-word stems of `text`: lowercase, stop words dropped, cut to `prefix` chars."""
    return sorted(stems_of(words(text), prefix))


def stem_ids(stems: list[str]) -> np.ndarray:
    """Stable 32-bit ids of stems (at most STEM_CHARS characters), for many stems in one numpy pass.

    A polynomial over the code points, mixed with MurmurHash3's 64-bit finalizer; the
    same in every run and process (Python's str hash is not), so groups are reproducible.
    """
    points = np.array(stems, dtype=f"<U{STEM_CHARS}").view(np.uint32).reshape(len(stems), STEM_CHARS)
    h = (points.astype(np.uint64) * _POWERS).sum(axis=1, dtype=np.uint64)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def stem_id(stem: bytes | str) -> int:
    """One stem's id (datasketch `hashfunc` form: accepts the UTF-8 bytes too)."""
    return int(stem_ids([stem.decode("utf-8") if isinstance(stem, bytes) else stem])[0])


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before its affine permutations."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))
