"""Canonical JSON, output digests and edge IDs, byte for byte as the reference (Go).

The golden values below were produced by a Go 1.19 program decoding with
``encoding/json`` into ``interface{}`` and writing the reference's canonical
form with ``json.Marshal`` for numbers and strings (Go 1.22 changed only the
escapes of U+0008 and U+000C, tested separately), and an independent base58.
"""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from taco_core.canonical_json import canonical_json, go_float, go_quote, go_string, loads_like_go
from taco_core.digest import base58, edge_id, value_digest

GO_DIGESTS = [
    ('"vpc-123"', "6v6zFRBonXxrpsmpX25AfoQQUkeMKgofxPiwuEBi3fqx"),
    ('{"b":[1,2.50,"x"],"a":{"z":null,"y":true}}', "GJpFYHuemhgJakvxRQGyN6wWvMj3WBvsn2rF7KFqPma9"),
    ("1e21", "3RxgdK87eNpnrSsnTKLccSB21iCwQNMQ1iqSLiPNAQ4T"),
    ("[]", "6LfKoQQMqb8fYgA1PwBPKMhFaJ59Fn3DWw6qTRri4zjN"),
    ("null", "8pMX5iwgcaGeeKsgQEUW7danTkVQqsMtK4vKrTzN1C3U"),
    ('"<a & b>"', "2oAAJs7LVTsKT8vaRLhY3BjSYYfy2hTj8TMBxtFxm1pX"),
    ("12345678901234567890", "CqVeTch39QbEYTdFY8TZczxGsPHZquDDE3D4eFtYRFE6"),
]


@pytest.mark.parametrize(("text", "digest"), GO_DIGESTS)
def test_digest_matches_go(text: str, digest: str) -> None:
    """A decoded value's digest is the one the reference computes for it."""
    assert value_digest(loads_like_go(text)) == digest


def test_edge_id_matches_the_provider() -> None:
    """Edge IDs hash 'from\\nfrom_output\\nto\\nto_input' as the provider does: to_input
    defaults to from_output; slashes and a trailing /terraform.tfstate are trimmed."""
    assert edge_id("network/prod", "vpc_id", "app/prod") == (
        "2ggFQkTNg9oCZfb1yD4LqcY3KDZyzawD5eU9mSziynZF"
    )
    assert edge_id("network/prod", "vpc_id", "app/prod", "vpc_id") == edge_id(
        "network/prod", "vpc_id", "app/prod"
    )
    assert edge_id("/network/prod/terraform.tfstate", "vpc_id", "app/prod/", "network_vpc") == (
        "GThb9ZgtkBAqCs4JyAwJWLUKJpj1gUzrPKaqsEZuo8vi"
    )


def test_edge_id_keeps_spaces_as_the_provider_does() -> None:
    """The provider does not trim spaces, so neither does the edge ID."""
    assert edge_id(" a", "o", "b") != edge_id("a", "o", "b")


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"", ""),
        (b"\0", "1"),
        (b"\0\0\x28\x7f\xb4\xcd", "11233QC4"),
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (b"\xff", "5Q"),
    ],
)
def test_base58_bitcoin_alphabet(data: bytes, encoded: str) -> None:
    """Base58 uses the Bitcoin alphabet and writes a '1' per leading zero byte."""
    assert base58(data) == encoded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("-0", "-0"),
        ("-0.0e5", "-0"),
        ("1", "1"),
        ("1.0", "1"),
        ("1e0", "1"),
        ("0.1", "0.1"),
        ("100", "100"),
        ("1e20", "100000000000000000000"),
        ("123456789e12", "123456789000000000000"),
        ("1e21", "1e+21"),
        ("-1.5e21", "-1.5e+21"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("0.000001", "0.000001"),
        ("0.0000012345", "0.0000012345"),
        ("0.0000001", "1e-7"),
        ("1.5e-7", "1.5e-7"),
        ("1.23e-18", "1.23e-18"),
        ("5e-324", "5e-324"),
        ("9007199254740993", "9007199254740992"),
        ("12345678901234567890", "12345678901234567000"),
        ("1e400", "null"),
        ("-1e400", "null"),
        ("1e-400", "0"),
    ],
)
def test_numbers_as_go_marshals_float64(text: str, expected: str) -> None:
    """Numbers decode to float64 and print as Go prints them: plain from 1e-6 to
    1e21, exponent form outside with a sign and no padding, -0 kept, out of range null."""
    assert canonical_json(loads_like_go(text)) == expected.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_have_no_json_form(value: float) -> None:
    """NaN and infinities are refused, as Go's json.Marshal refuses them."""
    with pytest.raises(ValueError, match="no JSON form"):
        go_float(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('"\\/', '"\\"\\\\/"'),
        ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("\n\r\t", '"\\n\\r\\t"'),
        ("\b\f", '"\\b\\f"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("\x7f\u00e9\u20ac\U0001f600", '"\x7f\u00e9\u20ac\U0001f600"'),
        ("\ud800x\udfff", '"\ufffdx\ufffd"'),
    ],
)
def test_strings_as_go_marshals_them(value: str, expected: str) -> None:
    """Strings escape what Go escapes (HTML characters, U+2028/9, controls with
    short forms where Go 1.22+ has them) and replace lone surrogates with U+FFFD."""
    assert go_quote(value) == expected


def test_keys_sort_by_code_point_and_collapse_like_go() -> None:
    """Keys sort by code point (UTF-8 byte order); keys that Go reads as the
    same string collapse with the last one in the document winning."""
    doc = loads_like_go('{"b":1,"\\ud800":2,"a":3,"\\udc00":4,"\\ud800":5,"\u00e9":6,"Z":7}')
    assert canonical_json(doc) == '{"Z":7,"a":3,"b":1,"\u00e9":6,"\ufffd":5}'.encode()


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}', "{", "1 2", "\ufeff1"])
def test_go_refuses_what_loads_like_go_refuses(text: str) -> None:
    """Documents Go's decoder refuses (non-JSON constants, syntax errors, a BOM)
    are refused."""
    with pytest.raises(ValueError):  # noqa: PT011 - json and float errors alike
        loads_like_go(text)


def test_deeply_nested_values_encode() -> None:
    """Encoding is iterative: nesting the parser accepts never overflows the stack."""
    value: Any = "x"
    for _ in range(50_000):
        value = [value]
    assert canonical_json(value) == b"[" * 50_000 + b'"x"' + b"]" * 50_000


def test_go_string_reads_attributes_like_the_reference() -> None:
    """Attribute values read as text: strings as they are, null as '', others as JSON."""
    assert go_string("x") == "x"
    assert go_string(None) == ""
    assert go_string(5) == "5"
    assert go_string(True) == "true"
    assert go_string({"b": 1, "a": [2.5]}) == '{"a":[2.5],"b":1}'


# -- properties ---------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | finite | st.integers(-(2**80), 2**80) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


def go_equal(a: Any, b: Any) -> bool:
    """Equality of decoded values as Go sees them: every number a float64
    (-0 distinct from 0), booleans distinct from numbers, objects unordered."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        x, y = float(a), float(b)
        return x == y and math.copysign(1, x) == math.copysign(1, y)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(go_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(go_equal(a[k], b[k]) for k in a)
    return a is None and b is None


def number_spellings(x: float) -> list[str]:
    """Different JSON spellings of numbers that all decode to the float64 ``x``."""
    sign = "-" if math.copysign(1, x) < 0 else ""
    if x == 0:
        return [sign + s for s in ("0", "0.0", "0e7", "0.000E-3")]
    shortest = Decimal(repr(abs(x)))
    _, digits, exponent = shortest.as_tuple()
    mantissa = "".join(map(str, digits)).lstrip("0")
    power = int(exponent)
    spellings = [
        repr(abs(x)),
        f"{mantissa}e{power}",
        f"{mantissa}000E{power - 3:+d}",
        f"0.{mantissa}e{power + len(mantissa)}",
        str(Decimal(abs(x))),  # the exact binary value
    ]
    if abs(x) < 1e30:
        spellings.append(format(shortest, "f"))
    if x.is_integer() and abs(x) < 1e30:
        spellings.append(str(int(abs(x))))
    return [sign + s for s in spellings]


def spell_string(value: str, rng: random.Random) -> str:
    """A JSON string literal for ``value`` with a random mix of escapes."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\' or code < 0x20 or rng.random() < 0.3:
            if code > 0xFFFF:
                high, low = divmod(code - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}")
            else:
                out.append(rng.choice([f"\\u{code:04x}", f"\\u{code:04X}"]))
        elif char == "/" and rng.random() < 0.5:
            out.append("\\/")
        else:
            out.append(char)
    return "".join(out) + '"'


def spell(value: Any, rng: random.Random) -> str:
    """``value`` as JSON text in a random style: key order, whitespace, number
    spelling and string escapes all vary."""

    def ws() -> str:
        return rng.choice(["", " ", "\n", "\t", "\r\n  "])

    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        as_float = float(value)
        return rng.choice(number_spellings(as_float))
    if isinstance(value, str):
        return spell_string(value, rng)
    if isinstance(value, list):
        return "[" + ",".join(ws() + spell(v, rng) + ws() for v in value) + "]"
    keys = list(value)
    rng.shuffle(keys)
    members = (ws() + spell_string(k, rng) + ws() + ":" + ws() + spell(value[k], rng) for k in keys)
    return "{" + ",".join(members) + ws() + "}"


@given(value=json_values, rng=st.randoms(use_true_random=False))
@example(value={"n": 2**53 + 1, "m": [1e21, 1e-7, -0.0]}, rng=random.Random(0))
def test_spelling_never_changes_a_digest(value: Any, rng: random.Random) -> None:
    """Key order, whitespace, number spelling (1, 1.0, 1e0, ...) and string
    escapes never change a digest."""
    first, second = spell(value, rng), spell(value, rng)
    assert value_digest(loads_like_go(first)) == value_digest(loads_like_go(second))
    assert value_digest(loads_like_go(first)) == value_digest(value)


@given(value=json_values)
def test_canonical_json_reads_back_as_the_same_value(value: Any) -> None:
    """Canonical JSON decodes back to a value Go sees as equal to the original,
    so two values Go sees as different never share canonical bytes."""
    expected = loads_like_go(json.dumps(value))
    assert go_equal(loads_like_go(canonical_json(value)), expected)


@given(a=json_values, b=json_values)
def test_any_value_change_changes_the_digest(a: Any, b: Any) -> None:
    """Two values Go sees as different have different digests (and equal ones equal)."""
    a, b = loads_like_go(json.dumps(a)), loads_like_go(json.dumps(b))
    assert (value_digest(a) == value_digest(b)) == go_equal(a, b)


@given(value=json_values, data=st.data())
def test_a_small_edit_changes_the_digest(value: Any, data: st.DataObject) -> None:
    """Changing one leaf, adding or dropping a member changes the digest."""
    value = loads_like_go(json.dumps(value))
    edited = _edit(value, data)
    if not go_equal(value, edited):
        assert value_digest(edited) != value_digest(value)


def _edit(value: Any, data: st.DataObject) -> Any:
    if isinstance(value, list) and value and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], _edit(value[i], data), *value[i + 1 :]]
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        if data.draw(st.booleans()):
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: _edit(value[key], data)}
    if isinstance(value, dict):
        return {**value, data.draw(st.text(max_size=3)): None}
    if isinstance(value, float):
        return math.nextafter(value, math.inf)
    return data.draw(json_values.map(lambda v: loads_like_go(json.dumps(v))))
