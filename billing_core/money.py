"""The one way into Decimal. Amounts are Decimal, rounded half-up to the cent per line;
totals are sums of rounded lines. Floats are refused outright so none can leak in."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def D(value: str | int | Decimal) -> Decimal:
    """Decimal from a string, int or Decimal. Floats raise TypeError: money never touches a float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing {type(value).__name__} {value!r}: pass money as str or Decimal")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("$", "")
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = "-" + text[1:-1]
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return result
    raise TypeError(f"cannot make money from {type(value).__name__}")


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent (the rule for every line)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` as a percent of `whole` (its size, whatever its sign), to two places, rounded
    half-up like every figure; None against a zero `whole`. One rule for every page and report:
    1 of 800 is 0.13 everywhere."""
    if not whole:
        return None
    return cents(part * 100 / abs(whole))


def to_cents_int(value: Decimal) -> int:
    """Integer cents, for Stripe and other boundaries that carry integers."""
    return int(cents(value) * 100)


def from_cents_int(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENT)


def ratio_split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` (already in cents) across `weights` so the parts add back up exactly.

    Largest-remainder method: each part is rounded down to the cent and the leftover cents go to
    the parts with the biggest remainders (ties to the earliest)."""
    total = cents(total)
    weight_sum = sum(weights, Decimal(0))
    if not weights:
        return []
    if weight_sum == 0:
        raise ValueError("cannot split by weights that sum to zero")
    sign = -1 if total < 0 else 1
    units = int(abs(total) * 100)
    raw = [Decimal(units) * w / weight_sum for w in weights]
    floors = [int(r) for r in raw]
    leftover = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * Decimal(f) / 100 for f in floors]


def format_rate(value: Decimal | None) -> str:
    """A rate as a rate sheet writes it: thousands separators, at least two places, more only
    when the rate has them (1,302.75; 0.12; 0.225), never trailing zeros beyond that."""
    if value is None:
        return ""
    value = value.normalize()
    places = max(2, -value.as_tuple().exponent)
    return f"{value:,.{places}f}"


def format_money(value: Decimal | None) -> str:
    """`1,234.50`, negatives as `-1,234.50`; the screen convention."""
    if value is None:
        return ""
    return f"{cents(value):,.2f}"


def format_dollars(value: Decimal) -> str:
    """`$1,234.50`, negatives as `-$1,234.50`: amounts inside sentences (messages, notes)."""
    amount = cents(value)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def format_count(number: int, noun: str, plural: str | None = None) -> str:
    """`1 term`, `2 terms`, `1,250 employees`: a count with its noun, singular for one."""
    word = noun if number == 1 else (plural or f"{noun}s")
    return f"{number:,} {word}"
