"""What deployd takes as text and as a link, in every dialect.

Control characters (C0 and DEL) have no place in names, refs, paths or URLs: a NUL truncates what C code
reads, CR and LF split log lines and headers, ESC drives terminals that print them. Free text (descriptions,
build commands) may hold tab, LF and CR, nothing else of them. A URL deployd stores or links to is http or
https with a host: a `javascript:` or `data:` link would run in whatever page or chat shows it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all but tab, LF and CR

# The same rules as JSON Schema patterns (ECMA 262), for the OpenAPI document of the bodies that follow them.
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NO_CONTROL_IN_FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

CONTROL_CHARACTERS = "must not contain control characters"
NOT_A_WEB_URL = "must be an http or https URL with a host"


def control_character(value: str, free_text: bool = False) -> str | None:
    """The first control character `value` must not hold, as U+XXXX, or None when it holds none."""
    found = (_CONTROL_IN_FREE_TEXT if free_text else _CONTROL).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def is_web_url(value: str) -> bool:
    if control_character(value) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number is a ValueError here
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)
