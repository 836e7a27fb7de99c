"""scanner.alerts.content.text.plain cleans ASCII text with one translate: it must replace
exactly what the per-character rule (Unicode categories Cc and Cf) replaces."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.alerts.content.text import plain


def _by_category(text: str) -> str:
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def test_every_ascii_character_is_kept_or_replaced_as_its_category_says() -> None:
    every = "".join(map(chr, range(128)))
    assert plain(every) == _by_category(every)
    assert plain("a\x00b\x1fc\x7fd\te\nf") == "a b c d e f"


@settings(max_examples=300)
@given(st.text(st.characters(max_codepoint=0x7F)) | st.text())
def test_any_text_is_cleaned_as_the_categories_say(text: str) -> None:
    assert plain(text) == _by_category(text)
    assert plain(text.encode("ascii", "replace").decode()) == _by_category(
        text.encode("ascii", "replace").decode()
    )
