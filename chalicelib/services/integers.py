"""Integers as clients write them: ASCII decimal digits, read by one parser for every dialect.

int() takes more than a client means as a number: "１" or "١" (digits of other scripts), "1_0", " 1 ",
and a pattern ending in `$` lets "1\n" through. Each dialect words its own refusal of what this refuses.
"""

from __future__ import annotations

import re

MAX_DIGITS = 18  # past every id, count and page deployd serves, and still a signed 64-bit integer

_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")


def ascii_integer(text: str, *, signed: bool = False, digits: int = MAX_DIGITS, saturate: bool = False) -> int | None:
    """The integer `text` writes in ASCII digits (after one leading "-" when `signed`), else None.

    More than `digits` digits is None as well, unless `saturate`: then it reads as 10**digits (negated when
    negative), beyond any range a caller accepts, so that caller refuses it as out of range, not as no number.
    """
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        return None
    if len(text.removeprefix("-")) > digits:
        if not saturate:
            return None
        return -(10**digits) if text.startswith("-") else 10**digits
    return int(text)
