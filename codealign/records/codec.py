"""The one serializer of the published records: a record's dict is its JSON, key for key.

Every record is a frozen stdlib dataclass whose fields are its JSON keys (a key that is no
identifier, such as ``pass@1``, is the field's pydantic alias). `Record.to_dict` and
`Record.from_dict` go through one pydantic `TypeAdapter` per class, so the files, the API's
OpenAPI schema and its responses come from the same declaration; reading validates, and a bad
value is an `InputError` naming the file, the line and the dotted field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from codealign.errors import InputError

__all__ = ["Record", "RECORD_CONFIG", "load_list", "input_error"]

RECORD_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Every record's pydantic config: an unknown key is an error; field docstrings document the schema."""

T = TypeVar("T")


_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(cls: Any) -> TypeAdapter[Any]:
    """The pydantic adapter of a record class (or a list of one), built once."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def input_error(exc: ValidationError, path: str | None = None, line: int | None = None) -> InputError:
    """The first problem of a pydantic `ValidationError` as an `InputError` naming where it is."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or None
    if first["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        return InputError("unknown field", path=path, line=line, field=where)
    got = repr(first.get("input"))
    return InputError(f"{first['msg']} (got {got[:80]})", path=path, line=line, field=where)


class Record:
    """Base of the published records (a mixin: subclasses are frozen dataclasses)."""

    __pydantic_config__ = RECORD_CONFIG

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data (enums as their values, tuples as lists, aliases as keys)."""
        data: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json", by_alias=True)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | None = None, line: int | None = None) -> Self:
        """The record of `data` (its `to_dict` form); `InputError` names `path`, `line` and the field."""
        try:
            record: Self = _adapter(cls).validate_python(data)
        except ValidationError as exc:
            raise input_error(exc, path, line) from None
        return record


def load_list(cls: type[T], rows: Sequence[Mapping[str, Any]], *, path: str | None = None) -> list[T]:
    """`cls.from_dict` of each row, validated in one pass (the dashboard reads thousands)."""
    try:
        records: list[T] = _adapter(list[cls]).validate_python(rows)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise input_error(exc, path) from None       # the field's path starts with the row's index
    return records
