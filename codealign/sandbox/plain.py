"""Decoding the tagged JSON in which the sandbox reports a candidate's return values.

Values arrive as plain data only (the in-sandbox tester validated exact builtin types), so
comparing them with `==` on the host cannot be fooled by a custom ``__eq__``. The tags are
`codealign.sandbox.zygote.Tag` (their only definition). An object that is not plain data
never arrives as a value: the tester reports it apart (`wire.CallReply.opaque`); `Opaque` is
how the host shows one, and it equals nothing but itself.

>>> decode({"t": [1, {"f": "nan"}, {"b": "aGk="}]})
(1, nan, b'hi')
"""

from __future__ import annotations

import base64
from typing import Any

from codealign.sandbox.zygote import Tag

__all__ = ["Opaque", "decode", "MAX_DEPTH"]

MAX_DEPTH = 210
_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


class Opaque:
    """A non-plain object the candidate returned; shown by its repr, equal to nothing."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


def decode(obj: Any, depth: int = 0) -> Any:
    """Tagged JSON (see ``zygote.encode_plain``) back to plain Python values."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode(v, depth + 1) for v in obj]
    if type(obj) is dict and len(obj) == 1:
        (tag, body), = obj.items()
        if tag == Tag.TUPLE:
            return tuple(decode(v, depth + 1) for v in body)
        if tag == Tag.DICT:
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in body}
        if tag == Tag.SET:
            return {decode(v, depth + 1) for v in body}
        if tag == Tag.FROZENSET:
            return frozenset(decode(v, depth + 1) for v in body)
        if tag == Tag.BYTES:
            return base64.b64decode(body)
        if tag == Tag.FLOAT and body in _FLOATS:
            return _FLOATS[body]
        if tag == Tag.COMPLEX:
            return complex(float(body[0]), float(body[1]))
        if tag == Tag.INT:
            return int(body, 16)
    raise ValueError(f"not a tagged plain value: {str(obj)[:80]}")
