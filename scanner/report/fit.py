"""Text fitted to a table column: a long name loses its middle, at word
boundaries, so that its start and its end still say which it is."""

from __future__ import annotations

import re
import textwrap

ELLIPSIS = "…"
_AFTER_SEPARATOR = re.compile(r"(?<=[\s\-_/.@:,])")


def fit(text: str, width: int) -> str:
    """TEXT, or its first and last words around an ellipsis, in WIDTH
    characters. Only a first word too long for WIDTH is cut inside."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    words = [w for w in _AFTER_SEPARATOR.split(text) if w]
    room = width - len(ELLIPSIS)
    first, last = 0, len(words)  # words[:first] and words[last:] are kept

    def size(a: int, b: int) -> int:
        return len("".join(words[:a]).rstrip()) + len("".join(words[b:]).lstrip())

    grew = True
    while grew and first < last:
        grew = False
        if first < last and size(first + 1, last) <= room:  # the start says more: first
            first, grew = first + 1, True
        if first < last and size(first, last - 1) <= room:
            last, grew = last - 1, True
    if first == 0:
        return text[:room].rstrip() + ELLIPSIS
    return "".join(words[:first]).rstrip() + ELLIPSIS + "".join(words[last:]).lstrip()


def wrap_words(text: str, width: int) -> str:
    """TEXT in lines of WIDTH, broken between words or after a hyphen: a rule
    id or a sentence is read whole, over lines."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=True)) or text
