"""JSON parsing and canonical JSON on the hot path: orjson where its result is provably the standard library's.

Every frame is parsed once and every event's key hashes its canonical body, so these two calls are most of the
worker's CPU per event outside the store. orjson is several times faster, but it differs from ``json`` in three ways
that would change an event key: it parses integers beyond 64 bits as floats, it writes floats below 1e-4 or from
1e16 up in another notation, and it refuses NaN, infinities and lone surrogates. A value that holds any of those
takes the standard library's path, so results are byte-identical to ``json.loads`` and
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` on every input (tests/unit/test_fastjson.py).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SAFE_FLOATS = (1e-4, 1e16)  # where orjson and repr() write a float the same way (and no integer became one)


def plain(value: Any) -> bool:
    """True when every float in ``value`` is one both libraries read and write the same way (no recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            magnitude = abs(item)
            if magnitude != 0.0 and not _SAFE_FLOATS[0] <= magnitude < _SAFE_FLOATS[1]:
                return False
    return True


def parse(text: str | bytes) -> tuple[Any, bool]:
    """``json.loads``, faster, and whether the value is ``plain`` (so ``canonical`` need not check it again).

    Raises ValueError for what is not JSON, as ``json.loads`` does."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, Infinity, lone surrogates: the standard library reads them (or raises)
        return json.loads(text), False
    if plain(value):
        return value, True
    return json.loads(text), False


def canonical(value: Any, *, checked: bool = False) -> bytes:
    """Sorted keys, no spaces, UTF-8 (lone surrogates passed through): the bytes an event key hashes.

    ``checked``: the caller knows ``plain(value)`` (``parse`` said so), so it is not walked again."""
    if checked or plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            pass  # an integer beyond 64 bits, a non-string key, a lone surrogate: the standard library writes them
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def lone_surrogate(value: Any) -> bool:
    """True when a string or key in ``value`` holds a lone surrogate (``"\\ud83d"`` in JSON): not valid Unicode, so
    it cannot be written as UTF-8, and no store attribute may hold it. Only values orjson refused can (``parse``
    returned ``False``), so the hot path never walks."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
            pending.extend(item.keys())
        elif kind is list:
            pending.extend(item)
        elif kind is str:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False
