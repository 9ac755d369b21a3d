"""The fast request-body check never accepts what jsonschema refuses."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common import schemas as shared
from common.http.fastcheck import fast_check
from edge.api.schemas import LOGIN
from edge.catalog.schemas import MOVEMENT
from edge.orders.schemas import ORDER_CREATE, TRANSITION

SCHEMAS = {"LOGIN": LOGIN, "ORDER_CREATE": ORDER_CREATE, "TRANSITION": TRANSITION,
           "MOVEMENT": MOVEMENT}
SCHEMAS |= {name: getattr(shared, name) for name in ("ITEM_CREATE", "ITEM_PATCH", "QUOTAS")}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 1_200), st.sampled_from([0, 1, 999, 1000, 2.0, 1.5]),
    st.floats(allow_nan=True), st.text(max_size=5),
    st.sampled_from(["C001", "C001\n", "", "pos", "meituan", "x" * 70, "placed", "accepted",
                     "1234", "12a4", "staff", "receipt", "stocktake"]),
)
keys = st.sampled_from(["channel", "lines", "sku", "qty", "note", "member", "table", "pickup",
                        "staff", "pin", "to", "extra", "delta", "reason", "name", "price_cents"])
bodies = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=6)),
    max_leaves=20,
)


def _line(sku: Any, qty: Any, note: Any = "-") -> dict[str, Any]:
    line = {"sku": sku, "qty": qty}
    if note != "-":
        line["note"] = note
    return line


orders = st.fixed_dictionaries(
    {"channel": st.one_of(st.sampled_from(["pos", "meituan", "bogus"]), scalars),
     "lines": st.lists(st.builds(_line, st.one_of(st.just("C001"), scalars),
                                 st.one_of(st.integers(-1, 1001), scalars),
                                 st.one_of(st.just("-"), scalars)), max_size=3)},
    optional={"member": scalars, "table": scalars, "pickup": scalars, "extra": scalars},
)


def _agree(body: Any) -> None:
    for name, schema in SCHEMAS.items():
        check = fast_check(schema)
        if check is not None and check(body):
            assert Draft202012Validator(schema).is_valid(body), (name, body)


def test_simple_schemas_have_a_fast_path() -> None:
    for name in ("LOGIN", "ORDER_CREATE", "TRANSITION"):
        assert fast_check(SCHEMAS[name]) is not None, name


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_fast_check_never_accepts_an_invalid_body(body: Any) -> None:
    _agree(body)


@settings(max_examples=400, deadline=None)
@given(orders)
def test_fast_check_never_accepts_an_invalid_order(body: Any) -> None:
    _agree(body)


def test_fast_check_accepts_plain_valid_bodies() -> None:
    order = {"channel": "pos", "lines": [{"sku": "C001", "qty": 2, "note": None}],
             "member": "m1", "table": "T3", "pickup": False}
    assert fast_check(ORDER_CREATE)(order)  # type: ignore[misc]
    assert fast_check(LOGIN)({"staff": "a", "pin": "1234"})  # type: ignore[misc]
    assert fast_check(TRANSITION)({"to": "ready"})  # type: ignore[misc]


def test_compiled_edge_cases() -> None:
    anything = fast_check({"type": "array", "items": {}})
    assert anything is not None and anything([1, "a", None]) and not anything({})
    odd_limit = fast_check({"maxLength": 1.5})  # not an int: left to jsonschema
    assert odd_limit is not None and not odd_limit("a")
    assert fast_check({"type": "string", "format": "date"}) is None  # unsupported
    enum = fast_check({"enum": [1, "a", None]})
    assert enum is not None and enum(1) and enum("a") and enum(None)
    assert not enum(True) and not enum(1.0) and not enum([1]) and not enum({"a": 1})
