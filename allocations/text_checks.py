"""Characters a code or a name must not hold: the ones that change how text looks without being seen.

A bidi control (U+202E RIGHT-TO-LEFT OVERRIDE) makes ``tech-A<U+202E>1-hcet`` display as another
code in the admin, the dashboard and an exported CSV; a zero-width character makes two codes that
look the same differ (``energy`` and ``ener<U+200B>gy``), so a signal or a search finds the wrong
one. Neither has a use in a code or a name here, so both are refused where codes and names are
written (the services and the admin's forms), naming the character and its position.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    "\u2066\u2067\u2068\u2069"  # isolates (LRI, RLI, FSI, PDI)
    "\u200e\u200f\u061c"  # marks (LRM, RLM, ALM)
)
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")  # ZWSP, ZWNJ, ZWJ, WORD JOINER, BOM
INVISIBLE = BIDI_CONTROLS | ZERO_WIDTH


def invisible_characters(value: str) -> list[tuple[int, str]]:
    """``[(position, "U+202E RIGHT-TO-LEFT OVERRIDE"), ...]`` for every refused character of ``value``."""
    if value.isascii():  # the usual case, decided without a loop
        return []
    return [
        (position, f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}")
        for position, char in enumerate(value)
        if char in INVISIBLE
    ]


def invisible_problem(value: object, field: str) -> str | None:
    """Why ``value`` is refused as ``field``, or None (a value that is not text is another check's)."""
    if not isinstance(value, str):
        return None
    found = invisible_characters(value)
    if not found:
        return None
    shown = ", ".join(f"{name} at {position}" for position, name in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return f"{field} holds an invisible or direction-changing character ({shown}{more}); remove it"


def validate_visible(value: object) -> None:
    """A Django validator (admin forms): ``ValidationError`` when ``value`` holds a refused character."""
    problem = invisible_problem(value, "the value")
    if problem is not None:
        raise ValidationError(problem, code="invisible_character")
