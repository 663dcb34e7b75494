"""allocations/text_checks.py: bidi controls and zero-width characters are refused, any script is not
(issue 21, item 19)."""

from __future__ import annotations

import unicodedata

import pytest
from django.core.exceptions import ValidationError

from allocations.text_checks import INVISIBLE, invisible_characters, invisible_problem, validate_visible

REFUSED = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
    *(chr(c) for c in range(0x200B, 0x200E)),
    "\u2060",
    "\ufeff",
]


def test_the_refused_set_is_the_issues_list():
    assert INVISIBLE == frozenset(REFUSED) and len(REFUSED) == 17


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_each_refused_character_is_named_with_its_position(char):
    assert invisible_characters(f"ab{char}c") == [(2, f"U+{ord(char):04X} " + unicodedata.name(char))]
    with pytest.raises(ValidationError):
        validate_visible(f"ab{char}c")


@pytest.mark.parametrize("text", ["tech-a", "Énergie", "日本株", "صندوق", "Macro 🌍", "a\u00a0b", ""])
def test_visible_text_passes(text):
    assert invisible_characters(text) == [] and invisible_problem(text, "name") is None
    validate_visible(text)


def test_the_message_names_the_field_and_stops_after_five():
    problem = invisible_problem("\u200b" * 7, "name")
    assert problem.startswith("name holds an invisible or direction-changing character (U+200B ZERO WIDTH SPACE at 0")
    assert problem.endswith("and 2 more); remove it")


def test_what_is_not_text_is_left_to_other_checks():
    assert invisible_problem(None, "name") is None and invisible_problem(3, "name") is None
