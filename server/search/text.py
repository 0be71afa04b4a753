"""Text normalisation shared by indexing and querying: one function decides what a "word" is.

Words are compared case- and accent-insensitively ("Beyoncé" → "beyonce", "Straße" → "strasse"),
split on anything that is not a letter or digit, with apostrophes dropped inside words ("Don't" →
"dont"). Typo tolerance is one edit (insert, delete, substitute, or swap two neighbours) for query
words of five letters or more (see ``TextIndex._typo_words``).
"""

from __future__ import annotations

import re
import unicodedata

MIN_TYPO_LENGTH = 5
"""Query words shorter than this must match exactly or as a prefix (short words have too many neighbours)."""

_WORD = re.compile(r"\w+")
_APOSTROPHES = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
# Letters that NFKD does not decompose into a base letter plus marks.
_FOLD = str.maketrans(
    {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "æ": "ae", "œ": "oe"}
    | {"\u0131": "i", "ħ": "h", "ŧ": "t"}
)


def fold(text: str) -> str:
    """``text`` lower-cased, without accents, as compared by search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_FOLD)


def words(text: str | None) -> list[str]:
    """The searchable words of ``text``, folded, in order (duplicates kept)."""
    if not text:
        return []
    return [w.replace("_", "") for w in _WORD.findall(_APOSTROPHES.sub("", fold(text))) if w.strip("_")]
