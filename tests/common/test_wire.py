"""``common.wire``: how both sides read JSON and numbers sent as text."""

from __future__ import annotations

import json
import math

import pytest

from common import wire


@pytest.mark.parametrize("text", ["²", "٣", "１", " 3", "3 ", "+3", "-3", "3_0", "3.0", "",
                                  "1" * 19])
def test_digits_are_ascii_digits_only(text: str) -> None:
    """"²".isdigit() is True and int("²") fails; int() reads "٣", " 3" and "3_0"."""
    with pytest.raises(ValueError):
        wire.digits(text)


def test_digits_read_ascii_digits_up_to_the_length() -> None:
    assert wire.digits("0") == 0 and wire.digits("007") == 7
    assert wire.digits("1" * 12, 12) == 111_111_111_111
    with pytest.raises(ValueError):
        wire.digits("1" * 13, 12)


@pytest.mark.parametrize("raw", [b'"\\udc00"', b'{"\\ud800": 1}', b'["ok", "\\ud83d"]',
                                 '"\udc00"', b"[" * 65 + b"]" * 65, b"[" * 5000 + b"]" * 5000,
                                 b"{", b"", b"\xff"])
def test_loads_refuses_lone_surrogates_deep_nesting_and_non_json(raw: bytes | str) -> None:
    with pytest.raises(ValueError):
        wire.loads(raw)


def test_loads_keeps_what_validators_refuse_themselves() -> None:
    assert wire.loads(b'"\\ud83d\\ude00"') == "\U0001f600"  # a pair is one character
    assert math.isnan(wire.loads(b"NaN")) and wire.loads(b"1e999") == math.inf
    assert wire.loads(b"[" * 64 + b"]" * 64) is not None
    assert wire.loads(b'{"qty": 1.0}') == {"qty": 1.0}


@pytest.mark.parametrize("raw", [
    b'{"b":1,"a":[1.5,-0.0,"\xc3\xa9\xe2\x80\xa8",{"z":null,"y":true}],"c":9223372036854775807}',
    b'{"x":NaN,"y":[Infinity,-Infinity],"n":1}',            # the stdlib fallback reads these
    b'{"big":1180591620717411303424,"f":NaN,"k":"\xe4\xb8\xad"}',  # past 64 bits: the stdlib
])
def test_dumps_writes_strict_json_that_reads_back(raw: bytes) -> None:
    """What HQ stores an event's data as: compact, in the sender's key order, strict JSON
    (NaN and the infinities as null), integers past 64 bits exact."""
    value = wire.loads(raw)
    text = wire.dumps(value)
    assert " " not in text.replace("\u2028", "")  # compact
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))
    expected = json.loads(raw, parse_constant=lambda name: None)
    assert strict == expected and list(strict) == list(expected)
    assert "\\u" not in text  # UTF-8 text, not escapes


def test_dumps_matches_the_stdlib_on_what_both_write() -> None:
    value = {"order": {"id": "o-1", "lines": [{"sku": "瑞幸", "qty": 2, "price": 1250}]},
             "note": "a\"b\\c\n", "ok": False, "none": None, "f": 0.1}
    assert wire.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
