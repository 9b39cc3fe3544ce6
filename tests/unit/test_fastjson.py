"""The fast JSON path gives the standard library's results, byte for byte, on every kind of input."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.fastjson import canonical, parse


def stdlib_canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_parse_and_canonical_equal_the_standard_librarys(value):
    """Given any JSON value, written any way, parsing and canonical bytes are the standard library's."""
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        parsed = parse(text)[0]
        assert parsed == json.loads(text) and type(parsed) is type(json.loads(text))
        assert canonical(parsed) == stdlib_canonical(json.loads(text))


def test_floats_of_every_magnitude_are_written_as_repr_writes_them():
    """Given 200,000 floats drawn from every bit pattern, and the boundaries where notations change."""
    rng = random.Random(7)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(200_000)]
    floats += [m * 10.0**e for m in (1, 1.5, 9.999999999999999, 9007199254740993) for e in range(-30, 30)]
    floats += [1e-4, 9.999999999999999e-5, 1e16, 9999999999999998.0, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
    for value in (f for f in floats if math.isfinite(f)):
        assert canonical([value, -value]) == stdlib_canonical([value, -value]), value
        assert parse(json.dumps(value))[0] == value


def test_what_orjson_reads_differently_takes_the_standard_librarys_path():
    """Given integers beyond 64 bits, NaN, infinities and lone surrogates, results are the standard library's."""
    for text in (
        "123456789012345678901234567890",
        '{"n": -98765432109876543210987}',
        '{"x": NaN, "y": -Infinity}',
        '{"s": "\\ud800"}',
        '{"big": 1e400}',
    ):
        parsed = parse(text)[0]
        expected = json.loads(text)
        assert json.dumps(parsed) == json.dumps(expected)
        assert canonical(parsed) == stdlib_canonical(expected)


def test_keys_sort_by_code_point_as_the_standard_library_sorts_them():
    value = {"b": 1, "B": 2, "é": 3, "😀": 4, "a\u0000": 5, "": 6, "ﬀ": 7}
    assert canonical(value) == stdlib_canonical(value)
