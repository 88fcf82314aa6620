"""Text that UTF-8 cannot hold. JSON's \\ud800 escape (half of a UTF-16 pair, alone)
decodes to a lone surrogate, and so do bytes that are not UTF-8 in a command-line
argument (Python keeps them as surrogates). SQLite, the journal, log lines and
answers all need UTF-8: such text is refused where it comes in (lone_surrogate_at,
utf8_ok), or written as its escape where it is only shown (printable)."""
from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 control characters and DEL: refused in AMS strings, escaped in log lines
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def utf8_ok(text: str) -> bool:
    return text.isascii() or not _SURROGATE.search(text)


def printable(text: str) -> str:
    """`text`, with any lone surrogate written as its escape (\\ud800)."""
    return text if utf8_ok(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate_at(data) -> tuple[tuple, bool] | None:
    """Where in parsed JSON the first string holding a lone surrogate is: (the path of
    keys and list indexes, whether it is a key of the object at that path); None if
    there is none."""
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not utf8_ok(value):
                return path, False
        elif isinstance(value, dict):
            for key, item in value.items():
                if not utf8_ok(key):
                    return path, True
                stack.append((path + (key,), item))
        elif isinstance(value, list):
            stack.extend((path + (i,), item) for i, item in enumerate(value))
    return None
