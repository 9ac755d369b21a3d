"""``common.wire``: how both sides read JSON and numbers sent as text."""

from __future__ import annotations

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
