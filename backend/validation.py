"""A zod-4-compatible validator: the same issues, in the same order, with the same texts.

The legacy validates with zod and returns zod's issues verbatim, so clients (and parity)
see them. pydantic's errors differ in codes, order and wording; this module reproduces
zod's behaviour for the handful of types the API uses, including ``z.coerce.number()``'s
JavaScript ``Number()`` semantics for query strings and path ids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from backend.jsbehaviour import UNDEFINED, string_to_number, to_number, type_name

__all__ = [
    "UNDEFINED",
    "Enum",
    "Field",
    "Int",
    "IsoDatetime",
    "Issue",
    "Obj",
    "Record",
    "Str",
    "ValidationFailed",
    "js_number",
    "js_type_name",
]

MAX_SAFE: Final = 9007199254740991

Issue = dict[str, str]

js_number = string_to_number
"""The old name: ``Number(text)`` (``backend.jsbehaviour.string_to_number``)."""
js_type_name = type_name
"""The old name: zod's ``parsedType`` (``backend.jsbehaviour.type_name``)."""


def _coerce(value: Any) -> Any:
    """``z.coerce.number()``: ``Number(value)``, kept an int when it is one already."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return to_number(value)


class ValidationFailed(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("validation failed")
        self.issues = issues


class Field:
    """One zod schema node; ``parse`` appends issues and returns the parsed value."""

    optional_: bool = False
    nullable_: bool = False
    default_: Any = UNDEFINED

    def optional(self) -> Field:
        self.optional_ = True
        return self

    def nullable(self) -> Field:
        self.nullable_ = True
        return self

    def default(self, value: Any) -> Field:
        self.default_ = value
        return self

    def parse(self, value: Any, path: str, issues: list[Issue]) -> Any:
        if value is UNDEFINED:
            if self.default_ is not UNDEFINED:
                return self.default_
            if self.optional_:
                return UNDEFINED
        if value is None and self.nullable_:
            return None
        return self.check(value, path, issues)

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        raise NotImplementedError


def _issue(issues: list[Issue], path: str, code: str, message: str) -> None:
    issues.append({"path": path, "code": code, "message": message})


@dataclass
class Str(Field):
    min: int | None = None
    max: int | None = None

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        origin, unit = "string", "characters"
        if not isinstance(value, str):
            received = type_name(value)
            _issue(
                issues, path, "invalid_type", f"Invalid input: expected string, received {received}"
            )
            if not isinstance(value, list):
                return value
            # zod 4 quirk: the length checks still run on anything with a .length (an array)
            origin, unit = "array", "items"
        length = len(value)
        if self.min is not None and length < self.min:
            _issue(
                issues,
                path,
                "too_small",
                f"Too small: expected {origin} to have >={self.min} {unit}",
            )
        if self.max is not None and length > self.max:
            _issue(
                issues, path, "too_big", f"Too big: expected {origin} to have <={self.max} {unit}"
            )
        return value


@dataclass
class Enum(Field):
    values: Sequence[str] = ()

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        if not isinstance(value, str) or value not in self.values:
            options = "|".join(f'"{v}"' for v in self.values)
            _issue(issues, path, "invalid_value", f"Invalid option: expected one of {options}")
        return value


@dataclass
class Int(Field):
    """``z.number().int()`` (or ``z.coerce.number().int()`` with ``coerce``) and bounds."""

    min: int | None = None
    max: int | None = None
    positive: bool = False
    coerce: bool = False

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        if self.coerce:
            value = _coerce(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            received = type_name(value)
            _issue(
                issues, path, "invalid_type", f"Invalid input: expected number, received {received}"
            )
            return value
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            received = type_name(value)
            _issue(
                issues, path, "invalid_type", f"Invalid input: expected number, received {received}"
            )
            return value
        if isinstance(value, float) and not value.is_integer():
            # zod's int check aborts: no bound is checked on a fraction
            _issue(issues, path, "invalid_type", "Invalid input: expected int, received number")
            return value
        if value > MAX_SAFE:
            _issue(issues, path, "too_big", f"Too big: expected int to be <={MAX_SAFE}")
        elif value < -MAX_SAFE:
            _issue(issues, path, "too_small", f"Too small: expected int to be >=-{MAX_SAFE}")
        if self.positive and value <= 0:
            _issue(issues, path, "too_small", "Too small: expected number to be >0")
        if self.min is not None and value < self.min:
            _issue(issues, path, "too_small", f"Too small: expected number to be >={self.min}")
        if self.max is not None and value > self.max:
            _issue(issues, path, "too_big", f"Too big: expected number to be <={self.max}")
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE:
            return int(value)
        return value


@dataclass
class Record(Field):
    """``z.record(z.string(), z.unknown())``: any plain object."""

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        if not isinstance(value, dict):
            received = type_name(value)
            _issue(
                issues, path, "invalid_type", f"Invalid input: expected record, received {received}"
            )
        return value


_DATE = (
    r"(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|(?:02)-(?:0[1-9]|1\d|2[0-8])))"
)
_ISO_DATETIME = re.compile(rf"{_DATE}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z", re.ASCII)


@dataclass
class IsoDatetime(Field):
    """``z.iso.datetime()``: UTC only, seconds required, any fraction."""

    def check(self, value: Any, path: str, issues: list[Issue]) -> Any:
        if not isinstance(value, str):
            received = type_name(value)
            _issue(
                issues, path, "invalid_type", f"Invalid input: expected string, received {received}"
            )
        elif not _ISO_DATETIME.fullmatch(value):
            _issue(issues, path, "invalid_format", "Invalid ISO datetime")
        return value


@dataclass
class Obj:
    """``z.object({...})`` (non-strict: unknown keys are dropped) with optional refinements."""

    fields: Mapping[str, Field]
    refinements: list[tuple[Callable[[dict[str, Any]], bool], str]] = field(default_factory=list)

    def refine(self, check: Callable[[dict[str, Any]], bool], message: str) -> Obj:
        self.refinements.append((check, message))
        return self

    def parse(self, value: Any) -> dict[str, Any]:
        issues: list[Issue] = []
        if not isinstance(value, dict):
            received = type_name(value)
            _issue(
                issues, "", "invalid_type", f"Invalid input: expected object, received {received}"
            )
            raise ValidationFailed(issues)
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            parsed = spec.parse(value.get(name, UNDEFINED), name, issues)
            if parsed is not UNDEFINED:
                out[name] = parsed
        if not issues:
            for check, message in self.refinements:
                if not check(out):
                    _issue(issues, "", "custom", message)
        if issues:
            raise ValidationFailed(issues)
        return out


ID_PARAM_SCHEMA: Final = Obj({"id": Int(positive=True, coerce=True)})
