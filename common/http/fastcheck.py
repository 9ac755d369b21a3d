"""A fast, conservative check of request bodies against the simple schemas in ``schemas``.

jsonschema is general and slow (~70-150 us for an order body). For schemas made of
the keywords below, ``fast_check`` compiles one plain Python function (straight-line
code, no call per keyword) that answers the common case, a valid body, in a couple
of microseconds. It is conservative: True only when the body surely is valid; on
False the real validator decides and writes the errors, so accepted and refused
bodies and the error documents stay exactly the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# JSON type -> the Python type json.loads gives it ("integer": not bool; 1.0 is left to
# jsonschema, which refuses it: schemas.Validator)
_TYPES: dict[str, type] = {"object": dict, "array": list, "string": str, "integer": int,
                           "boolean": bool, "null": type(None)}
# keyword -> (the Python type it constrains, comparison that must hold)
_LIMITS: dict[str, tuple[type, str]] = {
    "minLength": (str, ">="), "maxLength": (str, "<="),
    "minItems": (list, ">="), "maxItems": (list, "<="),
}
_BOUNDS = {"minimum": ">=", "maximum": "<="}
_KEYWORDS = frozenset({"type", "enum", "pattern", "items", "properties", "required",
                       "additionalProperties", *_LIMITS, *_BOUNDS})


class _Unsupported(Exception):
    pass


class _Compiler:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.names = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def var(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def emit(self, pad: int, text: str) -> None:
        self.lines.append("    " * pad + text)

    def schema(self, schema: Any, v: str, pad: int) -> None:
        """Lines that ``return False`` unless ``v`` surely satisfies ``schema``."""
        if not isinstance(schema, dict) or not set(schema) <= _KEYWORDS:
            raise _Unsupported
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not all(isinstance(n, str) and n in _TYPES for n in names):
                raise _Unsupported
            self.emit(pad, f"if type({v}) not in {self.const(frozenset(_TYPES[n] for n in names))}:"
                           " return False")
        if "enum" in schema:
            if not all(type(o) in (str, int, bool) or o is None for o in schema["enum"]):
                raise _Unsupported
            by_type: dict[type, frozenset[Any]] = {}
            for option in schema["enum"]:  # by type: 1 is not true, as jsonschema has it
                by_type[type(option)] = by_type.get(type(option), frozenset()) | {option}
            self.emit(pad, f"if {v} not in {self.const(by_type)}.get(type({v}), ()): return False")
        if "pattern" in schema:  # jsonschema: re.search(pattern, x)
            search = self.const(re.compile(schema["pattern"]).search)
            self.emit(pad, f"if type({v}) is str and {search}({v}) is None: return False")
        for word, (kind, op) in _LIMITS.items():
            if word in schema:
                self.limit(v, pad, kind, op, schema[word])
        for word, op in _BOUNDS.items():
            if word in schema:
                self.bound(v, pad, op, schema[word])
        if "items" in schema:
            item = self.var()
            self.emit(pad, f"if type({v}) is list:")
            self.emit(pad + 1, f"for {item} in {v}:")
            before = len(self.lines)
            self.schema(schema["items"], item, pad + 2)
            if len(self.lines) == before:  # items: {} checks nothing
                del self.lines[-2:]
        self.object(schema, v, pad)

    def limit(self, v: str, pad: int, kind: type, op: str, limit: Any) -> None:
        if type(limit) is not int:
            self.emit(pad, "return False")
            return
        self.emit(pad, f"if type({v}) is {self.const(kind)} and not len({v}) {op} {limit}:"
                       " return False")

    def bound(self, v: str, pad: int, op: str, limit: Any) -> None:
        if type(limit) is not int:
            self.emit(pad, "return False")
            return
        # bools are not numbers to jsonschema; floats are left to it
        self.emit(pad, f"if type({v}) is int and not {v} {op} {limit}: return False")
        self.emit(pad, f"if type({v}) is float: return False")

    def object(self, schema: dict[str, Any], v: str, pad: int) -> None:
        props = schema.get("properties", {})
        required = list(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        if extra is not True and extra is not False:
            raise _Unsupported
        if not isinstance(props, dict) or not all(isinstance(n, str) for n in [*props, *required]):
            raise _Unsupported
        if not props and not required and extra:
            return
        self.emit(pad, f"if type({v}) is dict:")
        for name in required:
            self.emit(pad + 1, f"if {name!r} not in {v}: return False")
        if not extra:
            self.emit(pad + 1, f"if not {v}.keys() <= {self.const(frozenset(props))}: return False")
        for name, sub in props.items():
            value = self.var()
            self.emit(pad + 1, f"{value} = {v}.get({name!r}, _missing)")
            self.emit(pad + 1, f"if {value} is not _missing:")
            before = len(self.lines)
            self.schema(sub, value, pad + 2)
            if len(self.lines) == before:
                self.emit(pad + 2, "pass")


def fast_check(schema: Any) -> Check | None:
    """A checker that is True only for instances ``schema`` accepts; None if unsupported."""
    compiler = _Compiler()
    try:
        compiler.schema(schema, "x", 1)
    except _Unsupported:
        return None
    source = "\n".join(["def check(x):", *compiler.lines, "    return True"])
    namespace: dict[str, Any] = {**compiler.consts, "_missing": object()}
    exec(compile(source, "<fast_check>", "exec"), namespace)  # source made above, from our schemas
    check: Check = namespace["check"]
    return check
