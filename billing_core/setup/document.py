"""The set-up document itself: reading a YAML or JSON file (`load_document`), the field specs
that say what each scalar may hold, and the `Checker` that reads values against them into
Decimal, date and enum members, collecting every problem as a RowError rather than stopping at
the first. The sections (products.py, agencies.py, groups.py, plans.py, members.py, users.py)
declare their fields with `field_spec` and read them through one Checker."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from billing_core.errors import RowError, ValidationFailed
from billing_core.money import D
from billing_core.security import normalize_ssn

MONEY_EXAMPLE = "expected a decimal amount such as 112.40"
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ZIP_PATTERN = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
PHONE_PATTERN = re.compile(r"^\+?[\d\s().-]{10,25}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$", re.IGNORECASE)
# The US Postal Service's codes: the states, DC, the territories and the military addresses.
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP AA AE AP".split()
)


class _DatesAsTextLoader(yaml.SafeLoader):
    """Safe YAML where dates stay text: an impossible date such as 2024-13-01 then becomes a
    row error naming its place, instead of PyYAML raising while it reads the file."""


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(path: str | Path) -> dict:
    """Read a set-up document from a .yaml/.yml (PyYAML's safe loader) or .json file.

    A syntax error raises ValidationFailed with one RowError naming the file and line."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            doc = yaml.load(text, Loader=_DatesAsTextLoader)  # nosec B506 # a yaml.SafeLoader
        elif suffix == ".json":
            doc = json.loads(text)
        else:
            raise ValidationFailed(
                f"{path.name}: unsupported file type",
                [RowError(None, None, "use a .yaml, .yml or .json file", source=path.name)],
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationFailed(
            f"{path.name}: not valid YAML",
            [RowError(line, None, f"not valid YAML: {problem}", source=path.name)],
        ) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"{path.name}: not valid JSON",
            [RowError(f"line {exc.lineno}", None, f"not valid JSON: {exc.msg}", source=path.name)],
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValidationFailed(
            f"{path.name}: not a set-up document",
            [
                RowError(
                    None,
                    None,
                    "the document must be a mapping with keys such as groups",
                    source=path.name,
                )
            ],
        )
    return doc


@dataclass(frozen=True)
class FieldSpec:
    """One scalar field of the document. `kind` is text (ints accepted and turned to text),
    strict_text (must be a quoted string so leading zeros survive), email, zip (a US ZIP of 5
    or 9 digits, kept as 12345 or 12345-6789), us_state (a two-letter US postal code, kept in
    capitals), phone (at least ten digits), money, int, date, enum, bool or ssn. `column` names the model attribute when it differs from `name`."""

    name: str
    kind: str
    required: bool = False
    enum: type | None = None
    max_len: int | None = None
    places: int = 2
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    column: str | None = None
    nullable: bool | None = None  # None: nullable unless an int, enum or bool (those default)

    @property
    def can_be_null(self) -> bool:
        if self.nullable is not None:
            return self.nullable
        return self.kind not in ("int", "enum", "bool")

    @property
    def attr(self) -> str:
        return self.column or self.name


def field_spec(name: str, kind: str = "text", **kw) -> FieldSpec:
    """A FieldSpec, short enough to declare a section's fields one per line."""
    return FieldSpec(name, kind, **kw)


# What a conversion returns for a value it refused (the Checker has recorded why).
BAD = object()


def join_path(path: str, key: str | int) -> str:
    """The place a RowError names: `groups[1]` for an index, `groups[1].plans` for a key."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


class Checker:
    """Reads the document into normalized values (Decimal, date, enum members), collecting
    every problem as a RowError instead of stopping at the first."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[RowError] = []

    def error(self, path: str, message: str, value: Any = None) -> None:
        self.errors.append(
            RowError(
                path,
                None,
                message,
                source=self.source,
                value=None if value is None else _show(value),
            )
        )

    def items(self, obj: dict, key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list field as (path, item); a non-list is an error."""
        value = obj.get(key)
        if value is None:
            return []
        here = join_path(path, key)
        if not isinstance(value, list):
            self.error(here, "expected a list", type(value).__name__)
            return []
        return [(join_path(here, i), item) for i, item in enumerate(value)]

    def read(
        self, obj: Any, path: str, fields: Iterable[FieldSpec], nested: Iterable[str] = ()
    ) -> dict | None:
        """The fields present in `obj`, converted; None when `obj` is not a mapping."""
        fields = tuple(fields)
        if not isinstance(obj, dict):
            self.error(path, "expected a mapping of field: value", type(obj).__name__)
            return None
        allowed = {f.name for f in fields} | set(nested)
        for key in obj:
            if key not in allowed:
                self.error(
                    join_path(path, str(key)),
                    "unknown field; expected one of: " + ", ".join(sorted(allowed)),
                )
        out: dict[str, Any] = {}
        for spec in fields:
            here = join_path(path, spec.name)
            if spec.name not in obj or obj[spec.name] is None or obj[spec.name] == "":
                if spec.required:
                    self.error(here, "required")
                elif spec.name in obj and not spec.can_be_null:
                    self.error(here, "cannot be empty; leave the field out to keep the default")
                elif spec.name in obj:
                    out[spec.attr] = None
                continue
            value = self.convert(spec, obj[spec.name], here)
            if value is not BAD:
                out[spec.attr] = value
        return out

    def convert(self, spec: FieldSpec, raw: Any, path: str) -> Any:
        kind = spec.kind
        if kind in ("zip", "us_state", "phone"):
            return self.postal(kind, raw, path)
        if kind in ("text", "strict_text", "email"):
            if isinstance(raw, int) and not isinstance(raw, bool) and kind == "text":
                raw = str(raw)
            if not isinstance(raw, str):
                hint = " (quote it so leading zeros are kept)" if kind == "strict_text" else ""
                self.error(path, f"expected text{hint}", raw)
                return BAD
            text = raw.strip()
            if spec.max_len and len(text) > spec.max_len:
                self.error(path, f"at most {spec.max_len} characters", text)
                return BAD
            if kind == "email":
                if not EMAIL_PATTERN.match(text):
                    self.error(path, "expected an email address such as hr@example.com", text)
                    return BAD
                text = text.lower()
            return text
        if kind == "money":
            return self.money(
                raw, path, places=spec.places, minimum=spec.minimum, maximum=spec.maximum
            )
        if kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                if isinstance(raw, str) and raw.strip().isdigit():
                    raw = int(raw.strip())
                else:
                    self.error(path, "expected a whole number", raw)
                    return BAD
            if (
                spec.minimum is not None
                and raw < spec.minimum
                or (spec.maximum is not None and raw > spec.maximum)
            ):
                self.error(
                    path,
                    f"expected a whole number from {spec.minimum}"
                    + (f" to {spec.maximum}" if spec.maximum is not None else " up"),
                    raw,
                )
                return BAD
            return raw
        if kind == "date":
            return self.date(raw, path)
        if kind == "enum":
            return self.enum(raw, path, spec.enum)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "y", "1"):
                return True
            if isinstance(raw, str) and raw.strip().lower() in ("false", "no", "n", "0"):
                return False
            self.error(path, "expected true or false", raw)
            return BAD
        if kind == "ssn":
            if not isinstance(raw, str):
                # Never echo a possible SSN back, not even in an error.
                self.error(path, "expected an SSN as quoted text such as '123-45-6789'")
                return BAD
            try:
                return normalize_ssn(raw)
            except ValueError as exc:
                digits = re.sub(r"\D", "", raw)
                self.error(path, str(exc), f"***-**-{digits[-4:]}" if len(digits) >= 4 else None)
                return BAD
        raise AssertionError(kind)

    def postal(self, kind: str, raw: Any, path: str) -> Any:
        """A ZIP, a US state code or a phone number, as text (a ZIP must be quoted in YAML, or
        02134 would be read as a number and lose its zero)."""
        if not isinstance(raw, str):
            self.error(path, "expected text (quote it so leading zeros are kept)", raw)
            return BAD
        text = raw.strip()
        if kind == "zip":
            m = ZIP_PATTERN.match(text)
            if m is None:
                self.error(path, "expected a ZIP code of 5 or 9 digits such as 60601-1234", text)
                return BAD
            return m[1] + (f"-{m[2]}" if m[2] else "")
        if kind == "us_state":
            if text.upper() not in US_STATES:
                self.error(path, "expected a US state's two-letter code such as IL", text)
                return BAD
            return text.upper()
        if (
            PHONE_PATTERN.match(text) is None
            or len(re.sub(r"\D", "", re.split(r"x|ext", text, flags=re.I)[0])) < 10
        ):
            self.error(
                path, "expected a phone number with its area code such as 312-555-0100", text
            )
            return BAD
        return text

    def money(self, raw: Any, path: str, *, places: int = 2, minimum=None, maximum=None) -> Any:
        """Decimal from a string or int. A float (YAML reads 112.40 as one) is accepted only
        through str(value), which gives the shortest text that reads back as that float, so
        112.40 -> '112.4' -> Decimal('112.4'); no float arithmetic ever happens."""
        if isinstance(raw, float):
            raw = str(raw)
        try:
            amount = D(raw)
        except (TypeError, ValueError):
            self.error(path, MONEY_EXAMPLE, raw)
            return BAD
        if amount.as_tuple().exponent < -places:
            self.error(path, f"at most {places} decimal places", raw)
            return BAD
        if minimum is not None and amount < Decimal(minimum):
            self.error(path, f"must be at least {minimum}", raw)
            return BAD
        if maximum is not None and amount > Decimal(maximum):
            self.error(path, f"must be at most {maximum}", raw)
            return BAD
        return amount

    def date(self, raw: Any, path: str) -> Any:
        if isinstance(raw, date) and not hasattr(raw, "hour"):
            return raw
        if isinstance(raw, str) and DATE_PATTERN.match(raw.strip()):
            try:
                return date.fromisoformat(raw.strip())
            except ValueError:
                pass
        self.error(path, "expected a date YYYY-MM-DD", raw)
        return BAD

    def enum(self, raw: Any, path: str, enum_cls: type) -> Any:
        text = (
            str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        )
        if text is not None:
            for member in enum_cls:
                if member.value == text or member.value.lower() == text.lower():
                    return member
        allowed = ", ".join(m.value for m in enum_cls)
        self.error(path, f"expected one of: {allowed}", raw)
        return BAD

    def date_range(self, values: dict, path: str) -> None:
        start, end = values.get("effective_from"), values.get("effective_to")
        if start is not None and end is not None and end < start:
            self.error(join_path(path, "effective_to"), "must be on or after effective_from", end)

    def no_overlap(self, rows: list[tuple[str, dict]], what: str) -> None:
        """Effective-dated rows of one key must not overlap (the earlier one must be closed)."""
        dated = sorted(
            ((p, v) for p, v in rows if v.get("effective_from") is not None),
            key=lambda pv: pv[1]["effective_from"],
        )
        for (_, prev), (path, cur) in zip(dated, dated[1:], strict=False):
            prev_to = prev.get("effective_to")
            if prev_to is None or prev_to >= cur["effective_from"]:
                self.error(
                    join_path(path, "effective_from"),
                    f"overlaps the {what} effective {prev['effective_from']:%Y-%m-%d}; close that "
                    "one (effective_to) before this one starts",
                    cur["effective_from"],
                )

    def unique(self, rows: list[tuple[str, dict]], key: str, what: str) -> None:
        seen: dict[Any, str] = {}
        for path, values in rows:
            value = values.get(key)
            if value is None:
                continue
            if value in seen:
                self.error(
                    join_path(path, key), f"duplicate {what}; first given at {seen[value]}", value
                )
            else:
                seen[value] = path
