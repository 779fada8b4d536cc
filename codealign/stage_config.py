"""How a stage config is declared, and how its complaints reach the user.

A stage config (`SamplingConfig`, `SandboxConfig`, ...: the sections of
`codealign.config.RunConfig`) is a frozen pydantic dataclass made by `stage_config`. Unknown
fields are refused; each field's type and constraints (``Annotated[Integer, Field(ge=1)]``,
a `Literal`, an enum) check its value; a check that relates two fields stays in
``__post_init__`` and raises `ConfigError` at the field it blames. Whatever fails, the caller
gets one `ConfigError` naming the dotted field and what was wrong (`config_error`; the run
config's loader prefixes the section, ``sampling.n``):

>>> from codealign.generator import SamplingConfig
>>> SamplingConfig(n=0)
Traceback (most recent call last):
...
codealign.errors.ConfigError: field n: must be ≥ 1, got 0

The value types are YAML's. `Integer` refuses ``true`` and ``2.0``; `Number` takes an integer
and keeps it one, so that a config's plain data (hashed into the run's manifests) holds the
value as it was written; `Boolean` takes only ``true`` and ``false``; `Text` is a non-empty
string. Lists arrive where tuples are stored, strings where enums are.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, dataclass_transform

import pydantic.dataclasses
from pydantic import BeforeValidator, ConfigDict, Field, Strict, ValidationError, WrapValidator

from codealign.errors import ConfigError, InputError

__all__ = ["stage_config", "config_error", "Integer", "Number", "Boolean", "Text", "LISTED", "one_message"]

T = TypeVar("T")


def _keep_int(value: Any, handler: Callable[[Any], Any]) -> Any:
    checked = handler(value)
    return value if type(value) is int else checked


Integer = Annotated[int, Strict()]
"""An integer (not a bool, not ``2.0``)."""
Number = Annotated[float, Strict(), Field(allow_inf_nan=False), WrapValidator(_keep_int)]
"""A finite number; an integer stays an integer."""
Boolean = Annotated[bool, Strict()]
"""``true`` or ``false``."""
Text = Annotated[str, Strict(), Field(min_length=1)]
"""A non-empty string."""

LISTED = BeforeValidator(lambda value: value if isinstance(value, (list, tuple)) else [value])
"""A list field's validator that reads one value as a list of it (``k: 5`` is ``k: [5]``)."""


def one_message(message: str) -> WrapValidator:
    """A validator that reports a union's failure as one `message` (instead of one per member)."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(message) from None

    return WrapValidator(check)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def stage_config(cls: type[T]) -> type[T]:
    """`cls` as a frozen pydantic dataclass that refuses unknown fields and raises `ConfigError`."""
    built: Any = pydantic.dataclasses.dataclass(cls, frozen=True, config=ConfigDict(extra="forbid"))
    init = built.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise config_error(exc, built) from None

    built.__init__ = __init__
    return built  # type: ignore[no-any-return]


def config_error(exc: ValidationError, cls: type, *, prefix: str = "", path: str | None = None) -> ConfigError:
    """The first complaint of `exc` (validating stage config `cls`) as a `ConfigError` at its
    dotted field (``prefix.field``, ``field[i]`` for a list item, ``field.key`` for a mapping's)."""
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if part != "[key]"]
    if error["type"] == "invalid_key":                # a YAML key that is no string: an unknown field
        loc = [str(part) for part in loc]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InputError) and cause.field:   # a __post_init__ check names its field
        loc.append(cause.field)
    where = prefix
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
    return ConfigError(_reason(error, cls, cause), path=path, field=where or None)


_BOUNDS = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}
_KINDS = {"int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
          "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
          "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
          "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
          "string_too_short": "a non-empty string"}


def _reason(error: Any, cls: type, cause: BaseException | None) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    got = repr(error.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    if kind in ("unexpected_keyword_argument", "extra_forbidden", "invalid_key"):
        known = sorted(f.name for f in dataclasses.fields(cls) if f.init)
        return f"unknown field (known: {', '.join(known)})"
    if kind == "missing":
        return "is required"
    if isinstance(cause, InputError):
        return cause.reason
    if cause is not None:
        return f"{cause}, got {got}"
    if kind in _BOUNDS:
        sign, key = _BOUNDS[kind]
        bound = f"{ctx[key]:g}" if isinstance(ctx[key], float) else ctx[key]
        return f"must be {sign} {bound}, got {got}"
    if kind in ("enum", "literal_error"):
        return f"must be {ctx['expected']}, got {got}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items, got {got}" if ctx["min_length"] > 1 \
            else f"must not be empty, got {got}"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, got {got}"
    return f"{error['msg']}, got {got}"
